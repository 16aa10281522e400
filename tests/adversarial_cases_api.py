"""The adversarial suite's Python API rows (see tests/test_adversarial.py): ``invmeter.score``/``sweep``/``zoo``,
``ScoreSettings.create``, ``load_model``, ``parse_transform``, ``InvarianceMetric``, ``LinearProbe``,
``invmeter.functional``, ``TrainConfig``, ``make_transforms2d``, ``select`` and ``finetune_last_layer``. Each call
gets the fixtures ``fx``."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import adversarial_models as odd
import numpy as np
import torch
from adversarial_support import Case, Correct, Error, Fixtures, Outcome, Warns, users
from torch.utils.data import DataLoader, TensorDataset

import invmeter
from invmeter import functional as F
from invmeter.api import make_transforms2d
from invmeter.data import BuiltSplit, Transforms2D
from invmeter.data._files import read_rgb
from invmeter.data.redraw import RedrawnSplit
from invmeter.metrics import LinearProbe
from invmeter.pipeline.settings import ScoreSettings
from invmeter.streaming.metric import InvarianceMetric
from invmeter.training.loop import TrainConfig

__all__ = ["API_CASES"]

KW: dict[str, Any] = {"image_size": 16, "n_classes": 2, "n_images": 8, "n_boot": 0, "mean": (0.5,), "std": (0.5,)}


def score(model: Any = None, transform: Any = "hflip", **options: Any) -> Any:
    """``invmeter.score`` of the odd ``features`` model (or ``model``) on the tiny settings, ``options`` overriding."""
    return invmeter.score(users(odd.features) if model is None else model, transform, **{**KW, **options})


def values(report: Any) -> dict[str, Any]:
    return {k: v["value"] for k, v in report.to_dict()["metrics"].items()}


def check(predicate: Callable[[Any], bool], what: str) -> Correct:
    """The returned value satisfies ``predicate`` (``what`` says which answer is expected)."""
    def run(o: Outcome) -> None:
        assert predicate(o.value), f"expected {what}; got {o.value!r}"
    return Correct(run)


def warns(pattern: str, predicate: Callable[[Any], bool], what: str) -> Warns:
    """A warning matching ``pattern``, and the returned value satisfies ``predicate``."""
    return Warns(pattern, check(predicate, what).check)


def _pair(fn: Callable[[Fixtures, str], Any], a: str, b: str) -> Callable[[Fixtures], Any]:
    return lambda fx: (fn(fx, a), fn(fx, b))


def _folder_values(fx: Fixtures, name: str) -> dict[str, Any]:
    return values(score(data=str(getattr(fx, name)), n_images=None, n_classes=10))


def _same_pixels(fx: Fixtures) -> list[tuple[str, str]]:
    """Each differently stored file against its plain RGB twin: (file, twin) for every pixel mismatch."""
    mixed = sorted(p for p in fx.modes_mixed.rglob("*") if p.is_file())
    wrong = []
    for path in mixed:
        twin = fx.modes_rgb / path.parent.name / f"{path.stem}.png"
        if not np.array_equal(np.asarray(read_rgb(path)), np.asarray(read_rgb(twin))):
            wrong.append((path.name, twin.name))
    return wrong


def _collapsed_classes() -> tuple[torch.Tensor, torch.Tensor]:
    """8 images, 4 identical copies per class: every class collapses to one point under any model."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(3, 16, 16, generator=g), torch.rand(3, 16, 16, generator=g)
    return torch.stack([a] * 4 + [b] * 4), torch.tensor([0] * 4 + [1] * 4)


def _tensor_images(n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 3, 16, 16, generator=g), torch.arange(n) % 2


