"""Named weights are a promise (issues 24, 25): only ``weights="auto"`` on a model named without weights may fall
back to a random initialisation; a timm tag, a torchvision weights name or enum, or ``pretrained`` that cannot be had
is a one-line error naming where the weights would be and how to get them; weights of another architecture are
refused before anything is built; a damaged file in a hub cache is an error naming it; the zoo skips a glob's tags
whose weights cannot be had unless asked (``include_random``)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

import invmeter
from invmeter.cli import cli
from invmeter.errors import CheckpointError, InvalidParameterError, InvmeterError, InvmeterWarning
from invmeter.models import load_model
from invmeter.models.sources import check_model_spec, named_weights_unavailable

TINY = dict(image_size=32, n_images=12, n_classes=3, n_boot=20)


def _hf_cache_file(root: Path, repo: str, content: bytes | None = None) -> Path:
    """``models--timm--REPO`` in the Hugging Face cache layout with one ``model.safetensors`` (``content``, or a
    state dict of timm's ``test_resnet`` filled with 0.125)."""
    import timm

    folder = root / "hf" / f"models--timm--{repo}"
    snapshot = folder / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text("abc123")
    path = snapshot / "model.safetensors"
    if content is None:
        state = timm.create_model("test_resnet", pretrained=False).state_dict()
        save_file({k: torch.full_like(v, 0.125) if v.is_floating_point() else v for k, v in state.items()}, str(path))
    else:
        path.write_bytes(content)
    return path


def test_a_timm_tag_names_its_weights_and_fails_without_them(offline: Path) -> None:
    with pytest.raises(InvmeterError) as caught:
        load_model("timm:test_resnet.r160_in1k", weights="auto")
    message = str(caught.value)
    assert "\n" not in message and "timm/test_resnet.r160_in1k" in message
    assert str(offline / "hf" / "models--timm--test_resnet.r160_in1k") in message  # where they would be
    assert "HF_HUB_OFFLINE" in message and "--weights random" in message
    with pytest.warns(InvmeterWarning, match="RANDOMLY INITIALISED"):  # the architecture alone: auto may fall back
        assert load_model("timm:test_resnet", weights="auto").weights == "random-init"
    assert load_model("timm:test_resnet.r160_in1k", weights="random").weights == "random-init"  # asked for
    _hf_cache_file(offline, "test_resnet.r160_in1k")
    with warnings.catch_warnings():
        warnings.simplefilter("error", InvmeterWarning)
        handle = load_model("timm:test_resnet.r160_in1k", weights="auto")
    assert handle.weights == "pretrained:timm/test_resnet.r160_in1k"
    assert float(handle.model.conv1[0].weight.detach().flatten()[0]) == 0.125


@pytest.mark.parametrize("weights", ["IMAGENET1K_V1", "DEFAULT", "ResNet18_Weights.IMAGENET1K_V1", "enum", "pretrained"])
def test_torchvision_weights_by_name_or_enum_fail_without_them(offline: Path, weights: str) -> None:
    from torchvision.models import ResNet18_Weights

    chosen = ResNet18_Weights.DEFAULT if weights == "enum" else weights
    with pytest.raises(InvmeterError) as caught:
        load_model("torchvision:resnet18", weights=chosen)
    message = str(caught.value)
    assert "\n" not in message and "--weights random" in message
    assert "Pretrained weights" in message if weights == "pretrained" else "ResNet18_Weights.IMAGENET1K_V1" in message
    assert str(offline / "torchhub" / "checkpoints") in message and "resnet18-f37072fd.pth" in message
    with pytest.warns(InvmeterWarning, match="RANDOMLY INITIALISED"):
        assert load_model("torchvision:resnet18", weights="auto").weights == "random-init"


@pytest.mark.parametrize("weights", ["ResNet50_Weights.IMAGENET1K_V1", "enum"])
def test_weights_of_another_architecture_are_refused_before_anything_is_built(weights: str) -> None:
    from torchvision.models import ResNet50_Weights

    chosen = ResNet50_Weights.IMAGENET1K_V1 if weights == "enum" else weights
    with pytest.raises(InvalidParameterError, match=r"ResNet50_Weights\.IMAGENET1K_V1 are not torchvision:resnet18's "
                                                    r"\(its weights are ResNet18_Weights: IMAGENET1K_V1, DEFAULT\)"):
        check_model_spec("torchvision:resnet18", weights=chosen)  # the check every --model gets before any build
    assert check_model_spec("torchvision:resnet50", weights=chosen)[1] == "resnet50"


def test_a_damaged_hugging_face_cache_file_is_named_never_replaced_by_random_weights(offline: Path) -> None:
    path = _hf_cache_file(offline, "test_resnet.r160_in1k", content=b"not a safetensors file")
    for spec in ("timm:test_resnet", "timm:test_resnet.r160_in1k"):  # under auto too: the file is there
        with pytest.raises(CheckpointError, match=rf"The cached weights file '{path}' for .* cannot be loaded .*"
                                                  r"delete it .*--weights random"):
            load_model(spec, weights="auto")


def test_a_damaged_torch_hub_cache_file_is_named_never_replaced_by_random_weights(offline: Path) -> None:
    cached = offline / "torchhub" / "checkpoints" / "resnet18-f37072fd.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"\x80\x02garbage")
    for weights in ("auto", "IMAGENET1K_V1"):
        with pytest.raises(CheckpointError, match=rf"The cached weights file '{cached}' for 'resnet18' cannot be "
                                                  r"loaded .*delete it"):
            load_model("torchvision:resnet18", weights=weights)


def test_score_exits_non_zero_with_one_line_for_named_weights_offline(offline: Path) -> None:
    result = CliRunner().invoke(cli, ["score", "-m", "timm:test_resnet.r160_in1k", "-t", "hflip", "--image-size", "32",
                                      "--n-images", "12", "--classes", "3", "--bootstrap", "0", "-q"])
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert result.exit_code == 1 and len(errors) == 1 and "HF_HUB_OFFLINE" in errors[0]
    assert "RANDOMLY INITIALISED" not in result.output  # no report of a random network


def test_only_a_globs_tags_without_weights_are_skipped(offline: Path) -> None:
    assert named_weights_unavailable("timm:test_resnet.r160_in1k") is not None
    assert named_weights_unavailable("timm:test_resnet") is None  # an architecture names no weights
    assert named_weights_unavailable("cifar:vgg11") is None and named_weights_unavailable("runs/a.safetensors") is None
    _hf_cache_file(offline, "test_resnet.r160_in1k")
    assert named_weights_unavailable("test_resnet.r160_in1k") is None  # cached


@pytest.mark.filterwarnings("default::invmeter.errors.InvmeterWarning")
def test_the_zoo_skips_a_globs_tags_without_weights_unless_asked(offline: Path) -> None:
    with pytest.warns(InvmeterWarning, match=r"Skipped 1 tag \(timm:test_resnet\.r160_in1k; not in the local Hugging "
                                             r"Face cache.*--include-random"):
        rows = invmeter.zoo(["timm:test_resnet*"], ["hflip"], out=offline / "skip", **TINY)
    assert [(r["model"], r["weights"], r["status"]) for r in rows] == [("timm:test_resnet", "random-init", "ok")]
    with pytest.warns(InvmeterWarning, match=r"Scoring 1 tag \(timm:test_resnet\.r160_in1k.*at RANDOM INIT"):
        rows = invmeter.zoo(["timm:test_resnet*"], ["hflip"], out=offline / "all", include_random=True, **TINY)
    assert [(r["model"], r["weights"]) for r in rows] == [("timm:test_resnet", "random-init"),
                                                          ("timm:test_resnet.r160_in1k", "random-init")]
    with pytest.raises(InvalidParameterError, match="Every model the patterns match is a pretrained tag"):
        invmeter.zoo(["timm:test_resnet.*"], ["hflip"], out=offline / "none", **TINY)


@pytest.mark.filterwarnings("default::invmeter.errors.InvmeterWarning")  # cifar:vgg11 at random init, loudly
def test_a_tag_named_in_the_zoo_is_a_failed_row_with_how_to_get_its_weights(offline: Path) -> None:
    rows = invmeter.zoo(["timm:test_resnet.r160_in1k", "cifar:vgg11?width=0.125"], ["hflip"], out=offline / "named",
                        **TINY)
    failed, ok = rows
    assert failed["status"] == "failed" and ok["status"] == "ok"
    assert failed["reason"].startswith("The weights timm/test_resnet.r160_in1k for 'test_resnet.r160_in1k' are "
                                       "unavailable") and "HF_HUB_OFFLINE" in failed["reason"]
