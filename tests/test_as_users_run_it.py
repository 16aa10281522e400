"""Measure the model as its users run it: its own eval preprocessing, its weights by the ecosystem's names, the
user's own data and transforms, and the caller's model given back untouched."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import invmeter
from invmeter.api import ScoreSettings, resolve_model
from invmeter.errors import DataError, InvalidParameterError, InvmeterWarning

FAST = dict(n_boot=0, metrics="invariance")


@pytest.fixture(scope="module")
def photos_of_several_sizes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two classes of real photos at several sizes and aspect ratios (scikit-image), as PNG files."""
    from skimage import data

    root = tmp_path_factory.mktemp("sizes")
    for name, photo in (("cat", data.chelsea()), ("coffee", data.coffee())):
        (root / name).mkdir()
        for k, size in enumerate([(300, 200), (256, 256), (180, 420)]):
            Image.fromarray(photo).resize(size, Image.BILINEAR).save(root / name / f"{k}.png")
    return root


def _inputs_reaching(model: nn.Module) -> list[torch.Tensor]:
    """Register a user hook on the model's first layer that records every batch it receives (timm models are read
    through forward_features, so the stem sees what the model sees)."""
    seen: list[torch.Tensor] = []
    model.conv1.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    return seen


def _their_transform(files: list[Path], pipeline) -> torch.Tensor:  # noqa: ANN001
    return torch.stack([pipeline(Image.open(f).convert("RGB")) for f in files])