def _z(n: int = 16, d: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def _nan_z() -> torch.Tensor:
    z = _z()
    z[3, 1] = float("nan")
    return z


def _metric_updated(*args: Any, **kwargs: Any) -> InvarianceMetric:
    metric = InvarianceMetric(reservoir=16)
    metric.update(*args, **kwargs)
    return metric


def _streamed_invariance(model: torch.nn.Module, transform: str) -> float:
    metric = InvarianceMetric(transform, reservoir=16)
    metric.update(model, torch.rand(8, 3, 16, 16, generator=torch.Generator().manual_seed(0)))
    return metric.compute()["invariance"]


def _separable() -> tuple[torch.Tensor, np.ndarray]:
    x = torch.cat([_z(20, 3, 1) + 5, _z(20, 3, 2) - 5])
    return x, np.array([0] * 20 + [1] * 20)


def _probe_accuracy() -> float:
    x, y = _separable()
    return float((LinearProbe(solver="lbfgs").fit(x, y).predict(x) == y).mean())


def _identical_reports() -> bool:
    return score(users(odd.classifier), "rotation", n_boot=20).to_dict()["metrics"] == \
        score(users(odd.classifier), "rotation", n_boot=20).to_dict()["metrics"]


def _all_null(report: Any) -> bool:
    return all(v is None for v in values(report).values()) and bool(report.warnings)


_SCORE = [
    Case("trace-seed-fraction-api", lambda fx: score(seed=1.5),
         Error(r"'seed' parameter must be an integer .*Got 1\.5")),
    Case("api-seed-bool", lambda fx: score(seed=True), Error(r"'seed' .*Got True")),
    Case("api-seed-string", lambda fx: score(seed="0"), Error(r"'seed' .*Got '0'")),
    Case("api-setting-unknown", lambda fx: score(n_image=8),
         Error(r"Unknown setting n_image\. Did you mean n_images\? Valid settings: ")),
    Case("api-settings-and-keywords", lambda fx: invmeter.score(users(odd.features), settings=ScoreSettings(), seed=1),
         Error(r"Give either settings= or keyword settings \(seed\), not both")),
    Case("api-model-number", lambda fx: score(42), Error(r"'model' parameter must be a model name, an nn\.Module")),
    Case("api-score-transform-list", lambda fx: score(transform="hflip,blur"),
         Error(r"score\(\) takes one transform; for several use score_many\(\)\. Got hflip, blur")),
    Case("edge-score-many-options-list", lambda fx: [g[0].transform["spec"] for g in invmeter.api.score_many(
        users(odd.features), "color_jitter:hue=0.1,saturation=0.2,hflip", **KW)],
         check(lambda v: v == ["color_jitter:hue=0.1,saturation=0.2", "hflip"], "two groups, options kept together")),
    Case("api-model-none", lambda fx: invmeter.score(None, **KW), Error(r"'model' parameter .*Got NoneType")),
    Case("api-transform-number", lambda fx: score(transform=42), Error(r"must be a spec such as 'rotation'")),
    Case("api-transform-none", lambda fx: score(transform=None),
         Error(r"'transform' parameter must be a spec such as 'rotation'.*Got NoneType")),
    Case("api-module-with-weights", lambda fx: score(weights="random"),
         Error(r"'weights' setting applies to model spec")),
    Case("api-n-images-fraction", lambda fx: score(n_images=8.5), Error(r"'n_images' .*Got 8\.5")),
    Case("api-image-size-float", lambda fx: score(image_size=16.0), Error(r"'image_size' .*Got 16\.0\. Give a whole")),
    Case("api-batch-size-bool", lambda fx: score(batch_size=True), Error(r"'batch_size' .*Got True")),
    Case("api-metrics-list-unknown", lambda fx: score(metrics=["invariance", "nosuch"]),
         Error(r"Unknown metric 'nosuch'")),
    Case("api-mean-four-values", lambda fx: score(mean=(0.5,) * 4, std=(0.5,) * 4),
         Error(r"'mean' parameter must be 1 or 3")),
    Case("api-layers-empty-list", lambda fx: score(layers=[]), Error(r"'layers' parameter must be 'blocks' or module")),
    Case("edge-determinism-same-seed", lambda fx: _identical_reports(),
         check(lambda v: v is True, "identical reports")),
    Case("edge-handle-from-load-model", lambda fx: score(invmeter.load_model("adversarial_models:hflip_invariant",
                                                                             image_size=16), data=str(fx.labelled)),
         check(lambda r: r["invariance"] == 1.0, "invariance 1.0")),
    Case("api-weights-warning-points-at-caller", lambda fx: score("cifar:resnet18?width=0.125", mean=None, std=None),
         Warns(r"RANDOMLY INITIALISED.*\[.*adversarial_cases_api\.py\]")),
    Case("api-constant-model-warns", lambda fx: score(users(odd.constant)),
         warns(r"undefined.*identical for every image", _all_null, "every metric null, with a warning")),
    Case("silent-1-class-collapsed", lambda fx: score(data=_collapsed_classes(), n_images=None, n_classes=10),
         warns(r"l2_ratio.*collapses", lambda r: values(r)["l2_ratio"] is None, "l2_ratio null")),
    Case("api-undefined-metric-not-a-number",
         lambda fx: score(users(odd.constant_classifier), metrics="invariance,cka,goodfellow,consistency"),
         warns(r"undefined", lambda r: all(v is None for v in values(r).values()), "every metric null")),
]


_DATA = [
    Case("images-png16-equals-its-high-byte", _pair(_folder_values, "png16", "png16_as_8bit"),
         check(lambda v: v[0] == v[1] and v[0]["invariance"] is not None, "identical metrics")),
    Case("images-modes-read-as-rgb", _same_pixels, check(lambda wrong: wrong == [], "no mismatching file")),
    Case("images-modes-score-as-rgb", _pair(_folder_values, "modes_mixed", "modes_rgb"),
         check(lambda v: v[0] == v[1] and v[0]["invariance"] is not None, "identical metrics")),
    Case("edge-tensor-data-invariant",
         lambda fx: score(users(odd.hflip_invariant), data=_tensor_images(), n_images=None),
         check(lambda r: r["invariance"] == 1.0, "invariance 1.0")),
    Case("edge-dataloader-equals-tensors", lambda fx: (
        values(score(data=DataLoader(TensorDataset(*_tensor_images()), batch_size=3), n_images=None)),
        values(score(data=_tensor_images(), n_images=None))), check(lambda v: v[0] == v[1], "identical metrics")),
    Case("api-tensor-3d", lambda fx: score(data=torch.rand(4, 3, 8)), Error(r"must be \(N, 3, H, W\)")),
    Case("edge-tensor-grayscale", lambda fx: score(data=_tensor_images()[0][:, :1], n_images=None),
         check(lambda r: r["invariance"] <= 1.0 and r.data["n_images"] == 8, "a defined invariance on 8 images")),
    Case("api-tensor-empty", lambda fx: score(data=torch.rand(0, 3, 8, 8)), Error(r"with N >= 1; got \(0, 3, 8, 8\)")),
    Case("api-tensor-label-count", lambda fx: score(data=(torch.rand(4, 3, 8, 8), torch.tensor([0, 1]))),
         Error(r"Got 4 images but 2 labels")),
    Case("api-tensor-normalised", lambda fx: score(data=torch.rand(8, 3, 8, 8) * 4 - 2), Error(r"must be in \[0, 1\]")),
    Case("api-tensor-nan-pixels", lambda fx: score(data=torch.full((8, 3, 8, 8), float("nan"))),
         Error(r"The image tensor has NaN or infinite values")),
    Case("api-data-dict", lambda fx: score(data={"not": "data"}), Error(r"must be 'transforms2d', a Transforms2D")),
    Case("api-data-number", lambda fx: score(data=3), Error(r"must be 'transforms2d'")),
    Case("api-folder-too-few-images", lambda fx: score(data=str(fx.labelled), n_images=9),
         Error(r"asks for 9 images but the data has 8")),
    Case("api-make-transforms2d-one-class", lambda fx: make_transforms2d(n_classes=1), Error(r"'n_classes' .*Got 1")),
    Case("api-make-transforms2d-huge", lambda fx: make_transforms2d(image_size=100000),
         Error(r"'image_size' .*100000")),
    Case("api-make-transforms2d-list", lambda fx: make_transforms2d(transforms="rotation,blur"),
         Error(r"compose families with '\+': 'rotation\+blur' instead of 'rotation,blur'")),
]

_SWEEP = [
    Case("api-sweep-no-magnitudes", lambda fx: invmeter.sweep(users(odd.features), "rotation", [], **KW),
         Error(r"Give at least one magnitude")),
    Case("api-sweep-magnitudes-string", lambda fx: invmeter.sweep(users(odd.features), "rotation", "0,90", **KW),
         Error(r"'magnitudes' parameter must be a list such as \[0, 15, 30\].*Got the string '0,90'")),
    Case("api-sweep-composition", lambda fx: invmeter.sweep(users(odd.features), "rotation+blur", [0], **KW),
         Error(r"A sweep varies one family")),
    Case("api-sweep-seeds", lambda fx: invmeter.sweep(users(odd.features), "rotation", [0], seeds=[0, 1], **KW),
         Error(r"A sweep takes one seed")),
    Case("api-sweep-nan-magnitude", lambda fx: invmeter.sweep(users(odd.features), "rotation", [float("nan")], **KW),
         Error(r"magnitude of transform 'rotation' must be finite\. Got 'nan'")),
    Case("api-sweep-callable", lambda fx: invmeter.sweep(users(odd.features), lambda x: x, [0], **KW),
         Error(r"A sweep needs a transform spec such as 'rotation'.*a callable has none")),
    Case("edge-sweep-numpy-magnitudes", lambda fx: [r.magnitude for r in invmeter.sweep(
        users(odd.features), "rotation", np.array([0, 90]), **KW)], check(lambda m: m == [0.0, 90.0], "[0.0, 90.0]")),
    Case("edge-sweep-zero-is-identity", lambda fx: invmeter.sweep(users(odd.features), "rotation", [0], **KW)[0],
         check(lambda r: r["invariance"] == 1.0, "invariance 1.0 at magnitude 0")),
]

_SETTINGS = [
    Case("api-settings-unknown", lambda fx: ScoreSettings.create(bootstrap=10), Error(r"Unknown setting bootstrap")),
    Case("api-settings-n-boot-negative", lambda fx: ScoreSettings(n_boot=-1), Error(r"'n_boot' .*Got -1")),
    Case("api-settings-seeds-empty", lambda fx: ScoreSettings.create(seeds=[]), Error(r"'seeds' parameter is empty")),
    Case("api-settings-seeds-duplicate", lambda fx: ScoreSettings.create(seeds="2,2"),
         Error(r"lists 2 more than once")),
    Case("api-settings-seeds-fraction", lambda fx: ScoreSettings.create(seeds=[0, 1.5]), Error(r"'seeds' .*Got 1\.5")),
    Case("api-settings-metrics-unknown", lambda fx: ScoreSettings.create(metrics="nosuch"),
         Error(r"Unknown metric 'nosuch'")),
    Case("api-settings-device-number", lambda fx: ScoreSettings(device=3), Error(r"Unknown device '3'")),
    Case("api-settings-labels-none", lambda fx: ScoreSettings(labels=None),
         Error(r"'labels' parameter must be one of")),
    Case("edge-settings-seeds-string", lambda fx: ScoreSettings.create(seeds="3,1,2"),
         check(lambda s: s.seeds == (3, 1, 2) and s.seed == 3, "seeds (3, 1, 2), seed 3")),
    Case("edge-settings-one-mean", lambda fx: ScoreSettings.create(mean="0.5", std="0.25"),
         check(lambda s: s.mean == (0.5,) * 3 and s.std == (0.25,) * 3, "per-channel stats")),
]

_MODELS = [
    Case("api-load-model-empty", lambda fx: invmeter.load_model(""), Error(r"non-empty string")),
    Case("api-load-model-none", lambda fx: invmeter.load_model(None), Error(r"non-empty string")),
    Case("api-load-model-weights-number", lambda fx: invmeter.load_model("cifar:resnet18", weights=42),
         Error(r"'weights' parameter must be one of auto, pretrained, random, a file path .*Got int 42")),
    Case("api-load-model-image-size-tiny", lambda fx: invmeter.load_model("adversarial_models:features", image_size=3),
         Error(r"'image_size' .*Got 3")),
    Case("api-load-model-width-text", lambda fx: invmeter.load_model("cifar:resnet18?width=abc"),
         Error(r"Bad number in 'cifar:resnet18\?width=abc'")),
    Case("api-train-config-seed-negative", lambda fx: TrainConfig(seed=-1), Error(r"'seed' .*Got -1")),
    Case("api-train-config-seed-fraction", lambda fx: TrainConfig(seed=0.5), Error(r"'seed' .*Got 0\.5")),
    Case("api-train-config-vgg-16px", lambda fx: TrainConfig.for_transforms2d(arch="cifar:vgg11", image_size=16),
         Error(r"cifar:vgg11 needs images of at least 32 pixels")),
    Case("api-train-config-data", lambda fx: TrainConfig(data=42), Error(r"'data' parameter must be a dataset")),
    Case("api-train-config-redraw-text", lambda fx: TrainConfig(redraw="no"),
         Error(r"'redraw' parameter must be True or False. Got 'no'")),
    Case("api-redrawn-split-without-transforms", lambda fx: RedrawnSplit(Transforms2D(objects=(0, 1)), "train", 8, 0),
         Error(r"Only a Transforms-2D dataset with transforms can be drawn again every epoch")),
    Case("api-redrawn-split-epoch-zero", lambda fx: RedrawnSplit(
        Transforms2D(objects=(0, 1), transforms=invmeter.parse_transform("rotation"), image_size=16), "train", 8,
        0).images(0), Error(r"'epoch' parameter must be an integer >= 1")),
]

_TRANSFORMS = [
    Case("api-parse-transform-empty", lambda fx: invmeter.parse_transform(""), Error(r"A transform must be a name")),
    Case("api-parse-transform-none", lambda fx: invmeter.parse_transform(None), Error(r"A transform must be a name")),
    Case("api-parse-transform-huge", lambda fx: invmeter.parse_transform("rotation:1e999"),
         Error(r"magnitude of transform 'rotation' must be finite\. Got '1e999'")),
    Case("api-parse-transform-negative-blur", lambda fx: invmeter.parse_transform("blur:-1"),
         Error(r"magnitude of transform 'blur' must be in \[0, 10\].*Got -1")),
    Case("api-parse-transform-option-unknown", lambda fx: invmeter.parse_transform("blur:sigma=2"),
         Error(r"Transform 'blur' has no option 'sigma'")),
    Case("api-parse-transform-typo", lambda fx: invmeter.parse_transform("hfilp"),
         Error(r"Unknown transform 'hfilp'.*hflip")),
    Case("edge-parse-transform-spaces", lambda fx: str(invmeter.parse_transform(" rotation:45 + blur ")),
         check(lambda s: s.replace(" ", "") == "rotation:45+blur", "rotation:45+blur")),
]

_STREAMING = [
    Case("api-metric-reservoir-one", lambda fx: InvarianceMetric(reservoir=1), Error(r"'reservoir' .*>= 2")),
    Case("api-metric-seed-fraction", lambda fx: InvarianceMetric(seed=1.5), Error(r"'seed' .*Got 1\.5")),
    Case("api-metric-compute-empty", lambda fx: InvarianceMetric().compute(), Error(r"no samples; call update\(\)")),
    Case("api-metric-nan", lambda fx: _metric_updated(_nan_z(), _z()), Error(r"'z' holds NaN or Inf")),
    Case("api-metric-shapes", lambda fx: _metric_updated(_z(), _z(d=5)),
         Error(r"'z' and 'z_t' must have the same shape")),
    Case("api-metric-model-without-transform", lambda fx: _metric_updated(users(odd.features), torch.rand(4, 3, 8, 8)),
         Error(r"needs a transform")),
    Case("api-metric-seed-negative", lambda fx: InvarianceMetric(seed=-1), Error(r"'seed' .*Got -1")),
    Case("api-metric-mean-without-std", lambda fx: InvarianceMetric(mean=(0.5,)), Error(r"Give both 'mean' and 'std'")),
    Case("api-metric-one-sample", lambda fx: _metric_updated(_z(1), _z(1)).compute(), Error(r"at least 2 images")),
    Case("api-metric-float-labels", lambda fx: _metric_updated(_z(), _z(), torch.rand(16)),
         Error(r"'labels' must hold")),
    Case("edge-metric-exact", lambda fx: _metric_updated(_z(), _z()).compute()["invariance"],
         check(lambda v: v == 1.0, "1.0")),
    Case("edge-metric-model-invariant", lambda fx: _streamed_invariance(users(odd.hflip_invariant), "hflip"),
         check(lambda v: v == 1.0, "1.0")),
]

_PROBE = [
    Case("api-probe-c-zero", lambda fx: LinearProbe(C=0).fit(*_separable()), Error(r"'C' parameter of LinearProbe")),
    Case("api-probe-solver-unknown", lambda fx: LinearProbe(solver="svm").fit(*_separable()),
         Error(r"'solver' parameter of LinearProbe must be one of .*Got 'svm'")),
    Case("api-probe-nan-features", lambda fx: LinearProbe().fit(_nan_z(), np.arange(16) % 2),
         Error(r"features contain NaN or Inf")),
    Case("api-probe-nan-numpy", lambda fx: LinearProbe().fit(_nan_z().numpy(), np.arange(16) % 2),
         Error(r"features are unusable: Input contains NaN")),
    Case("api-probe-not-fitted", lambda fx: LinearProbe().predict(_z()), Error(r"not fitted yet")),
    Case("api-probe-length-mismatch", lambda fx: LinearProbe().fit(_z(), np.arange(15) % 2),
         Error(r"got 16 feature rows but 15 labels")),
    Case("api-probe-one-class", lambda fx: LinearProbe().fit(_z(), np.zeros(16)),
         Error(r"LinearProbe needs at least 2 classes in y; got 1 class")),
    Case("api-probe-feature-count", lambda fx: LinearProbe().fit(*_separable()).predict(_z(4, 5)),
         Error(r"X has 5 features, but LinearProbe is expecting 3")),
    Case("edge-probe-separable", lambda fx: _probe_accuracy(), check(lambda v: v == 1.0, "accuracy 1.0")),
]

_FUNCTIONAL = [
    Case("edge-functional-exact", lambda fx: F.invariance(_z(), _z()), check(lambda v: v == 1.0, "1.0")),
    Case("edge-functional-constant-is-nan", lambda fx: F.invariance(torch.ones(8, 3), torch.ones(8, 3)),
         warns(r"invariance undefined \(NaN\): the representations of the clean images are identical", math.isnan,
               "NaN with the report's reason (documented: blind, not invariant)")),
    Case("silent-functional-l2-collapsed-was-inf", lambda fx: F.l2_ratio(torch.eye(2)[torch.arange(8) % 2],
                                                                          torch.arange(8) % 2),
         warns(r"l2_ratio undefined \(NaN\): every class collapses", math.isnan, "NaN, as a report's null")),
    Case("api-functional-shapes", lambda fx: F.invariance(_z(), _z(8)),
         Error(r"'z' and 'z_t' must have the same shape")),
    Case("api-functional-nan", lambda fx: F.invariance(_nan_z(), _z()), Error(r"'z' holds NaN or Inf")),
    Case("api-functional-1d", lambda fx: F.invariance(torch.ones(8), torch.ones(8)), Error(r"must be 2-D \(N, D\)")),
    Case("api-functional-one-image", lambda fx: F.invariance(_z(1), _z(1)), Error(r"at least 2 images")),
    Case("api-functional-numpy", lambda fx: F.invariance(_z().numpy(), _z().numpy()),
         Error(r"must be a torch\.Tensor")),
    Case("api-functional-l2-one-class", lambda fx: F.l2_ratio(_z(), torch.zeros(16, dtype=torch.long)),
         Error(r"l2_ratio needs at least 2 classes")),
    Case("api-functional-consistency-empty", lambda fx: F.consistency(torch.ones(0, 3), torch.ones(0, 3)),
         Error(r"at least one image")),
    Case("api-functional-labels-negative", lambda fx: F.l2_ratio(_z(), -torch.ones(16, dtype=torch.long)),
         Error(r"'labels' must be non-negative class indices")),
]

_ZOO = [
    Case("api-zoo-seeds", lambda fx: invmeter.zoo(["adversarial_models:features"], out=fx.out / "z", seeds=[0, 1]),
         Error(r"The zoo scores each model at one seed")),
    Case("api-zoo-no-patterns", lambda fx: invmeter.zoo([], out=fx.out / "z"), Error(r"at least one model pattern")),
    Case("api-zoo-pattern-string", lambda fx: invmeter.zoo("adversarial_models:features", out=fx.out / "z"),
         Error(r"at least one model pattern")),
    Case("api-zoo-tensor-data",
         lambda fx: invmeter.zoo(["adversarial_models:features"], out=fx.out / "z", data=torch.rand(4, 3, 8, 8)),
         Error(r"'transforms2d' or a folder")),
    Case("api-zoo-setting-unknown", lambda fx: invmeter.zoo(["adversarial_models:features"], out=fx.out / "z", sed=1),
         Error(r"Unknown setting sed")),
]

def _tiny_labelled() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.rand(8, 3, 16, 16, generator=torch.Generator().manual_seed(0)), torch.arange(8) % 2


def select(models: Any, data: Any = None, **options: Any) -> Any:
    """``invmeter.select`` on 8 labelled random images at the tiny settings, ``options`` overriding."""
    kw = {"image_size": 16, "n_boot": 0, "mean": (0.5,), "std": (0.5,)}
    return invmeter.select(models, _tiny_labelled() if data is None else data, ["hflip"], **{**kw, **options})


_SELECT = [
    Case("api-select-models-string", lambda fx: select("adversarial_models:features"),
         Error(r"non-empty list of candidates")),
    Case("api-select-candidate-type", lambda fx: select([42]), Error(r"A candidate model must be a spec")),
    Case("api-select-unlabelled-tensor", lambda fx: select(["adversarial_models:features"], torch.rand(8, 3, 16, 16)),
         Error(r"needs labelled target data")),
    Case("api-select-seeds", lambda fx: select(["adversarial_models:features"], seeds=[0, 1]), Error(r"one seed")),
    Case("api-select-setting-unknown", lambda fx: select(["adversarial_models:features"], sed=1),
         Error(r"Unknown setting sed")),
    Case("api-select-test-fraction", lambda fx: select(["adversarial_models:features"], evaluate=True, test_fraction=0),
         Error(r"'test_fraction' parameter must be in \(0, 1\)")),
    Case("edge-select-a-module", lambda fx: select([users(odd.features)]).ranking,
         check(lambda v: len(v) == 1, "one ranked model")),
]

def _finetune_parameter_free() -> Any:
    """``finetune_last_layer`` of a model without parameters (a bare ``nn.Flatten``) on 8 labelled images."""
    images, labels = _tiny_labelled()
    split = BuiltSplit(images=images.mul(255).to(torch.uint8).numpy(), labels=labels.numpy(), spec={})
    settings = ScoreSettings.create(image_size=16, mean=0.5, std=0.5)
    handle = users(lambda: invmeter.api.resolve_model(torch.nn.Flatten(), settings))  # the user's own model
    return invmeter.finetune_last_layer(handle, split)


_FINETUNE = [
    Case("api-finetune-no-parameters", lambda fx: _finetune_parameter_free(),
         Error(r"The model 'Flatten' has no parameters: there is no trained backbone to freeze")),
]


def _calling(api: str, cases: list[Case]) -> list[Case]:
    return [replace(case, api=api) for case in cases]


API_CASES: list[Case] = [
    *_calling("score()", _SCORE), *_calling("score(data=...)", _DATA), *_calling("sweep()", _SWEEP),
    *_calling("ScoreSettings", _SETTINGS), *_calling("load_model(), TrainConfig", _MODELS),
    *_calling("parse_transform()", _TRANSFORMS), *_calling("InvarianceMetric", _STREAMING),
    *_calling("LinearProbe", _PROBE), *_calling("invmeter.functional", _FUNCTIONAL), *_calling("zoo()", _ZOO),
    *_calling("select()", _SELECT), *_calling("finetune_last_layer()", _FINETUNE),
]
