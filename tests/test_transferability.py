"""The transferability estimators against their references: LogME against closed forms and a direct maximisation of
the textbook evidence with scipy (1e-6), LEEP, NCE and H-score against their formulas on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from invmeter.errors import DataError
from invmeter.metrics.transferability import (
    ESTIMATORS,
    estimate,
    h_score,
    knn_accuracy,
    leep,
    logme,
    logme_evidence,
    nce,
)

LOG_2PI = math.log(2 * math.pi)


def direct_evidence(F: np.ndarray, y: np.ndarray) -> float:
    """max over (α, β) of log p(y | F, α, β) / N from the textbook formula with dense matrices (no eigenvalues):
    D/2 log α + N/2 log β − ½ log|A| − β/2 |Fm − y|² − α/2 |m|² − N/2 log 2π, A = αI + βFᵀF, m = βA⁻¹Fᵀy."""
    n, d = F.shape

    def negative(p: np.ndarray) -> float:
        a, b = np.exp(p)
        A = a * np.eye(d) + b * F.T @ F
        m = b * np.linalg.solve(A, F.T @ y)
        value = (d / 2 * np.log(a) + n / 2 * np.log(b) - 0.5 * np.linalg.slogdet(A)[1]
                 - b / 2 * np.sum((F @ m - y) ** 2) - a / 2 * m @ m - n / 2 * LOG_2PI)
        return -value / n

    starts = ([0.0, 0.0], [3.0, -3.0], [-3.0, 3.0], [6.0, 0.0])
    fits = [minimize(negative, s, method="Nelder-Mead", bounds=[(-40, 40)] * 2,
                     options={"xatol": 1e-12, "fatol": 1e-15, "maxiter": 40_000}) for s in starts]
    return -min(f.fun for f in fits)


@pytest.mark.parametrize(("n", "d", "seed"), [(50, 5, 0), (30, 10, 1), (200, 20, 2), (40, 3, 3)])
def test_logme_evidence_is_the_direct_maximum_within_1e_6(n: int, d: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    F = rng.normal(size=(n, d)) * rng.uniform(0.1, 10, size=d)
    y = (F[:, 0] + rng.normal(size=n) > 0).astype(float)
    assert logme_evidence(F, y).evidence == pytest.approx(direct_evidence(F, y), abs=1e-6)


def test_logme_is_the_mean_over_classes_of_each_one_hot_maximum() -> None:
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 3, 60)
    F = rng.normal(size=(60, 6)) + np.eye(3)[labels] @ rng.normal(size=(3, 6))
    expected = np.mean([direct_evidence(F, (labels == c).astype(float)) for c in range(3)])
    assert logme(F, labels) == pytest.approx(expected, abs=1e-6)
    assert logme(torch.from_numpy(F).float(), torch.from_numpy(labels)) == pytest.approx(expected, abs=1e-4)


def test_logme_of_one_feature_has_its_closed_form() -> None:
    """D = 1: the marginal covariance is u I + (v − u) f̂f̂ᵀ, maximised at v = (f·y)²/|f|² along f and
    u = (|y|² − v)/(N − 1) across, so log p = −½ [N log 2π + (N − 1) log u + log v + N]."""
    rng = np.random.default_rng(5)
    for n in (10, 40, 300):
        f = rng.normal(size=n)
        y = 2.0 * f + rng.normal(size=n)
        v = (f @ y) ** 2 / (f @ f)
        u = (y @ y - v) / (n - 1)
        closed = -0.5 * (n * LOG_2PI + (n - 1) * math.log(u) + math.log(v) + n) / n
        fit = logme_evidence(f[:, None], y)
        assert fit.evidence == pytest.approx(closed, abs=1e-10)
        assert fit.beta == pytest.approx(1 / u, rel=1e-6) and fit.alpha == pytest.approx((f @ f) / (v - u), rel=1e-6)


def test_a_target_orthogonal_to_the_features_gets_the_noise_only_evidence() -> None:
    """|m| = 0: α → ∞ and y ~ N(0, I/β) with β = N/|y|²: log p / N = ½ log(N/|y|²) − ½ − ½ log 2π."""
    F = np.zeros((6, 2))
    F[:3, 0], F[3:, 1] = [1, -1, 0], [1, -1, 0]
    y = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])  # orthogonal to both columns
    fit = logme_evidence(F, y)
    assert math.isinf(fit.alpha)
    assert fit.evidence == pytest.approx(0.5 * math.log(6 / 3) - 0.5 - 0.5 * LOG_2PI, abs=1e-12)


def test_logme_does_not_depend_on_rotations_or_on_feature_directions_the_data_never_uses() -> None:
    """The exact evidence: a rotation of the features, or zero columns added (D grows past N, the rank stays), leave
    it unchanged (thuml/LogME's fixed-point version adds (D − rank)/2 · log α in the second case)."""
    rng = np.random.default_rng(6)
    labels = np.arange(20) % 2
    F = rng.normal(size=(20, 8)) + labels[:, None]
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    wide = np.hstack([F, np.zeros((20, 30))])
    assert logme(F @ q, labels) == pytest.approx(logme(F, labels), abs=1e-9)
    assert logme(wide, labels) == pytest.approx(logme(F, labels), abs=1e-9)


def test_logme_with_more_features_than_images_is_the_direct_maximum() -> None:
    rng = np.random.default_rng(7)
    F = rng.normal(size=(12, 30))
    y = (rng.normal(size=12) > 0).astype(float)
    assert logme_evidence(F, y).evidence == pytest.approx(direct_evidence(F, y), abs=1e-6)


def test_labels_that_are_an_exact_linear_function_of_the_features_make_logme_unbounded() -> None:
    labels = np.arange(30) % 3
    with pytest.raises(DataError, match="LogME is unbounded"):
        logme(np.eye(3)[labels], labels)
    values = estimate(np.eye(3)[labels] + 0.0, labels)
    assert values["logme"].reason is not None and "unbounded" in values["logme"].reason


SOFT = np.array([[0.8, 0.2], [0.6, 0.4], [0.3, 0.7], [0.1, 0.9]])


def test_leep_on_a_hand_computed_case() -> None:
    """θ = the rows of SOFT, y = 0, 0, 1, 1: P̂(y, z) = [[0.35, 0.15], [0.10, 0.40]], P̂(y | z=0) = (7/9, 2/9),
    P̂(y | z=1) = (3/11, 8/11); LEEP = mean_i log Σ_z P̂(y_i | z) θ_iz."""
    by_hand = np.mean([math.log(0.8 * 7 / 9 + 0.2 * 3 / 11), math.log(0.6 * 7 / 9 + 0.4 * 3 / 11),
                       math.log(0.3 * 2 / 9 + 0.7 * 8 / 11), math.log(0.1 * 2 / 9 + 0.9 * 8 / 11)])
    assert leep(np.log(SOFT), [0, 0, 1, 1]) == pytest.approx(by_hand, abs=1e-12)  # logits: softmax(log p) = p
    assert leep(np.log(SOFT) + 5.0, np.array([7, 7, 9, 9])) == pytest.approx(by_hand, abs=1e-12)  # any label ids


def test_nce_on_a_hand_computed_case_and_leep_equals_it_for_hard_predictions() -> None:
    """z = 0, 0, 1, 1 and y = 0, 1, 1, 1: P̂(y | z=0) = (½, ½), P̂(y | z=1) = (0, 1), so −H(Y|Z) = ½ log ½."""
    z, y = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])
    assert nce(z, y) == pytest.approx(0.5 * math.log(0.5), abs=1e-12)
    assert nce(z, z) == 0.0  # the source label determines the target label
    hard = np.where(np.eye(2)[z] > 0, 0.0, -1e4)  # a source classifier certain of z
    assert leep(hard, y) == pytest.approx(nce(z, y), abs=1e-9)


