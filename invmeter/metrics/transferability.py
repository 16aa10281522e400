"""Transferability estimators: how well a frozen model will transfer to a labelled target set, from its features
of the target's images (and, where it has one, its source classifier's outputs), without fine-tuning.

Pure functions on arrays: features ``(N, D)``, target labels ``(N,)`` (any integer class ids), source-classifier
logits ``(N, C_s)``. Each is declared once in :data:`ESTIMATORS` (what it measures, its units, what it needs, its
reference); docs/select.md gives the formulas. Higher is better for every one of them.

* :func:`logme` — You et al., ICML 2021: the evidence p(y | F) of a Bayesian linear model from features to each
  one-hot class indicator, maximised over its prior and noise precisions (MacKay's fixed point), per image, averaged
  over classes. The evidence here is exact for any N and D: the log-determinant runs over every eigenvalue of
  α I + β FᵀF (thuml/LogME's fixed-point version drops the (D − rank)·log α / 2 of the zero eigenvalues when D > N).
* :func:`leep` — Nguyen et al., ICML 2020: the mean log-likelihood of the target labels under the source
  classifier's softmax composed with the empirical P(y | z).
* :func:`nce` — Tran et al., ICCV 2019: the negative conditional entropy −H(Y | Z) of the target labels given the
  source classifier's predicted labels (its argmax, as LEEP's paper computes NCE without source labels).
* :func:`h_score` — Bao et al., ICIP 2019: tr(cov(f)⁺ cov(E[f | y])), the share of feature variance that the class
  means explain, summed over feature directions (between 0 and min(rank, K − 1)).
* :func:`knn_accuracy` — the accuracy of a 5-nearest-neighbour vote (cosine distance) on the held-out half.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from invmeter.errors import DataError
from invmeter.metrics.context import stratified_split
from invmeter.types import MetricValue

__all__ = ["ESTIMATORS", "Estimator", "LogMEFit", "estimate", "h_score", "knn_accuracy", "leep", "logme",
           "logme_evidence", "nce"]

MAX_ITERATIONS = 10_000  # MacKay's fixed point; it usually converges in a few dozen
TOLERANCE = 1e-12  # relative change of t = α / β at which the fixed point stops
H_RCOND = 1e-10  # H-score: feature covariance eigenvalues below this fraction of the largest count as zero
KNN_K = 5
_LOG_2PI = float(np.log(2 * np.pi))


@dataclass(frozen=True)
class LogMEFit:
    """The maximised evidence of one target vector.

    Attributes:
        evidence: log p(y | F, α, β) / N at the maximum (nats per image).
        alpha: Prior precision of the weights; ``inf`` when y is orthogonal to every feature direction.
        beta: Noise precision.
        iterations: Fixed-point iterations taken.
    """

    evidence: float
    alpha: float
    beta: float
    iterations: int


def _as_float64(x: Tensor | np.ndarray) -> np.ndarray:
    return (x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)).astype(np.float64)


def _dense_labels(labels: Tensor | np.ndarray, n: int) -> np.ndarray:
    y = (labels.cpu().numpy() if isinstance(labels, Tensor) else np.asarray(labels)).reshape(-1)
    if len(y) != n:
        raise DataError(f"Got {n} feature rows but {len(y)} labels.")
    return np.unique(y, return_inverse=True)[1].reshape(-1)


def _spectrum(F: np.ndarray) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """The nonzero eigenvalues σ of FᵀF and the map y ↦ Uᵀy onto the matching left singular vectors."""
    n, d = F.shape
    if n >= d:
        sigma, V = np.linalg.eigh(F.T @ F)
    else:
        sigma, U = np.linalg.eigh(F @ F.T)
    keep = sigma > max(float(sigma.max(initial=0.0)), 0.0) * max(n, d) * np.finfo(np.float64).eps
    sigma = sigma[keep]
    if n >= d:
        V = V[:, keep]
        return sigma, lambda y: (V.T @ (F.T @ y)) / np.sqrt(sigma)
    U = U[:, keep]
    return sigma, lambda y: U.T @ y


def _profile(t: float, sigma: np.ndarray, x2: np.ndarray, rest: float, n: int) -> tuple[float, float]:
    """(evidence / N, β) at t = α / β with β at its optimum N / Q(t), Q(t) = Σ x²·t / (t + σ) + |y⊥|²:
    log p = N/2 log(N/Q) − N/2 + k/2 log t − ½ Σ log(t + σ) − N/2 log 2π (docs/select.md)."""
    if np.isinf(t):  # y orthogonal to the features: the weights' prior shrinks them to zero
        q = float(x2.sum()) + rest
        return 0.5 * np.log(n / q) - 0.5 - 0.5 * _LOG_2PI, n / q
    q = float((x2 * t / (t + sigma)).sum()) + rest
    log_det = len(sigma) * np.log(t) - float(np.log(t + sigma).sum())
    return (n * np.log(n / q) - n + log_det - n * _LOG_2PI) / (2 * n), n / q


def _fit(sigma: np.ndarray, x: np.ndarray, rest: float, n: int) -> LogMEFit:
    """MacKay's fixed point for one target: γ = Σ σ/(σ + t), α = γ / |m|², β = (N − γ) / |y − Fm|², t = α / β,
    from α = β = 1 as published. Where the evidence is so flat in t that it has not converged after
    :data:`MAX_ITERATIONS` (t drifting towards 0 or infinity), a bounded maximisation of the profile over log t
    finishes it, and the better of the two is kept."""
    x2 = x * x
    t, iterations, converged = 1.0, 0, False
    floor, ceiling = float(sigma.max(initial=1.0)) * 1e-15, float(sigma.max(initial=1.0)) * 1e15
    for iterations in range(1, MAX_ITERATIONS + 1):
        gamma = float((sigma / (sigma + t)).sum())
        m2 = float((sigma * x2 / (sigma + t) ** 2).sum())
        residual = float((x2 * t * t / (sigma + t) ** 2).sum()) + rest
        # t = α/β = (γ / |m|²) / ((N − γ) / |y − Fm|²); a perfect fit (no residual) drives t to its floor, y
        # orthogonal to every feature direction (|m| = 0) or an evidence rising with t to its limit at infinity
        new = floor if residual <= 0 or n <= gamma else gamma * residual / (m2 * (n - gamma)) if m2 > 0 else np.inf
        new = max(new, floor)
        if new >= ceiling:
            t, converged = float("inf"), True
            break
        converged = abs(new - t) <= TOLERANCE * t
        t = new
        if converged:
            break
    if not converged:
        from scipy.optimize import minimize_scalar

        found = minimize_scalar(lambda lt: -_profile(float(np.exp(lt)), sigma, x2, rest, n)[0],
                                bounds=(np.log(floor), np.log(ceiling)), method="bounded", options={"xatol": 1e-10})
        t = max((t, float(np.exp(found.x)), float("inf")), key=lambda v: _profile(v, sigma, x2, rest, n)[0])
    if t <= floor and rest <= 1e-12 * (float(x2.sum()) + rest) and len(sigma) < n:
        raise DataError("LogME is unbounded: the class labels are an exact linear function of the features.")
    evidence, beta = _profile(t, sigma, x2, rest, n)
    return LogMEFit(float(evidence), float(t * beta), float(beta), iterations)


def logme_evidence(features: Tensor | np.ndarray, target: np.ndarray) -> LogMEFit:
    """The maximised evidence per image of one real-valued target vector ``(N,)`` given features ``(N, D)``."""
    F, y = _as_float64(features), np.asarray(target, dtype=np.float64).reshape(-1)
    sigma, project = _spectrum(F)
    x = project(y)
    return _fit(sigma, x, max(float(y @ y) - float(x @ x), 0.0), len(y))


def logme(features: Tensor | np.ndarray, labels: Tensor | np.ndarray) -> float:
    """LogME: the mean over classes of the maximised log evidence per image (nats) of each class's one-hot indicator
    given the features; higher = the features fit the labels linearly with less complexity."""
    F = _as_float64(features)
    y = _dense_labels(labels, len(F))
    sigma, project = _spectrum(F)
    evidences = []
    for c in range(int(y.max()) + 1):
        target = (y == c).astype(np.float64)
        x = project(target)
        evidences.append(_fit(sigma, x, max(float(target.sum()) - float(x @ x), 0.0), len(y)).evidence)
    return float(np.mean(evidences))


def _softmax(logits: Tensor | np.ndarray) -> np.ndarray:
    z = _as_float64(logits)
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def leep(source_logits: Tensor | np.ndarray, labels: Tensor | np.ndarray) -> float:
    """LEEP: (1/N) Σᵢ log Σ_z P̂(yᵢ | z) θ(xᵢ)_z with θ the source classifier's softmax, P̂(y, z) = (1/N) Σ_{i: yᵢ=y}
    θ(xᵢ)_z and P̂(y | z) = P̂(y, z) / Σ_y P̂(y, z) (nats; at most 0)."""
    theta = _softmax(source_logits)
    y = _dense_labels(labels, len(theta))
    joint = np.zeros((int(y.max()) + 1, theta.shape[1]))
    np.add.at(joint, y, theta / len(y))
    conditional = joint / joint.sum(axis=0, keepdims=True)  # P(y | z); every column has mass (softmax > 0)
    return float(np.mean(np.log((theta * conditional[y]).sum(axis=1))))


def nce(source_labels: Tensor | np.ndarray, labels: Tensor | np.ndarray) -> float:
    """NCE: −H(Y | Z) = Σ_{y,z} P̂(y, z) log P̂(y | z) from the counts of (target label, source label) pairs
    (nats; at most 0, 0 when the source label determines the target label)."""
    z = _dense_labels(source_labels, len(np.asarray(source_labels).reshape(-1)))
    y = _dense_labels(labels, len(z))
    joint = np.zeros((int(y.max()) + 1, int(z.max()) + 1))
    np.add.at(joint, (y, z), 1.0 / len(y))
    conditional = joint / joint.sum(axis=0, keepdims=True)
    seen = joint > 0
    return float((joint[seen] * np.log(conditional[seen])).sum())


def h_score(features: Tensor | np.ndarray, labels: Tensor | np.ndarray) -> float:
    """H-score: tr(cov(f)⁺ cov(E[f | y])) with the empirical covariances of the features and of each image's class
    mean (dimensionless, in [0, min(rank, K − 1)]); eigenvalues of cov(f) below :data:`H_RCOND` of the largest are
    treated as zero."""
    F = _as_float64(features)
    y = _dense_labels(labels, len(F))
    centred = F - F.mean(axis=0)
    means = np.zeros((int(y.max()) + 1, F.shape[1]))
    np.add.at(means, y, centred)
    means /= np.bincount(y)[:, None]
    g = means[y]
    cov_f, cov_g = centred.T @ centred / len(F), g.T @ g / len(F)
    return float(np.trace(np.linalg.pinv(cov_f, rcond=H_RCOND, hermitian=True) @ cov_g))


def knn_accuracy(features: Tensor | np.ndarray, labels: Tensor | np.ndarray, *, seed: int = 0,
                 train_fraction: float = 0.5, k: int = KNN_K) -> float:
    """The accuracy (fraction) on the held-out images of a ``k``-nearest-neighbour majority vote among the training
    images by cosine distance; the split is the probes' (per class, seeded; :func:`stratified_split`)."""
    from sklearn.neighbors import KNeighborsClassifier

    F = _as_float64(features)
    y = _dense_labels(labels, len(F))
    train, test = stratified_split(torch.from_numpy(y), train_fraction, seed)
    unit = F / np.maximum(np.linalg.norm(F, axis=1, keepdims=True), 1e-12)
    vote = KNeighborsClassifier(n_neighbors=min(k, len(train))).fit(unit[train], y[train])
    return float((vote.predict(unit[test]) == y[test]).mean())


