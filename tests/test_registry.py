"""The metric registry: every metric has a reference computation here (a new metric without one fails), each metric's
value and interval are the same alone and with all others, degenerate representations give reasons, not numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.linear_model import LogisticRegression, Ridge

from invmeter.errors import DataError
from invmeter.metrics import MetricContext, compute_metrics, get_metric, list_metrics
from invmeter.metrics.context import stratified_split, stream_id
from invmeter.metrics.equivariance import RIDGE
from invmeter.metrics.invariance import derangement
from invmeter.types import MetricValue, Representations

N, D, K = 120, 12, 3


def _reps(seed: int = 0, twins: bool = True) -> Representations:
    rng = np.random.default_rng(seed)
    labels = np.arange(N) % K
    centres = rng.normal(size=(K, D)) * 2
    clean = centres[labels] + rng.normal(size=(N, D))
    transformed = clean @ (np.eye(D) + 0.1 * rng.normal(size=(D, D))) + 0.3 * rng.normal(size=(N, D))
    reference = torch.arange(N) ^ 1 if twins else None
    return Representations(torch.tensor(clean, dtype=torch.float32), torch.tensor(transformed, dtype=torch.float32),
                           torch.tensor(labels), None, None, "test", reference=reference)


def _z(reps: Representations) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return reps.clean.double().numpy(), reps.transformed.double().numpy(), reps.labels.numpy()


def _ratio(z: np.ndarray, zt: np.ndarray, ref: np.ndarray) -> float:
    return np.linalg.norm(z - zt, axis=1).mean() / np.linalg.norm(z - z[ref], axis=1).mean()


def _logistic(x_train: np.ndarray, y_train: np.ndarray) -> tuple[LogisticRegression, np.ndarray, np.ndarray]:
    mu, sd = x_train.mean(0), x_train.std(0)
    return LogisticRegression(C=1.0, max_iter=5000, tol=1e-10).fit((x_train - mu) / sd, y_train), mu, sd


def _clean_probe(reps: Representations) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    z, zt, y = _z(reps)
    train, test = stratified_split(reps.labels, 0.5, 0)
    probe, mu, sd = _logistic(z[train], y[train])
    return probe.predict((z[test] - mu) / sd), probe.predict((zt[test] - mu) / sd), y[test]


def _probe_accuracy(reps: Representations) -> float:
    _, zt, y = _z(reps)
    train, test = stratified_split(reps.labels, 0.5, 0)
    probe, mu, sd = _logistic(zt[train], y[train])
    return float((probe.predict((zt[test] - mu) / sd) == y[test]).mean())


def _l2_ratio(reps: Representations) -> float:
    _, zt, y = _z(reps)
    dist = np.linalg.norm(zt[:, None] - zt[None], axis=2)
    same = y[:, None] == y[None]
    return float(dist[~same].mean() / dist[same & ~np.eye(N, dtype=bool)].mean())


def _equivariance(reps: Representations) -> float:
    """Held-out R² of scikit-learn's Ridge predicting z' - z from z (one group: every image's effect is the same)."""
    z, zt, _ = _z(reps)
    train, test = stratified_split(reps.labels, 0.5, 0)
    zc = z[train] - z[train].mean(0)
    ridge = Ridge(alpha=RIDGE * (zc**2).sum() / D + 1e-12).fit(z[train], zt[train] - z[train])
    prediction = z[test] + ridge.predict(z[test])
    return float(1 - ((zt[test] - prediction) ** 2).sum() / ((zt[test] - zt[train].mean(0)) ** 2).sum())


REFERENCES = {
    "invariance": lambda reps: 1 - _ratio(*_z(reps)[:2], reps.reference.numpy()),
    "paired_distance_ratio": lambda reps: _ratio(*_z(reps)[:2], derangement(
        N, np.random.default_rng([0, stream_id("paired_distance_ratio")]))),
    "l2_ratio": _l2_ratio,
    "probe_accuracy": _probe_accuracy,
    "clean_accuracy": lambda reps: float(np.mean(_clean_probe(reps)[0] == _clean_probe(reps)[2])),
    "transformed_accuracy": lambda reps: float(np.mean(_clean_probe(reps)[1] == _clean_probe(reps)[2])),
    "accuracy_delta": lambda reps: float(np.mean(_clean_probe(reps)[1] == _clean_probe(reps)[2])
                                         - np.mean(_clean_probe(reps)[0] == _clean_probe(reps)[2])),
    "consistency": lambda reps: float(np.mean(_clean_probe(reps)[0] == _clean_probe(reps)[1])),
    "equivariance": _equivariance,
}
TOLERANCE = {"probe_accuracy": 1.5 / (N // 2), "clean_accuracy": 1.5 / (N // 2), "transformed_accuracy": 1.5 / (N // 2),
             "accuracy_delta": 2.5 / (N // 2), "consistency": 1.5 / (N // 2)}


@pytest.mark.parametrize("name", list_metrics())
def test_every_metric_agrees_with_its_reference(name: str) -> None:
    assert name in REFERENCES, f"metric {name!r} has no reference computation in tests/test_registry.py"
    reps = _reps()
    ctx = MetricContext(reps, n_boot=0, groups=np.zeros(N, dtype=np.int64), inputs={"lie_derivative": {"test": reps_lee(reps)}})
    value = ctx.evaluate([name])[name]
    assert value.value == pytest.approx(REFERENCES[name](reps), abs=TOLERANCE.get(name, 1e-6))


@pytest.mark.parametrize("name", list_metrics())
def test_a_metric_is_the_same_alone_and_with_all_others(name: str) -> None:
    reps, groups = _reps(3), np.zeros(N, dtype=np.int64)
    inputs = {"lie_derivative": {"test": reps_lee(reps)}}
    alone = MetricContext(reps, seed=5, n_boot=200, groups=groups, inputs=inputs).evaluate([name])[name]
    everything = MetricContext(reps, seed=5, n_boot=200, groups=groups, inputs=inputs)
    together = everything.evaluate(list(reversed(list_metrics())))[name]
    assert alone.to_dict() == together.to_dict()


@pytest.mark.parametrize("name", ["invariance", "probe_accuracy", "consistency"])
def test_intervals_agree_with_scipy_bootstrap(name: str) -> None:
    """The percentile bootstrap over images agrees with scipy.stats.bootstrap's (different draws: within Monte Carlo
    error) for a ratio of means and for means of per-image values."""
    reps = _reps(1)
    ours = compute_metrics(reps, metrics=[name], n_boot=4000)[name]
    z, zt, _ = _z(reps)
    if name == "invariance":
        d, r = np.linalg.norm(z - zt, axis=1), np.linalg.norm(z - z[reps.reference.numpy()], axis=1)
        data, statistic = (d, r), lambda a, b, axis=-1: 1 - a.mean(axis=axis) / b.mean(axis=axis)
    else:
        clean, transformed, truth = _clean_probe(reps)
        per_image = (transformed == truth) if name == "probe_accuracy" else (clean == transformed)
        if name == "probe_accuracy":
            train, test = stratified_split(reps.labels, 0.5, 0)
            probe, mu, sd = _logistic(zt[train], reps.labels.numpy()[train])
            per_image = probe.predict((zt[test] - mu) / sd) == reps.labels.numpy()[test]
        data, statistic = (per_image.astype(float),), lambda a, axis=-1: a.mean(axis=axis)
    ref = stats.bootstrap(data, statistic, paired=True, n_resamples=4000, method="percentile",
                          random_state=np.random.default_rng(0)).confidence_interval
    width = ref.high - ref.low
    assert ours.ci95[0] == pytest.approx(ref.low, abs=0.1 * width + 1e-9)
    assert ours.ci95[1] == pytest.approx(ref.high, abs=0.1 * width + 1e-9)


def test_constant_representations_give_reasons_not_numbers() -> None:
    reps = _reps()
    constant = Representations(torch.ones(N, D), torch.ones(N, D), reps.labels, None, None, "test")
    values = compute_metrics(constant, n_boot=50)
    assert values and all(not v.defined and "identical for every image" in v.reason for v in values.values())
    assert all(v.to_dict()["value"] is None and v.to_dict()["reason"] for v in values.values())


def test_a_reference_change_that_does_not_move_the_representation_is_undefined() -> None:
    reps = _reps()
    blind = Representations(reps.clean, reps.transformed, reps.labels, None, None, "test",
                            reference=torch.arange(N))  # each image its own reference: zero reference distance
    value = compute_metrics(blind, metrics=["invariance"], n_boot=50)["invariance"]
    assert not value.defined and "does not move the representation" in value.reason


def test_nan_or_inf_representations_are_an_error_with_the_fraction() -> None:
    reps = _reps()
    bad = reps.transformed.clone()
    bad[::3, 0] = float("nan")
    with pytest.raises(DataError, match=r"NaN or Inf for 40 of 120 images \(33%\)"):
        compute_metrics(Representations(reps.clean, bad, reps.labels, None, None, "test"))


def test_collapsed_classes_make_l2_ratio_undefined_not_infinite() -> None:
    z = torch.tensor(np.repeat(np.eye(3) * 5, 10, axis=0), dtype=torch.float32)
    labels = torch.tensor(np.repeat(np.arange(3), 10))
    value = compute_metrics(Representations(z + 1, z, labels, None, None, "t"), metrics=["l2_ratio"])["l2_ratio"]
    assert not value.defined and "collapses to a single point" in value.reason


def test_metric_metadata_is_complete() -> None:
    for name in list_metrics():
        m = get_metric(name)
        assert m.formula and m.reading and m.bounds[0] < m.bounds[1] and m.needs <= {"labels", "fixed", "logits", "model", "probe"}
        assert set(m.to_dict()) == {"name", "formula", "reading", "direction", "bounds", "needs", "default",
                                    "per_layer", "reduction", "sweep"}
    ctx = MetricContext(_reps())
    assert isinstance(ctx.evaluate(["invariance"])["invariance"], MetricValue)


def _cka(reps: Representations) -> float:
    """Debiased linear CKA (Nguyen et al. 2021): unbiased HSIC of centred linear Gram matrices, in numpy."""
    z, zt, _ = _z(reps)

    def hsic(k: np.ndarray, l: np.ndarray) -> float:
        n = len(k)
        k, l = k - np.diag(np.diag(k)), l - np.diag(np.diag(l))
        return float((np.trace(k @ l) + k.sum() * l.sum() / ((n - 1) * (n - 2)) - 2 / (n - 2) * (k @ l).sum())
                     / (n * (n - 3)))

    x, y = z - z.mean(0), zt - zt.mean(0)
    k, l = x @ x.T, y @ y.T
    return hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l))


def _unit_terms(reps: Representations) -> tuple[np.ndarray, np.ndarray]:
    a, b, _ = _z(reps)
    return a, b


def _normalized_variance(reps: Representations) -> float:
    a, b = _unit_terms(reps)
    tv = np.abs(a - b).mean(0) / np.sqrt(2)
    sv = (a.std(0, ddof=1) + b.std(0, ddof=1)) / 2
    return float((tv / sv).mean())


def _anova_variant(reps: Representations) -> float:
    a, b = _unit_terms(reps)
    n = len(a)
    f = n * (a.mean(0) - b.mean(0)) ** 2 / 2 / (((a - a.mean(0)) ** 2 + (b - b.mean(0)) ** 2).sum(0) / (2 * n - 2))
    return float((f > stats.f.isf(0.01 / a.shape[1], 1, 2 * n - 2)).mean())


def _goodfellow(reps: Representations) -> float:
    a, b = _unit_terms(reps)
    m = max(2, len(a) // 4)  # thresholds from the first quarter's clean views, firing counted on the others
    theta = a[:m].mean(0) + stats.norm.ppf(0.99) * a[:m].std(0, ddof=1)
    a, b = a[m:], b[m:]
    g = (a > theta).mean(0)
    both = ((a > theta) & (b > theta)).mean(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = both / g / g
    return float(ratio[np.isfinite(ratio)].mean())


def _lie_derivative(reps: Representations) -> float:
    return float(reps_lee(reps).mean())


def reps_lee(reps: Representations) -> np.ndarray:
    """The per-image Lie derivatives these tests hand the metric (it needs a gradient pass the pipeline runs)."""
    return np.linspace(0.5, 1.5, len(reps))


REFERENCES.update({"cka": _cka, "normalized_variance": _normalized_variance, "anova_variant": _anova_variant,
                   "goodfellow": _goodfellow, "lie_derivative": _lie_derivative})