def test_h_score_on_hand_computed_cases() -> None:
    """f = 0, 2, 4, 6 with y = 0, 0, 1, 1: cov f = 5, the class means 1 and 5 give cov E[f|y] = 4, H = 0.8; a
    duplicated feature column adds nothing (pseudo-inverse); features equal to their class means give H = K − 1."""
    f, y = np.array([[0.0], [2.0], [4.0], [6.0]]), np.array([0, 0, 1, 1])
    assert h_score(f, y) == pytest.approx(0.8, abs=1e-12)
    assert h_score(np.hstack([f, f]), y) == pytest.approx(0.8, abs=1e-9)
    labels = np.arange(12) % 3
    means = np.random.default_rng(8).normal(size=(3, 5))
    assert h_score(means[labels], labels) == pytest.approx(2.0, abs=1e-9)


def test_knn_accuracy_on_separated_and_on_swapped_clusters() -> None:
    labels = np.arange(40) % 2
    rng = np.random.default_rng(9)
    directions = np.array([[1.0, 0.0], [0.0, 1.0]])
    features = directions[labels] + 0.05 * rng.normal(size=(40, 2))
    assert knn_accuracy(features, labels) == 1.0
    assert knn_accuracy(features * 7.0, labels) == 1.0  # cosine distance: the scale does not matter


def test_estimate_gives_every_estimator_or_its_reason() -> None:
    rng = np.random.default_rng(10)
    labels = np.arange(24) % 3
    features = rng.normal(size=(24, 4)) + np.eye(3)[labels] @ rng.normal(size=(3, 4))
    values = estimate(features, labels)
    assert set(values) == set(ESTIMATORS)
    assert values["leep"].reason == values["nce"].reason == "needs the model's source classifier; this model has none"
    assert all(values[k].defined for k in ("logme", "h_score", "knn_accuracy"))
    with_head = estimate(features, labels, rng.normal(size=(24, 5)))
    assert with_head["leep"].defined and with_head["nce"].value <= 0.0
    constant = estimate(np.ones((24, 4)), labels)
    assert all(v.reason == "the features are the same for every image" for v in constant.values())
