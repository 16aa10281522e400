"""The adversarial suite's rows for issue 25 (see tests/test_adversarial.py): every input surface the command line
guards, guarded through the API too, and every measure right on every kind of model. Grouped by surface (each row's
``surface``): the command line, ``score()``, a ``Dataset``, a ``DataLoader``, a callable transform and the
streaming metric. Fixtures: tests/adversarial_fixtures.py; odd models: tests/adversarial_models.py."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import adversarial_models as odd
import numpy as np
import torch
from adversarial_support import Case, Correct, Error, Fixtures, Outcome, Warns, users
from PIL import Image
from torch.utils.data import DataLoader, Dataset, RandomSampler, Subset, SubsetRandomSampler

import invmeter
from invmeter.data import FolderImages
from invmeter.pipeline.settings import ScoreSettings
from invmeter.streaming.metric import InvarianceMetric

__all__ = ["INPUT_CASES"]

TINY = ("--image-size", "16", "--classes", "2", "--n-images", "8", "--bootstrap", "0", "-q")
JSON = ("--json", "{out}/r.json")
KW: dict[str, Any] = {"image_size": 16, "n_classes": 2, "n_images": 8, "n_boot": 0, "mean": (0.5,), "std": (0.5,)}
_TRAIN = ("train", "--classes", "2", "--image-size", "8", "--width", "0.05", "--n-train", "8", "--n-val", "4",
          "--n-test", "4", "--epochs", "1", "--batch-size", "4", "--threads", "1", "-q", "--out", "{out}/run")


def _check(predicate: Callable[[Any], bool], what: str) -> Correct:
    def run(o: Outcome) -> None:
        assert predicate(o.value), f"expected {what}; got {o.value!r}"
    return Correct(run)


def _reported(check: Callable[[dict[str, Any]], bool], what: str) -> Correct:
    """The command's JSON report (``--json {out}/r.json``) satisfies ``check``."""
    def run(o: Outcome) -> None:
        report = o.report()
        assert check(report), f"expected {what}; got {report['metrics']} {report.get('skipped_metrics')}"
    return Correct(run)


def _lie_positive(report: dict[str, Any]) -> bool:
    value = report["metrics"]["lie_derivative"]["value"]
    return value is not None and value > 0


def _all_but_equivariance(report: dict[str, Any]) -> bool:
    return report["skipped_metrics"] == {"equivariance": "needs fixed transform magnitudes (a sweep: --magnitudes)"} \
        and all(v["value"] is not None for v in report["metrics"].values()) and _lie_positive(report)


def _one_value_per_representation(report: dict[str, Any]) -> bool:
    row = report["layers"][-1]
    return row["layer"] == report["model"]["layer"] and all(
        math.isclose(row[m]["value"], v["value"], rel_tol=1e-6) for m, v in report["metrics"].items())


def _tracked(o: Outcome, n: int) -> None:
    meta = json.loads((o.out / "run" / "model.json").read_text())
    assert meta["track"]["n_images"] == n, meta["track"]


