"""Metrics against NumPy/scikit-learn reference computations and constructed known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from invmeter.errors import DataError, InvalidParameterError, UnknownNameError
from invmeter.metrics import LinearProbe, compute_metrics, default_metrics, stratified_split
from invmeter.metrics.bootstrap import percentile_ci, resample_weights
from invmeter.metrics.distances import class_distance_sums, l2_ratio_from_sums
from invmeter.metrics.invariance import derangement, invariance_from_terms, invariance_terms
from invmeter.types import Representations


def _reps(clean: np.ndarray, transformed: np.ndarray, labels: np.ndarray) -> Representations:
    return Representations(
        clean=torch.tensor(clean, dtype=torch.float32),
        transformed=torch.tensor(transformed, dtype=torch.float32),
        labels=torch.tensor(labels),
        logits_clean=None,
        logits_transformed=None,
        layer="test",
        layers={},
        seconds={},
    )


def _features(
    n: int = 120, d: int = 16, k: int = 4, seed: int = 0, centre_seed: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % k
    centres = (rng if centre_seed is None else np.random.default_rng(centre_seed)).normal(size=(k, d)) * 2
    clean = centres[labels] + rng.normal(size=(n, d))
    transformed = clean + 0.5 * rng.normal(size=(n, d))
    return clean.astype(np.float32), transformed.astype(np.float32), labels


def test_derangement_has_no_fixed_points_and_is_a_permutation() -> None:
    for n in (2, 3, 10, 101):
        perm = derangement(n, np.random.default_rng(n))
        assert sorted(perm.tolist()) == list(range(n))
        assert not np.any(perm == np.arange(n))


def test_invariance_matches_numpy_reference() -> None:
    clean, transformed, _ = _features()
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    d, r = invariance_terms(torch.tensor(clean), torch.tensor(transformed), rng_a)
    perm = derangement(len(clean), rng_b)
    c64, t64 = clean.astype(np.float64), transformed.astype(np.float64)
    expected = 1 - np.linalg.norm(c64 - t64, axis=1).mean() / np.linalg.norm(c64 - c64[perm], axis=1).mean()
    assert invariance_from_terms(d, r) == pytest.approx(expected, abs=1e-6)


def test_l2_ratio_matches_numpy_reference_over_all_pairs() -> None:
    _, transformed, labels = _features(n=90, k=3)
    z = transformed.astype(np.float64)
    dist = np.linalg.norm(z[:, None] - z[None], axis=2)
    same = labels[:, None] == labels[None]
    off_diag = ~np.eye(len(z), dtype=bool)
    expected = dist[~same].mean() / dist[same & off_diag].mean()
    for block in (7, 1024):  # blockwise result does not depend on the block size
        sums = class_distance_sums(torch.tensor(transformed), torch.tensor(labels), block=block)
        assert l2_ratio_from_sums(sums) == pytest.approx(expected, rel=1e-9)


def test_identical_views_are_perfectly_invariant_without_nan() -> None:
    clean, _, labels = _features()
    values = compute_metrics(_reps(clean, clean, labels), n_boot=200)
    assert values["invariance"].value == 1.0
    assert values["accuracy_delta"].value == 0.0
    assert values["consistency"].value == 1.0
    assert values["probe_accuracy"].value == values["clean_accuracy"].value
    assert all(np.isfinite(v.value) and np.all(np.isfinite(v.ci95)) for v in values.values())


def test_l2_ratio_is_finite_when_classes_collapse_to_points() -> None:
    z = np.repeat(np.eye(3, dtype=np.float32) * 5, 10, axis=0)
    sums = class_distance_sums(torch.tensor(z), torch.tensor(np.repeat(np.arange(3), 10)))
    assert l2_ratio_from_sums(sums) == float("inf")  # zero within-class spread: perfectly separated, not NaN
    z = z + np.random.default_rng(0).normal(scale=1e-3, size=z.shape).astype(np.float32)
    sums = class_distance_sums(torch.tensor(z), torch.tensor(np.repeat(np.arange(3), 10)))
    assert 1000 < l2_ratio_from_sums(sums) < 1e6


def test_probe_matches_scikit_learn_logistic_regression() -> None:
    clean, _, labels = _features(n=400, d=32, k=5, seed=1)
    x_train, x_test, y_train, y_test = clean[:200], clean[200:], labels[:200], labels[200:]
    ours = LinearProbe(solver="lbfgs", C=1.0).fit(torch.tensor(x_train), torch.tensor(y_train))
    mu, sd = x_train.mean(0), x_train.std(0)
    ref = LogisticRegression(C=1.0, max_iter=5000, tol=1e-10).fit((x_train - mu) / sd, y_train)
    assert ours.score(torch.tensor(x_test), y_test) == pytest.approx(ref.score((x_test - mu) / sd, y_test), abs=1 / 200)
    np.testing.assert_allclose(ours.coef_.numpy(), ref.coef_, atol=2e-3)


@pytest.mark.parametrize("n", [60, 400])  # fewer and more images than feature dimensions
def test_ridge_probe_matches_scikit_learn_ridge_classifier(n: int) -> None:
    from sklearn.linear_model import RidgeClassifier

    clean, _, labels = _features(n=n + 200, d=100, k=4, seed=3)
    x_train, x_test, y_train = clean[:n], clean[n:], labels[:n]
    ours = LinearProbe(solver="ridge").fit(torch.tensor(x_train), torch.tensor(y_train))
    mu, sd = x_train.mean(0), x_train.std(0)
    ref = RidgeClassifier(alpha=ours.alpha_).fit((x_train - mu) / sd, y_train)
    # scikit-learn regresses on -1/+1 targets where invmeter uses 0/1: its scores are 2 x ours - 1
    np.testing.assert_allclose(ref.decision_function((x_test - mu) / sd),
                               2 * ours.decision_function(torch.tensor(x_test)) - 1, atol=2e-3)


def test_ridge_strength_minimises_generalised_cross_validation() -> None:
    from invmeter.metrics.probe import RIDGE_GRID

    clean, _, labels = _features(n=120, d=20, k=3, seed=4)
    ours = LinearProbe(solver="ridge").fit(torch.tensor(clean), torch.tensor(labels))
    x = (clean - clean.mean(0)) / clean.std(0)
    y = np.eye(3)[labels] - np.eye(3)[labels].mean(0)
    scores = []
    for alpha in RIDGE_GRID * np.linalg.eigvalsh(x.T @ x).mean():  # brute force: explicit hat matrix per alpha
        hat = x @ np.linalg.solve(x.T @ x + alpha * np.eye(20), x.T)
        scores.append((((y - hat @ y) ** 2).sum() / (len(x) - np.trace(hat)) ** 2, alpha))
    assert ours.alpha_ == pytest.approx(min(scores)[1], rel=1e-6)


def test_auto_solver_is_logistic_for_small_and_ridge_for_large_training_sets() -> None:
    from invmeter.metrics.probe import AUTO_RIDGE_FROM, resolve_solver

    clean, _, labels = _features(n=200, d=8, k=2)
    assert LinearProbe().fit(torch.tensor(clean), torch.tensor(labels)).solver_ == "lbfgs"
    assert resolve_solver("auto", AUTO_RIDGE_FROM) == "ridge" and resolve_solver("adam", 10**6) == "adam"


def test_paper_probe_learns_separable_classes() -> None:
    clean, _, labels = _features(n=600, d=16, k=3, seed=2)
    probe = LinearProbe(solver="adam", epochs=60, lr=1e-2).fit(torch.tensor(clean[:300]), torch.tensor(labels[:300]))
    assert probe.score(torch.tensor(clean[300:]), labels[300:]) > 0.9


def test_probe_errors() -> None:
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="not fitted"):
        LinearProbe().predict(torch.zeros(2, 3))
    with pytest.raises(InvalidParameterError, match="'solver'"):
        LinearProbe(solver="sgd").fit(torch.zeros(4, 2), torch.tensor([0, 1, 0, 1]))


def test_split_is_by_image_stratified_and_disjoint() -> None:
    labels = torch.tensor(np.arange(100) % 5)
    train, test = stratified_split(labels, 0.5, seed=0)
    assert not set(train) & set(test) and len(train) + len(test) == 100
    assert np.bincount(labels.numpy()[train]).tolist() == [10] * 5
    again = stratified_split(labels, 0.5, seed=0)
    assert np.array_equal(train, again[0])


def test_bootstrap_interval_brackets_the_estimate_and_shrinks_with_n() -> None:
    rng = np.random.default_rng(0)
    widths = []
    for n in (50, 800):
        x = rng.normal(size=n)
        weights = resample_weights(n, 2000, np.random.default_rng(1))
        assert np.all(weights.sum(axis=1) == n)
        lo, hi = percentile_ci((weights @ x) / n)
        assert lo < x.mean() < hi
        widths.append(hi - lo)
        assert hi - lo == pytest.approx(2 * 1.96 * x.std() / np.sqrt(n), rel=0.15)
    assert widths[1] < widths[0] / 3


def test_l2_ratio_bootstrap_has_u_statistic_width() -> None:
    """The linearised bootstrap's spread matches the spread of l2_ratio over independent samples."""
    ratios, widths = [], []
    for seed in range(300):  # the spread of 300 ratios estimates their std to about 4%
        _, transformed, labels = _features(n=60, d=4, k=3, seed=100 + seed, centre_seed=0)
        values = compute_metrics(_reps(transformed, transformed, labels), metrics=["l2_ratio"], n_boot=400, seed=seed)
        ratios.append(values["l2_ratio"].value)
        widths.append(values["l2_ratio"].ci95[1] - values["l2_ratio"].ci95[0])
    # a 95% interval is about 3.92 standard deviations wide
    assert np.mean(widths) / 3.92 == pytest.approx(np.std(ratios), rel=0.15)