@dataclass(frozen=True)
class Estimator:
    """One transferability estimator: ``name``, its display ``label``, what it measures, its units, and whether it
    needs the model's source classifier (LEEP, NCE)."""

    name: str
    label: str
    about: str
    units: str
    reference: str
    needs_classifier: bool = False


ESTIMATORS: dict[str, Estimator] = {e.name: e for e in (
    Estimator("logme", "LogME", "evidence that a linear model on the features explains the labels", "nats per image",
              "You et al., ICML 2021"),
    Estimator("leep", "LEEP", "log-likelihood of the labels through the source classifier's predictions", "nats",
              "Nguyen et al., ICML 2020", needs_classifier=True),
    Estimator("nce", "NCE", "negative conditional entropy of the labels given the source classifier's labels", "nats",
              "Tran et al., ICCV 2019", needs_classifier=True),
    Estimator("h_score", "H-score", "feature variance explained by the class means", "dimensionless",
              "Bao et al., ICIP 2019"),
    Estimator("knn_accuracy", "kNN accuracy", f"held-out accuracy of a {KNN_K}-nearest-neighbour vote", "fraction",
              "cosine distance, the probes' split"),
)}


def estimate(features: Tensor | np.ndarray, labels: Tensor | np.ndarray, logits: Tensor | np.ndarray | None = None,
             *, seed: int = 0) -> dict[str, MetricValue]:
    """Every estimator of :data:`ESTIMATORS` on these features (no intervals: ``ci95`` is NaN). One that does not
    apply (LEEP and NCE without a source classifier, anything on features that are the same for every image) is
    undefined with its reason, never a number."""
    F = _as_float64(features)
    if len(F) > 1 and np.all(F == F[0]):
        why = "the features are the same for every image"
        return {name: MetricValue.undefined(why) for name in ESTIMATORS}
    out: dict[str, MetricValue] = {}
    for name, estimator in ESTIMATORS.items():
        if estimator.needs_classifier and logits is None:
            out[name] = MetricValue.undefined("needs the model's source classifier; this model has none")
            continue
        try:
            if name == "leep":
                value = leep(logits, labels)  # type: ignore[arg-type]
            elif name == "nce":
                value = nce(_as_float64(logits).argmax(axis=1), labels)  # type: ignore[arg-type]
            elif name == "knn_accuracy":
                value = knn_accuracy(F, labels, seed=seed)
            else:
                value = {"logme": logme, "h_score": h_score}[name](F, labels)
        except DataError as exc:
            out[name] = MetricValue.undefined(str(exc).rstrip("."))
            continue
        out[name] = MetricValue(value, (float("nan"), float("nan")))
    return out