_CLI = [
    Case("issue25-cli-lie-cifar-head-input", ("score", "-m", "cifar:resnet18?width=0.125", "--weights", "random",
                                              "-t", "rotation", *TINY, "--metrics", "lie_derivative", *JSON),
         _reported(_lie_positive, "a positive Lie derivative (was: 'not differentiable')")),
    Case("issue25-cli-lie-checkpoint", ("score", "-m", "{ckpt}", "-t", "rotation", *TINY, "--metrics",
                                        "lie_derivative", *JSON),
         _reported(_lie_positive, "a positive Lie derivative")),
    Case("issue25-cli-lie-linear-head", ("score", "-m", "adversarial_models:classifier", "-t", "rotation", *TINY,
                                         "--metrics", "lie_derivative", *JSON),
         _reported(_lie_positive, "a positive Lie derivative")),
    Case("issue25-cli-lie-layer", ("score", "-m", "adversarial_models:features", "-t", "rotation", *TINY, "--layer",
                                   "body.1", "--metrics", "lie_derivative", *JSON),
         _reported(lambda r: _lie_positive(r) and r["model"]["layer"] == "body.1", "a positive LEE at body.1")),
    Case("issue25-cli-metrics-all-torchvision", ("score", "-m", "torchvision:resnet18", "--weights", "random", "-t",
                                                 "rotation", *TINY, "--metrics", "all", *JSON),
         _reported(_all_but_equivariance, "every metric but equivariance defined")),
    Case("issue25-cli-metrics-all-cifar", ("score", "-m", "cifar:resnet18?width=0.125", "--weights", "random", "-t",
                                           "rotation", *TINY, "--metrics", "all", *JSON),
         _reported(_all_but_equivariance, "every metric but equivariance defined")),
    Case("issue25-cli-metrics-all-checkpoint", ("score", "-m", "{ckpt}", "-t", "rotation", *TINY, "--metrics", "all",
                                                *JSON), _reported(_all_but_equivariance, "every metric defined")),
    Case("issue25-cli-one-value-per-representation",
         ("score", "-m", "cifar:resnet18?width=0.125", "--weights", "random", "-t", "rotation", "--image-size", "16",
          "--classes", "2", "--n-images", "16", "--bootstrap", "0", "-q", "--layers", "blocks", "--metrics",
          "invariance,cka,normalized_variance,anova_variant,goodfellow,lie_derivative", *JSON),
         _reported(_one_value_per_representation, "the profile's last row equal to the table")),
    Case("accepted-mean-nan", ("score", "-m", "adversarial_models:features", "-t", "hflip", *TINY, "--mean", "nan",
                               "--std", "0.5"), Error(r"'mean' parameter must be finite numbers .*Got nan")),
    Case("accepted-mean-inf", ("score", "-m", "adversarial_models:features", "-t", "hflip", *TINY, "--mean",
                               "0.5,inf,0.5", "--std", "0.5"), Error(r"'mean' parameter must be finite .*inf")),
    Case("accepted-std-inf", ("score", "-m", "adversarial_models:features", "-t", "hflip", *TINY, "--mean", "0.5",
                              "--std", "inf"), Error(r"'std' parameter must be finite")),
    Case("accepted-track-empty", (*_TRAIN, "--track", ""), Error(r"The 'track' parameter is empty")),
    Case("accepted-track-images-huge", (*_TRAIN, "--track", "hflip", "--track-images", "100000"),
         Warns(r"track_images=100000 is more than the run's 16 images \(n_train \+ n_val \+ n_test\): tracking 16",
               lambda o: _tracked(o, 16))),
]


# --------------------------------------------------------------------------------------------------- score()