def test_metric_errors() -> None:
    clean, transformed, labels = _features()
    with pytest.raises(UnknownNameError, match="Did you mean 'invariance'"):
        compute_metrics(_reps(clean, transformed, labels), metrics=["invariants"])
    with pytest.raises(DataError, match="single class"):
        compute_metrics(_reps(clean, transformed, np.zeros(len(labels), dtype=int)))


def test_same_seed_same_values() -> None:
    clean, transformed, labels = _features()
    a = compute_metrics(_reps(clean, transformed, labels), seed=4, n_boot=100)
    b = compute_metrics(_reps(clean, transformed, labels), seed=4, n_boot=100)
    assert a == b
    assert list(a) == list(default_metrics())


def test_paper_probe_is_torch_adam_on_a_linear_layer() -> None:
    """solver='adam' is the paper's protocol: nn.Linear's initialisation, torch.optim.Adam on the mean cross-entropy,
    the same seeded batch order; a hand-written loop with autograd gives the same weights."""
    clean, _, labels = _features(n=300, d=10, k=3, seed=6)
    x, y = torch.tensor(clean), torch.tensor(labels)
    ours = LinearProbe(solver="adam", epochs=3, lr=1e-2, batch_size=64, random_state=9).fit(x, y)
    gen = torch.Generator().manual_seed(9)
    bound = 1 / 10**0.5
    weight = ((torch.rand(3, 10, generator=gen) * 2 - 1) * bound).requires_grad_()
    bias = ((torch.rand(3, generator=gen) * 2 - 1) * bound).requires_grad_()
    optimizer = torch.optim.Adam([weight, bias], lr=1e-2)
    for _ in range(3):
        order = torch.randperm(300, generator=gen)
        for start in range(0, 300, 64):
            idx = order[start : start + 64]
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(x[idx] @ weight.T + bias, y[idx]).backward()
            optimizer.step()
    torch.testing.assert_close(ours.coef_, weight.detach(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.intercept_, bias.detach(), atol=1e-5, rtol=1e-5)


@pytest.mark.filterwarnings("ignore")
def test_linear_probe_is_a_scikit_learn_estimator() -> None:
    from sklearn.base import clone
    from sklearn.utils.estimator_checks import check_estimator

    probe = LinearProbe(solver="lbfgs", C=0.5)
    assert clone(probe).get_params() == probe.get_params() and clone(probe).C == 0.5
    check_estimator(LinearProbe())  # scikit-learn's own estimator checks (those that apply run; the rest skip)