def _clean_views(seen: list[torch.Tensor]) -> torch.Tensor:
    """The clean half of each batch of 2B images (clean views first, then transformed)."""
    return torch.cat([x[: len(x) // 2] for x in seen]).contiguous()


@pytest.mark.parametrize("as_module", [False, True], ids=["by-name", "as-module"])
def test_timm_models_see_exactly_timms_eval_transform(photos_of_several_sizes: Path, as_module: bool) -> None:
    import timm
    from timm.data import create_transform, resolve_model_data_config

    if as_module:
        model = timm.create_model("resnet18.a1_in1k", pretrained=False).eval()
        handle = resolve_model(model)
    else:
        handle = resolve_model("timm:resnet18.a1_in1k", ScoreSettings(weights="random"))
        model = handle.model
    seen = _inputs_reaching(model)
    report = invmeter.score(handle, "hflip", data=str(photos_of_several_sizes), **FAST)
    files = sorted(photos_of_several_sizes.rglob("*.png"))
    expected = _their_transform(files, create_transform(**resolve_model_data_config(model)))
    assert torch.equal(_clean_views(seen), expected)  # the very same operations, bit for bit
    prep = report.model["preprocessing"]
    assert (prep["resize_shorter_side"], prep["input_size"], prep["interpolation"]) == (235, [224, 224], "bicubic")
    assert prep["crop_pct"] == pytest.approx(0.95, abs=0.01) and prep["mean"] == [0.485, 0.456, 0.406]


def test_a_jpeg_folder_reaches_a_timm_model_as_timms_eval_transform_of_pil_decoded_files(tmp_path: Path) -> None:
    """JPEG photos saved with 4:4:4, 4:2:2 and 4:2:0 chroma subsampling, baseline and progressive: the clean views
    invmeter feeds the model equal, bit for bit, timm's own eval transform of ``Image.open(f).convert("RGB")``."""
    import timm
    from skimage import data
    from timm.data import create_transform, resolve_model_data_config

    variants = [{"subsampling": 0}, {"subsampling": 1}, {"subsampling": 2}, {"progressive": True},
                {"progressive": True, "subsampling": 0}]
    for name, photo in (("cat", data.chelsea()), ("rocket", data.rocket())):
        (tmp_path / name).mkdir()
        for k, options in enumerate(variants):
            image = Image.fromarray(photo).resize((257 + 31 * k, 190 + 17 * k), Image.BILINEAR)  # odd sizes: partial
            image.save(tmp_path / name / f"{k}.jpg", quality=85 + 2 * k, **options)  # 8x8 and 16x16 blocks
    model = timm.create_model("resnet18.a1_in1k", pretrained=False, num_classes=2).eval()
    seen = _inputs_reaching(model)
    invmeter.score(model, "rotation", data=str(tmp_path), batch_size=3, **FAST)
    files = sorted(tmp_path.rglob("*.jpg"))
    expected = _their_transform(files, create_transform(**resolve_model_data_config(model)))
    assert torch.equal(_clean_views(seen), expected)


@pytest.mark.parametrize("weights", ["IMAGENET1K_V2", "enum"])
def test_torchvision_models_see_their_weights_transforms(photos_of_several_sizes: Path, weights: str,
                                                         monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import urllib.error

    import torchvision
    import torchvision.models._api as tv_api
    from torchvision.models import ResNet50_Weights

    def offline(*_a: object, **_k: object) -> None:
        raise urllib.error.URLError("offline (test)")

    monkeypatch.setattr(tv_api, "load_state_dict_from_url", offline)
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    chosen = ResNet50_Weights.IMAGENET1K_V2 if weights == "enum" else weights
    with pytest.raises(invmeter.InvmeterError, match=r"resnet50-11ad3fa6\.pth.*--weights random"):
        resolve_model("torchvision:resnet50", ScoreSettings(weights=chosen))  # named weights offline: no fallback
    cached = hub / "checkpoints" / "resnet50-11ad3fa6.pth"  # the file torch.hub would download (seeded weights)
    cached.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet50().state_dict(), cached)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InvmeterWarning)
        handle = resolve_model("torchvision:resnet50", ScoreSettings(weights=chosen))
    assert handle.weights == "pretrained:ResNet50_Weights.IMAGENET1K_V2"
    seen = _inputs_reaching(handle.model)
    report = invmeter.score(handle, "rotation", data=str(photos_of_several_sizes), **FAST)
    files = sorted(photos_of_several_sizes.rglob("*.png"))
    expected = _their_transform(files, ResNet50_Weights.IMAGENET1K_V2.transforms())
    assert torch.equal(_clean_views(seen), expected)
    prep = report.model["preprocessing"]
    assert (prep["resize_shorter_side"], prep["input_size"], prep["interpolation"]) == (232, [224, 224], "bilinear")


def test_unknown_torchvision_weights_name_suggests_the_valid_ones() -> None:
    with pytest.raises(invmeter.UnknownNameError, match="Did you mean 'IMAGENET1K_V2'"):
        invmeter.load_model("torchvision:resnet50", weights="IMAGENET1K_V3")


def test_an_image_size_override_is_recorded() -> None:
    handle = resolve_model("timm:resnet18.a1_in1k", ScoreSettings(weights="random", image_size=64))
    assert handle.input_size == (64, 64) and handle.preprocessing.describe()["overridden_by_user"] == ["input_size"]
    assert handle.preprocessing.resize == 67  # the crop fraction kept: floor(64 / 0.95)


def test_fixed_size_models_take_the_requested_size_or_say_which_they_need() -> None:
    vit = resolve_model("timm:vit_tiny_patch16_224", ScoreSettings(weights="random", image_size=32))
    assert vit.input_size == (32, 32) and vit.extra["timm_options"]["img_size"] == 32
    report = invmeter.score(vit, "hflip", n_classes=2, n_images=8, **FAST)
    assert report.model["input_size"] == [32, 32]

    class NeedsSize(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.shape[-1] != 40:
                raise ValueError("Input width (32) doesn't match model (40).")
            return x.flatten(1)

    with pytest.raises(InvalidParameterError, match=r"failed on a batch of shape .*doesn't match model \(40\)"):
        invmeter.score(NeedsSize(), "hflip", image_size=32, n_classes=2, n_images=8, **FAST)


def test_a_bare_module_without_size_or_normalisation_is_warned_about(pixel_model: nn.Module) -> None:
    with pytest.warns(InvmeterWarning, match="No image_size, mean or std given"):
        report = invmeter.score(pixel_model, "hflip", n_classes=2, n_images=8, **FAST)
    assert report.model["preprocessing"]["source"] == "none given (default)"
    with warnings.catch_warnings():
        warnings.simplefilter("error", InvmeterWarning)
        report = invmeter.score(pixel_model, "hflip", n_classes=2, n_images=8, image_size=16, mean=(0.5,) * 3,
                                std=(0.25,) * 3, **FAST)
    assert report.model["preprocessing"]["mean"] == [0.5] * 3 and report.model["input_size"] == [16, 16]


class _Mixed(nn.Module):
    """A model in train mode with a frozen, eval-mode submodule and batch norm (its running stats must not move)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.frozen = nn.Conv2d(4, 4, 1)
        self.frozen.requires_grad_(False)
        self.frozen.eval()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.frozen(self.stem(x)).mean(dim=(2, 3)))


def _state_of(model: nn.Module) -> dict[str, object]:
    return {
        "modes": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "values": {k: v.clone() for k, v in model.state_dict().items()},
        "devices": {t.device for t in [*model.parameters(), *model.buffers()]},
        "strides": [t.stride() for t in [*model.parameters(), *model.buffers()]],
        "hooks": [len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()],
    }


@pytest.mark.parametrize("call", ["score", "sweep", "extract", "layers"])
def test_the_callers_model_comes_back_untouched(call: str) -> None:
    model = _Mixed().train()
    model.frozen.eval()
    model.register_forward_hook(lambda *_: None)  # the caller's own hook stays
    before = _state_of(model)
    kw = dict(image_size=16, mean=(0.5,) * 3, std=(0.5,) * 3, n_classes=2, n_images=8, n_boot=0)
    if call == "score":
        invmeter.score(model, "rotation", **kw)
    elif call == "sweep":
        invmeter.sweep(model, "rotation", [0, 90], **kw)
    elif call == "layers":
        invmeter.score(model, "rotation", layers="stem,frozen", **kw)
    else:
        from invmeter.pipeline.measure import make_pairs
        from invmeter.pipeline.prepare import prepare

        plan = next(prepare(model, "blur", settings=ScoreSettings.create(**kw)).plans())
        pairs = make_pairs(plan, plan.transforms[0].transform, 0)
        invmeter.extract(plan.handle, pairs)
    after = _state_of(model)
    assert after["modes"] == before["modes"] and model.training and not model.frozen.training
    assert after["requires_grad"] == before["requires_grad"]
    assert all(torch.equal(before["values"][k], v) for k, v in after["values"].items())  # BN stats did not move
    assert after["devices"] == before["devices"] and after["strides"] == before["strides"]
    assert after["hooks"] == before["hooks"]


class _FlipSymmetric(nn.Module):
    """h(x) + h(hflip(x)): exactly invariant to horizontal flips."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.h = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.h(x) + self.h(x.flip(-1))


def _tensor_data(n: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    from skimage import data

    g = torch.Generator().manual_seed(0)
    photos = [torch.from_numpy(p).permute(2, 0, 1).float() / 255 for p in (data.chelsea(), data.coffee())]
    images, labels = [], []
    for i in range(n):
        photo = photos[i % 2]
        top, left = (int(torch.randint(0, s - 96, (1,), generator=g)) for s in photo.shape[1:])
        images.append(photo[:, top : top + 96, left : left + 96])
        labels.append(i % 2)
    return torch.stack(images), torch.tensor(labels)


def test_a_torchvision_v2_transform_on_a_tensor_dataset() -> None:
    from torch.utils.data import DataLoader, TensorDataset
    from torchvision.transforms import v2

    x, y = _tensor_data()
    kw = dict(image_size=32, mean=(0.5,) * 3, std=(0.5,) * 3, n_boot=0)
    flip = v2.RandomHorizontalFlip(p=1.0)
    report = invmeter.score(_FlipSymmetric(), flip, data=TensorDataset(x, y), **kw)
    assert report["invariance"] >= 0.999 and report.transform["spec"] == "RandomHorizontalFlip(p=1.0)"
    assert report.data["name"] == "dataset" and report.data["n_images"] == 24
    loader = invmeter.score(_FlipSymmetric(), flip, data=DataLoader(TensorDataset(x, y), batch_size=5), **kw)
    assert loader.to_dict()["metrics"] == report.to_dict()["metrics"]
    tensors = invmeter.score(_FlipSymmetric(), "hflip", data=(x, y), **kw)  # invmeter's own flip: the same pairs
    assert tensors["invariance"] == report["invariance"]
    rotated = invmeter.score(_FlipSymmetric(), v2.RandomRotation(90), data=(x, y), **kw)
    assert rotated["invariance"] < 0.99
    again = invmeter.score(_FlipSymmetric(), v2.RandomRotation(90), data=(x, y), **kw)
    assert again.to_dict()["metrics"] == rotated.to_dict()["metrics"]  # the callable's randomness is seeded


def test_a_flat_folder_runs_the_label_free_metrics_and_says_which_were_skipped(tmp_path: Path) -> None:
    x, _ = _tensor_data(8)
    for i, image in enumerate(x):
        Image.fromarray((image.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(tmp_path / f"{i}.png")
    report = invmeter.score(_FlipSymmetric(), "hflip", data=str(tmp_path), image_size=32, mean=(0.5,) * 3,
                            std=(0.5,) * 3, n_boot=0)
    assert set(report.metrics) == {"invariance", "clean_distance_ratio"} and report["invariance"] >= 0.999
    assert set(report.skipped_metrics) >= {"l2_ratio", "probe_accuracy"}
    assert report.to_dict()["skipped_metrics"]["l2_ratio"] == "needs class labels; the data has none"
    with pytest.raises(DataError, match="The l2_ratio metric needs class labels; the data has none"):
        invmeter.score(_FlipSymmetric(), "hflip", data=str(tmp_path), image_size=32, metrics="l2_ratio")


@pytest.mark.parametrize(
    ("data", "transform", "message"),
    [
        (torch.rand(4, 3, 8), "hflip", r"must be \(N, 3, H, W\)"),
        ((torch.rand(4, 3, 8, 8), torch.tensor([0, 1])), "hflip", "Got 4 images but 2 labels"),
        (torch.rand(4, 3, 8, 8) * 4 - 2, "hflip", r"values in \[-\d.*must be in \[0, 1\] and not normalised"),
        (torch.rand(4, 3, 8, 8), lambda img: img[:, :4], "must return a tensor of the image's shape"),
        (torch.rand(4, 3, 8, 8), 42, "must be a spec such as 'rotation'"),
        ({"not": "data"}, "hflip", "must be 'transforms2d', a Transforms2D dataset, a folder"),
    ],
    ids=["3d-tensor", "label-count", "normalised", "shape-changing", "not-callable", "dict"],
)
def test_bad_data_and_transforms_are_one_line_errors(data: object, transform: object, message: str) -> None:
    with pytest.raises(invmeter.InvmeterError, match=message) as info:
        invmeter.score(_FlipSymmetric(), transform, data=data, image_size=8, mean=(0.5,) * 3, std=(0.5,) * 3,
                       n_boot=0, metrics="invariance")
    assert "\n" not in str(info.value)