class KnownUnits(torch.nn.Module):
    """3 channel means (variant under halving the pixels), 3 channel shares (exactly invariant), 3 left-minus-right
    differences (they halve image by image around a mean near 0: no shift of the mean for an ANOVA to find)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        means = x.mean(dim=(2, 3))
        half = x.shape[-1] // 2
        sides = x[..., :half].mean(dim=(2, 3)) - x[..., half:].mean(dim=(2, 3))
        return torch.cat([means, means / means.mean(dim=1, keepdim=True), sides], dim=1)


def _known_units(fx: Fixtures) -> float:
    images = torch.rand(40, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    report = invmeter.score(users(KnownUnits), lambda x: x * 0.5, data=images, n_images=None, n_boot=0,
                            mean=(0.0,), std=(1.0,), metrics="anova_variant")
    return report["anova_variant"]


def _table_and_profile(fx: Fixtures) -> tuple[dict[str, Any], dict[str, Any]]:
    report = invmeter.score(users(odd.classifier), "rotation", **{**KW, "n_images": 16}, layers="blocks",
                            metrics="invariance,cka,normalized_variance,anova_variant,goodfellow,lie_derivative")
    table = {k: v["value"] for k, v in report.to_dict()["metrics"].items()}
    row = report.to_dict()["layers"][-1]
    return table, {k: row[k]["value"] for k in table}


_SCORE = [
    Case("issue25-api-lie-linear-head", lambda fx: invmeter.score(users(odd.classifier), "rotation", **KW,
                                                                  metrics="lie_derivative")["lie_derivative"],
         _check(lambda v: v > 0, "a positive Lie derivative of the head's input")),
    Case("issue25-api-one-value-per-representation", _table_and_profile,
         _check(lambda v: all(math.isclose(v[0][k], v[1][k], rel_tol=1e-6) for k in v[0]), "equal values")),
    Case("issue25-api-anova-known-units", _known_units, _check(lambda v: v == 3 / 9, "3/9 (the channel means)")),
    Case("accepted-api-mean-nan", lambda fx: ScoreSettings.create(mean="nan", std="0.5"),
         Error(r"'mean' parameter must be finite numbers")),
    Case("trace-tensor-meta", lambda fx: score_users(torch.rand(4, 3, 16, 16, device="meta")),
         Error(r"The image tensor is on the meta device")),
    Case("silent-tensor-float-labels", lambda fx: score_users((torch.rand(4, 3, 16, 16), torch.tensor([0.0, 1.5] * 2))),
         Error(r"The labels must be integer class indices")),
    Case("tensor-int64-images", lambda fx: score_users(torch.randint(0, 256, (4, 3, 16, 16))),
         Error(r"The image tensor holds int64 values")),
]


# --------------------------------------------------------------------------------------------------- Datasets


class Items(Dataset):
    """``items[i]`` (called if callable: opened lazily), with ``labels[i]`` when labels are given."""

    def __init__(self, items: list[Any], labels: list[Any] | None = None) -> None:
        self.items, self.labels = items, labels

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Any:
        item = self.items[i]() if callable(self.items[i]) else self.items[i]
        return item if self.labels is None else (item, self.labels[i])


class RaisesAt(Items):
    def __getitem__(self, i: int) -> Any:
        if i == 2:
            raise OSError("the disk is gone")
        return super().__getitem__(i)


def _values(data: Any, transform: Any = "rotation") -> dict[str, Any]:
    report = score_users(data, transform)
    return {k: v["value"] for k, v in report.to_dict()["metrics"].items()}


def score_users(data: Any, transform: Any = "rotation", **options: Any) -> Any:
    return invmeter.score(users(odd.classifier), transform, **{**KW, "n_images": None, "n_classes": 10, "data": data,
                                                               **options})


def _pixels(path: Path) -> np.ndarray:
    return np.array(Image.open(path).convert("RGB"))


def _folder(fx: Fixtures, name: str) -> FolderImages:
    return FolderImages(getattr(fx, name))


def _same_as_folder(make: Callable[[FolderImages], Any], folder: str = "labelled", twin: str | None = None
                    ) -> Callable[[Fixtures], tuple[dict[str, Any], dict[str, Any]]]:
    """(metrics of ``make(folder's files)``, metrics of the folder ``twin`` (default: the same folder))."""
    def run(fx: Fixtures) -> tuple[dict[str, Any], dict[str, Any]]:
        return _values(make(_folder(fx, folder))), _values(str(getattr(fx, twin or folder)))
    return run


def _rgba_files(fx: Fixtures) -> tuple[dict[str, Any], dict[str, Any]]:
    """A labelled folder of RGBA PNGs with varied alpha, and a Dataset of the same images opened with PIL."""
    rng = np.random.default_rng(3)
    for c in "ab":
        (fx.out / "rgba" / c).mkdir(parents=True, exist_ok=True)
        for k in range(4):
            pixels = rng.integers(0, 256, (24, 24, 4), dtype=np.uint8)
            Image.fromarray(pixels, "RGBA").save(fx.out / "rgba" / c / f"{k}.png")
    src = FolderImages(fx.out / "rgba")
    dataset = Items([lambda p=p: Image.open(p) for p in src.files], src.labels.tolist())
    return _values(dataset), _values(str(fx.out / "rgba"))


def _equal(what: str) -> Correct:
    return _check(lambda v: v[0] == v[1] and v[0]["invariance"] is not None, f"identical metrics ({what})")


_LAZY_PIL = lambda src: Items([lambda p=p: Image.open(p) for p in src.files], src.labels.tolist())  # noqa: E731
_FLOAT = lambda src: Items([torch.from_numpy(_pixels(p)).permute(2, 0, 1).float() / 255 for p in src.files],  # noqa: E731
                           src.labels.tolist())

_DATASET = [
    Case("dataset-pil-equals-folder", _same_as_folder(_LAZY_PIL), _equal("PIL images")),
    Case("dataset-float-tensors-equal-folder", _same_as_folder(_FLOAT), _equal("ToTensor-style float tensors")),
    Case("dataset-uint8-tensors-equal-folder", _same_as_folder(lambda s: Items(
        [torch.from_numpy(_pixels(p)).permute(2, 0, 1) for p in s.files], s.labels.tolist())), _equal("uint8")),
    Case("dataset-numpy-equal-folder", _same_as_folder(lambda s: Items([_pixels(p) for p in s.files],
                                                                       s.labels.tolist())), _equal("HWC arrays")),
    Case("silent-dataset-png16-was-white", _same_as_folder(_LAZY_PIL, "png16", "png16_as_8bit"),
         _equal("16-bit PIL images as their high bytes")),
    Case("silent-dataset-float-pil-was-black", _same_as_folder(lambda s: Items(
        [Image.fromarray(np.array(Image.open(p).convert("L"), np.float32) / 255, "F") for p in s.files],
        s.labels.tolist()), "png16_as_8bit"), _equal("float (F) images in [0, 1]")),
    Case("silent-dataset-rgba-lost-alpha", _rgba_files, _equal("RGBA flattened over white, as the files")),
    Case("trace-dataset-string-labels", lambda fx: score_users(Items([torch.rand(3, 16, 16)] * 4, ["a", "b"] * 2)),
         Error(r"labels must be integer class indices 0\.\.K-1; got the str 'a' \(item 0\)")),
    Case("silent-dataset-float-labels-truncated", lambda fx: score_users(Items([torch.rand(3, 16, 16)] * 4,
                                                                               [0, 1.7, 0, 1])),
         Error(r"got the float 1\.7 \(item 1\)")),
    Case("trace-dataset-item-raises", lambda fx: score_users(RaisesAt([torch.rand(3, 16, 16)] * 4, [0, 1] * 2)),
         Error(r"Reading item 2 of the dataset RaisesAt failed \(OSError: the disk is gone\)")),
    Case("trace-dataset-item-raises-unlabelled", lambda fx: score_users(RaisesAt([torch.rand(3, 16, 16)] * 4)),
         Error(r"Reading item 2 of the dataset RaisesAt failed", before=None)),
    Case("trace-dataset-meta-tensors", lambda fx: score_users(Items([torch.rand(3, 16, 16, device="meta")] * 4)),
         Error(r"Item 0 of the dataset is on the meta device", before=None)),
    Case("dataset-0-255-floats", lambda fx: score_users(Items([torch.rand(3, 16, 16) * 255] * 4)),
         Error(r"Item 0 of the dataset has values in .*look like 0-255 levels", before=None)),
    Case("dataset-int64-images", lambda fx: score_users(Items([torch.randint(0, 256, (3, 16, 16))] * 4)),
         Error(r"Item 0 of the dataset holds int64 values", before=None)),
    Case("dataset-float-pil-out-of-range", lambda fx: score_users(Items(
        [Image.fromarray(np.full((16, 16), 3.0, np.float32), "F")] * 4)),
         Error(r"Float image \(item 0 of the dataset\) has values outside \[0, 1\]", before=None)),
]


# --------------------------------------------------------------------------------------------------- DataLoaders


def _uint8_items(fx: Fixtures) -> Items:
    src = _folder(fx, "labelled")
    return Items([torch.from_numpy(_pixels(p)).permute(2, 0, 1) for p in src.files], src.labels.tolist())


_KEEP = [0, 1, 2, 4, 5, 6]

_DATALOADER = [
    Case("dataloader-shuffled-equals-folder",
         lambda fx: (_values(DataLoader(_FLOAT(_folder(fx, "labelled")), batch_size=3, shuffle=True)),
                     _values(str(fx.labelled))), _equal("a shuffled DataLoader of float tensors")),
    Case("accepted-dataloader-sampler-ignored",
         lambda fx: (_values(DataLoader(_uint8_items(fx), batch_size=3, sampler=SubsetRandomSampler(_KEEP))),
                     _values(Subset(_uint8_items(fx), _KEEP))), _equal("the sampler's 6 items, as a Subset")),
    Case("dataloader-drop-last-honoured", lambda fx: score_users(DataLoader(_uint8_items(fx), batch_size=3,
                                                                            drop_last=True)).data["n_images"],
         _check(lambda n: n == 6, "6 of 8 images (the last incomplete batch dropped)")),
    Case("dataloader-with-replacement", lambda fx: score_users(DataLoader(
        Items([torch.rand(3, 16, 16)] * 8, [0, 1] * 4), sampler=RandomSampler(range(8), replacement=True))),
         Error(r"sampler \(RandomSampler\) visits some items more than once")),
    Case("dataloader-rng-untouched", lambda fx: _rng_kept(fx), _check(lambda v: v, "the global RNG state unchanged")),
]


def _rng_kept(fx: Fixtures) -> bool:
    loader = DataLoader(_uint8_items(fx), batch_size=3, sampler=SubsetRandomSampler(_KEEP))
    state = torch.get_rng_state()
    score_users(loader)
    return torch.equal(torch.get_rng_state(), state)


# --------------------------------------------------------------------------------------------------- callables


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x * 255).round().to(torch.uint8)


def _raises(x: torch.Tensor) -> torch.Tensor:
    raise ValueError("angle out of range")


def _flip_and_normalise(x: torch.Tensor) -> torch.Tensor:
    """A flip, then ImageNet's Normalize (as transforms.v2.Normalize does; a function, so that the row's work
    counter sees only the model's forward passes, not the transform's own module calls)."""
    from torchvision.transforms.v2 import functional as TF

    return TF.normalize(x.flip(-1), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])


