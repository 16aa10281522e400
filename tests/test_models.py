"""Model specs, weights resolution (offline), representations read at the right place, safe checkpoints."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from invmeter.errors import CheckpointError, InvmeterError, InvmeterWarning, UnknownNameError
from invmeter.models import Readout, create_cifar_model, list_models, load_model, save_checkpoint, wrap_module


def test_timm_by_bare_name_and_prefix() -> None:
    handle = load_model("test_resnet", weights="random")
    assert handle.name == "timm:test_resnet" and handle.readout == Readout("pre_logits")
    assert handle.weights == "random-init"
    assert handle.input_size == (160, 160) and handle.mean is not None
    assert load_model("timm:test_resnet", weights="random", image_size=32).input_size == (32, 32)


def test_torchvision_reads_the_input_of_the_final_linear() -> None:
    handle = load_model("torchvision:resnet18", weights="random")
    assert handle.readout == Readout("head_input", "fc") and handle.layer == "fc (input)" and handle.num_classes == 1000
    assert handle.input_size == (224, 224) and len(handle.label_names) == 1000


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("resnt18", "Did you mean 'resnet18'"),
        ("timm:resnet1800", "Unknown timm model 'resnet1800'"),
        ("torchvision:resnet1", "Did you mean 'resnet18'"),
        ("cifar:resnet19", "Did you mean 'resnet18'"),
        ("foo:bar", "Unknown model prefix 'foo'"),
        ("nosuchpkg.mod:factory", "Cannot import model factory"),
    ],
)
def test_unknown_models_suggest_close_names(spec: str, match: str) -> None:
    with pytest.raises(UnknownNameError, match=match):
        load_model(spec, weights="random")


def test_auto_weights_fall_back_loudly_when_offline(offline: Path) -> None:
    with pytest.warns(InvmeterWarning, match="RANDOMLY INITIALISED"):
        handle = load_model("test_resnet", weights="auto")
    assert handle.weights == "random-init"
    with pytest.raises(InvmeterError, match="Pretrained weights for 'test_resnet' are unavailable"):
        load_model("test_resnet", weights="pretrained")
    with pytest.warns(InvmeterWarning):
        assert load_model("torchvision:resnet18", weights="auto").weights == "random-init"


def test_auto_weights_use_the_local_hugging_face_cache(offline: Path) -> None:
    import timm

    reference = timm.create_model("test_resnet", pretrained=False)
    state = {k: torch.full_like(v, 0.125) if v.is_floating_point() else v for k, v in reference.state_dict().items()}
    repo = "models--timm--test_resnet.r160_in1k"
    snapshot = offline / "hf" / repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (offline / "hf" / repo / "refs").mkdir()
    (offline / "hf" / repo / "refs" / "main").write_text("abc123")
    save_file(state, str(snapshot / "model.safetensors"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", InvmeterWarning)
        handle = load_model("test_resnet", weights="auto")
    assert handle.weights == "pretrained:timm/test_resnet.r160_in1k"
    assert float(handle.model.conv1[0].weight.detach().flatten()[0]) == 0.125


def test_weights_from_a_file_and_mismatches(tmp_path: Path) -> None:
    model = create_cifar_model("resnet18", width=0.125)
    save_file(model.state_dict(), str(tmp_path / "w.safetensors"))
    handle = load_model("cifar:resnet18?width=0.125", weights=str(tmp_path / "w.safetensors"))
    assert handle.weights.startswith("file:")
    with pytest.raises(CheckpointError, match="do not match model"):
        load_model("cifar:vgg11?width=0.125", weights=str(tmp_path / "w.safetensors"))
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="is it corrupt"):
        load_model("cifar:resnet18", weights=str(tmp_path / "bad.pt"))
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model("cifar:resnet18", weights=str(tmp_path / "missing.pt"))


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):  # noqa: ANN204
            return (print, ("pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError):
        load_model("cifar:resnet18", weights=str(tmp_path / "evil.pt"))


def test_checkpoint_round_trip_and_errors(tmp_path: Path) -> None:
    model = create_cifar_model("vgg11", num_classes=4, width=0.125).eval()
    meta = {"arch": "cifar:vgg11", "width": 0.125, "num_classes": 4, "input_size": [32, 32],
            "mean": [0.5] * 3, "std": [0.5] * 3, "class_names": ["a", "b", "c", "d"]}
    path = save_checkpoint(model, tmp_path / "run", meta)
    handle = load_model(str(path))
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(handle.model(x), model(x))
    assert handle.label_names == ("a", "b", "c", "d")
    sidecar = tmp_path / "run" / "model.json"
    sidecar.write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_model(str(path))
    sidecar.write_text(json.dumps({**meta, "format": "invmeter-checkpoint/1", "arch": "cifar:resnet18"}))
    with pytest.raises(CheckpointError, match="does not match its recorded architecture"):
        load_model(str(path))
    sidecar.unlink()
    with pytest.raises(CheckpointError, match="no sidecar"):
        load_model(str(path))


def test_wrap_module_reads_the_classifier_input_or_the_output() -> None:
    from invmeter.models.representation import forward

    classifier = wrap_module(nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 6), nn.ReLU(), nn.Linear(6, 2)), image_size=8)
    assert classifier.layer == "3 (input)" and classifier.num_classes == 2
    feats, logits, readout, _ = forward(classifier, classifier.readout, torch.rand(4, 3, 8, 8), [])
    assert feats.shape == (4, 6) and logits.shape == (4, 2) and readout == Readout("head_input", "3")
    encoder = wrap_module(nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 6), nn.ReLU()), image_size=8)
    feats, logits, readout, _ = forward(encoder, encoder.readout, torch.rand(4, 3, 8, 8), [])
    assert feats.shape == (4, 6) and logits is None and readout == Readout("output")
    assert (feats >= 0).all()  # the ReLU output, not the Linear's


def test_factory_spec() -> None:
    handle = load_model("torchvision.models:resnet18", image_size=64)
    assert handle.readout == Readout("head_input", "fc") and handle.input_size == (64, 64)


def test_list_models() -> None:
    assert "resnet18" in list_models("resnet*")
    assert "torchvision:resnet18" in list_models("torchvision:resnet1*")
    assert list_models("cifar:*") == ["cifar:resnet18", "cifar:vgg11", "cifar:densenet121"]
    assert "resnet18.a1_in1k" in list_models("resnet18.*")  # timm's pretrained tags


@pytest.mark.parametrize("arch", ["resnet18", "vgg11", "densenet121"])
def test_cifar_architectures(arch: str) -> None:
    model = create_cifar_model(arch, num_classes=7, width=0.25).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 32, 32)).shape == (2, 7)
    full = sum(p.numel() for p in create_cifar_model(arch).parameters())
    small = sum(p.numel() for p in model.parameters())
    assert small < full / 4


def test_normalize_into_a_channels_last_tensor_gives_the_same_values_and_leaves_the_images_alone() -> None:
    from invmeter.models.preprocessing import normalize

    images = torch.rand(3, 3, 5, 7)
    before = images.clone()
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    by_hand = torch.stack([(images[:, c] - mean[c]) / std[c] for c in range(3)], dim=1)
    out = torch.empty_like(images, memory_format=torch.channels_last)
    result = normalize(images, mean, std, out=out)
    assert result is out and out.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(out, by_hand, rtol=0, atol=1e-6) and torch.equal(out, normalize(images, mean, std))
    assert torch.equal(images, before)
    assert torch.equal(normalize(images, None, None, out=torch.empty_like(images)), images)  # no mean/std: a copy