def _callable(transform: Callable[[torch.Tensor], Any]) -> Callable[[Fixtures], Any]:
    return lambda fx: invmeter.score(users(odd.features), transform, **KW)


_CALLABLE = [
    Case("silent-callable-uint8-output", _callable(_to_uint8),
         Error(r"The transform '_to_uint8' returned a uint8 tensor for a float image in \[0, 1\]", before="forward")),
    Case("silent-callable-normalize-inside", _callable(_flip_and_normalise),
         Error(r"returned values in \[.*\] for an image in \[0, 1\].*A Normalize inside it normalises twice",
               before="forward")),
    Case("trace-callable-raises", _callable(_raises),
         Error(r"The transform '_raises' raised ValueError: angle out of range", before="forward")),
    Case("callable-other-device", _callable(lambda x: x.to("meta")),
         Error(r"returned a tensor on meta for an image on cpu", before="forward")),
    Case("callable-nan-output", _callable(lambda x: x * float("nan")),
         Error(r"returned NaN or infinite values", before="forward")),
    Case("callable-returns-numpy", _callable(lambda x: x.numpy()),
         Error(r"must return a tensor of the image's shape \(3, 16, 16\); got ndarray", before="forward")),
    Case("callable-other-shape", _callable(lambda x: x[:, :8]),
         Error(r"got a tensor of shape \(3, 8, 16\)", before="forward")),
    Case("callable-float64-output", lambda fx: (_callable(lambda x: x.flip(-1).double())(fx)["invariance"],
                                                _callable(lambda x: x.flip(-1))(fx)["invariance"]),
         _check(lambda v: abs(v[0] - v[1]) < 1e-6, "the float32 callable's invariance")),
]


# --------------------------------------------------------------------------------------------------- streaming


def _streamed(model: Any, images: torch.Tensor, **kw: Any) -> dict[str, float]:
    metric = InvarianceMetric("rotation", reservoir=16)
    metric.update(model, images, **kw)
    return metric.compute()


def _images(n: int = 8) -> torch.Tensor:
    return torch.rand(n, 3, 16, 16, generator=torch.Generator().manual_seed(0))


def _repeated_ids(fx: Fixtures) -> tuple[dict[str, float], dict[str, float]]:
    z = torch.randn(8, 5, generator=torch.Generator().manual_seed(1))
    once, twice = InvarianceMetric(reservoir=16), InvarianceMetric(reservoir=16)
    once.update(z, z * 0.9, index=range(8))
    twice.update(z, z * 0.9, index=range(8))
    twice.update(z[:4], z[:4] * 0.9, index=[0, 1, 2, 2])
    return once.compute(), twice.compute()


def _shared_ids(fx: Fixtures) -> None:
    z = torch.randn(8, 5, generator=torch.Generator().manual_seed(1))
    a, b = InvarianceMetric(reservoir=16), InvarianceMetric(reservoir=16)
    a.update(z[:5], z[:5], index=range(5))
    b.update(z[4:], z[4:], index=range(4, 8))
    a.merge(b)


def _state() -> dict[str, Any]:
    metric = InvarianceMetric(reservoir=16)
    metric.update(torch.randn(6, 3, generator=torch.Generator().manual_seed(0)), torch.zeros(6, 3), torch.arange(6) % 2)
    return metric.state_dict()


_STREAMING = [
    Case("silent-metric-0-255-floats", lambda fx: _streamed(users(odd.features), _images() * 255),
         Error(r"'images' has values in \[.*\]; images must be in \[0, 1\].*0-255 levels")),
    Case("silent-metric-constant-model",
         lambda fx: _streamed(users(odd.constant), _images(), labels=torch.arange(8) % 2),
         Warns(r"(invariance|l2_ratio) undefined \(NaN\): the representations of the clean images are identical",
               _check(lambda v: math.isnan(v["invariance"]) and math.isnan(v["l2_ratio"]), "NaN, never inf").check)),
    Case("trace-metric-float64-images", lambda fx: (_streamed(users(odd.features), _images().double()),
                                                    _streamed(users(odd.features), _images())),
         _check(lambda v: v[0] == v[1], "the float32 images' values")),
    Case("trace-metric-meta-images", lambda fx: _streamed(users(odd.features), torch.rand(8, 3, 16, 16, device="meta")),
         Error(r"'images' is on the meta device")),
    Case("trace-metric-meta-representations", lambda fx: InvarianceMetric().update(torch.rand(4, 3, device="meta"),
                                                                                   torch.rand(4, 3)),
         Error(r"'z' is on the meta device")),
    Case("trace-metric-state-garbage", lambda fx: InvarianceMetric.from_state_dict({"x": 1}),
         Error(r"Not an InvarianceMetric state_dict: missing 'transform'")),
    Case("trace-metric-state-not-a-dict", lambda fx: InvarianceMetric.from_state_dict("state.pt"),
         Error(r"Not an InvarianceMetric state_dict: got str")),
    Case("metric-state-bad-sums", lambda fx: InvarianceMetric.from_state_dict({**_state(), "sums": {"n": "6"}}),
         Error(r"'sums' must map n, sum_d")),
    Case("metric-state-rows-disagree", lambda fx: InvarianceMetric.from_state_dict(
        {**_state(), "reservoir": {**_state()["reservoir"], "ids": torch.arange(2)}}), Error(r"disagree in length")),
    Case("silent-metric-repeated-ids", _repeated_ids,
         Warns(r"4 of 4 samples skipped: their index was already counted",
               _check(lambda v: v[0] == v[1] and v[1]["n"] == 8, "each id once: n = 8, the same values").check)),
    Case("metric-merge-shared-ids", _shared_ids, Error(r"1 sample ids were counted by both metrics")),
    Case("accepted-metric-mean-nan", lambda fx: InvarianceMetric(mean=(float("nan"),), std=(0.5,)),
         Error(r"'mean' and 'std' must be finite numbers, std > 0")),
]


def _on(surface: str, api: str, cases: list[Case]) -> list[Case]:
    return [replace(case, api=api, surface=surface) for case in cases]


INPUT_CASES: list[Case] = [
    *_on("CLI", "", _CLI), *_on("API score", "score()", _SCORE), *_on("Dataset", "score(data=Dataset)", _DATASET),
    *_on("DataLoader", "score(data=DataLoader)", _DATALOADER),
    *_on("callable transform", "score(transform=callable)", _CALLABLE),
    *_on("streaming metric", "InvarianceMetric", _STREAMING),
]
