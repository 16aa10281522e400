"""Linear CKA between clean and transformed representations, with leave-one-out values for intervals.

``CKA(X, Y) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` with linear Gram matrices ``K = X Xᵀ``, ``L = Y Yᵀ`` of
the N images' clean (X) and transformed (Y) representations (Kornblith et al. 2019). Two estimators of HSIC:

* **biased**: ``tr(K H L H)`` (H the centring matrix), Kornblith et al.'s CKA. Between *independent*
  representations it is far from 0 when N is not much larger than the dimension.
* **debiased** (default): the unbiased HSIC of Song et al. (2012), used for CKA by Nguyen et al. (2021):
  ``[tr(K̃L̃) + 1ᵀK̃1 · 1ᵀL̃1 / ((N-1)(N-2)) - 2/(N-2) · 1ᵀK̃L̃1] / (N(N-3))`` with zeroed diagonals.
  About 0 for independent representations at any N; needs N >= 4 (N >= 5 for the leave-one-out values).

CKA is 1 for identical representations and invariant to rotations (orthogonal maps) and isotropic scaling of
either representation, but not to arbitrary linear maps.

**Intervals.** CKA is a ratio of U-/V-statistics over pairs of images, so resampling images with replacement
(the bootstrap) duplicates images into "pairs" that the debiased estimator excludes by construction. Instead
:func:`cka_leave_one_out` returns all N leave-one-image-out values in O(N²) (rank-one updates of the Gram sums,
no refits); :func:`jackknife_interval` gives the jackknife normal interval ``θ̂ ± 1.96 SE``, and
:func:`pseudo_values` the per-image jackknife pseudo-values ``N θ̂ - (N-1) θ̂₋ᵢ``, whose mean is the jackknife
estimate: resampling them with the bootstrap counts every other metric uses gives the same interval.

**Large layers.** A conv layer's output (800k values per image for a ResNet's stem at 224 px) is summarised by
a seeded **count sketch** to ``sketch_dim`` values (:class:`CountSketch`): each coordinate is added, with a
random sign, into one of ``sketch_dim`` buckets. It is an unbiased estimate of every inner product (so of the
Gram matrices; not of spatially pooled features, which would measure a different, far more invariant
representation) at O(values) cost per image. Features are shifted by the first batch's mean before sketching,
so the common mean does not swamp the sketch's noise.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import torch
from torch import Tensor

from invmeter.errors import DataError, InvalidParameterError

__all__ = ["linear_cka", "cka_leave_one_out", "jackknife_interval", "pseudo_values", "CountSketch", "CKAStats"]


def _grams(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    if x.dim() != 2 or y.dim() != 2 or len(x) != len(y):
        raise InvalidParameterError(
            f"CKA needs two (N, D) representations of the same N images; got {tuple(x.shape)} and {tuple(y.shape)}."
        )
    for name, z in (("clean", x), ("transformed", y)):
        if not torch.isfinite(z).all():
            raise DataError(f"The {name} representations contain NaN or Inf; CKA is undefined.")
    x = x.double() - x.double().mean(dim=0)
    y = y.double() - y.double().mean(dim=0)
    return x @ x.T, y @ y.T


def _sums(gk: Tensor, gl: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """A = Σ K∘L, row sums rK, rL, C = Σ rK rL, and the row sums of K∘L (diagonals as given)."""
    kl = gk * gl
    rk, rl = gk.sum(dim=1), gl.sum(dim=1)
    return kl.sum(), rk, rl, rk @ rl, kl.sum(dim=1)


def _hsic(a: Tensor, sk: Tensor, sl: Tensor, c: Tensor, n: int | Tensor, debiased: bool) -> Tensor:
    """HSIC up to a factor depending on n alone (it cancels in CKA)."""
    if debiased:
        return a + sk * sl / ((n - 1) * (n - 2)) - 2.0 * c / (n - 2)
    return a - 2.0 * c / n + sk * sl / (n * n)


def _prepare(x: Tensor, y: Tensor, debiased: bool) -> tuple[Tensor, Tensor, int]:
    gk, gl = _grams(x, y)
    n = len(gk)
    if n < (5 if debiased else 3):
        raise DataError(f"CKA needs at least {5 if debiased else 3} images here; got {n}.")
    if debiased:
        gk.fill_diagonal_(0.0)
        gl.fill_diagonal_(0.0)
    return gk, gl, n


def _ratio(kl: Tensor, kk: Tensor, ll: Tensor) -> Tensor:
    den = kk * ll
    return torch.where(den > 0, kl / den.clamp_min(1e-300).sqrt(), torch.full_like(kl, math.nan))


def _checked(value: float) -> float:
    if not math.isfinite(value):
        raise DataError(
            "A representation is constant across images (or its debiased self-similarity is not positive); "
            "CKA is undefined."
        )
    return value


def cka_leave_one_out(x: Tensor, y: Tensor, *, debiased: bool = True) -> tuple[float, np.ndarray]:
    """Linear CKA of ``x`` and ``y`` ``(N, D)`` and its N leave-one-image-out values ``(N,)``, in O(N²)."""
    gk, gl, n = _prepare(x, y, debiased)
    full, loo = [], []
    for a_mat, b_mat in ((gk, gl), (gk, gk), (gl, gl)):
        a, ra, rb, c, rab = _sums(a_mat, b_mat)
        sa, sb = ra.sum(), rb.sum()
        da, db = a_mat.diagonal(), b_mat.diagonal()
        full.append(_hsic(a, sa, sb, c, n, debiased))
        # Remove image m: its row and column leave every sum; the other rows lose their entry m.
        a_m = a - 2.0 * rab + da * db
        sa_m, sb_m = sa - 2.0 * ra + da, sb - 2.0 * rb + db
        c_m = c - b_mat @ ra - a_mat @ rb + rab - (ra - da) * (rb - db)
        loo.append(_hsic(a_m, sa_m, sb_m, c_m, n - 1, debiased))
    return _checked(float(_ratio(*full))), _ratio(*loo).numpy()


def linear_cka(x: Tensor, y: Tensor, *, debiased: bool = True) -> float:
    """Linear CKA of ``x`` and ``y`` ``(N, D)``: 1 = same representation up to rotation and scale."""
    gk, gl, n = _prepare(x, y, debiased)
    terms = []
    for a_mat, b_mat in ((gk, gl), (gk, gk), (gl, gl)):
        a, ra, rb, c, _ = _sums(a_mat, b_mat)
        terms.append(_hsic(a, ra.sum(), rb.sum(), c, n, debiased))
    return _checked(float(_ratio(*terms)))


def jackknife_interval(value: float, loo: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Jackknife normal interval ``value ± z·SE``, ``SE² = (N-1)/N Σ (θ₋ᵢ - mean θ₋)²``."""
    loo = np.asarray(loo, dtype=np.float64)
    if len(loo) < 2 or not np.isfinite(loo).all():
        return (math.nan, math.nan)
    se = math.sqrt((len(loo) - 1) / len(loo) * float(((loo - loo.mean()) ** 2).sum()))
    z = NormalDist().inv_cdf(0.5 + level / 2)
    return (value - z * se, value + z * se)


def pseudo_values(value: float, loo: np.ndarray) -> np.ndarray:
    """Per-image jackknife pseudo-values ``N θ̂ - (N-1) θ̂₋ᵢ`` (their mean is the jackknife estimate)."""
    loo = np.asarray(loo, dtype=np.float64)
    return len(loo) * value - (len(loo) - 1) * loo


class CountSketch:
    """Seeded count sketch ``R^dim -> R^k``: coordinate j is added to bucket h(j) with sign s(j).

    Inner products are unbiased: ``E <Sx, Sy> = <x, y>``, with variance at most ``2 ‖x‖²‖y‖² / k``.
    """

    def __init__(self, dim: int, k: int = 4096, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.dim, self.k = dim, k
        self.bucket = torch.randint(0, k, (dim,), generator=gen)
        self.sign = torch.randint(0, 2, (dim,), generator=gen).float().mul_(2).sub_(1)

    def __call__(self, x: Tensor) -> Tensor:
        """``(B, dim)`` -> ``(B, k)`` float32."""
        if x.shape[1] != self.dim:
            raise InvalidParameterError(f"This sketch maps {self.dim} values; got {x.shape[1]}.")
        sign, bucket = self.sign.to(x.device), self.bucket.to(x.device)
        out = torch.zeros(x.shape[0], self.k, dtype=torch.float32, device=x.device)
        return out.index_add_(1, bucket, x.float() * sign)


class CKAStats:
    """One layer's CKA inputs collected batch by batch: its flattened outputs, count-sketched when large.

    Memory: ``2 N min(D, sketch_dim)`` float32 values (N images, D values per image).
    """

    def __init__(self, *, sketch_dim: int = 4096, seed: int = 0) -> None:
        self.sketch_dim, self.seed = sketch_dim, seed
        self.sketch: CountSketch | None = None
        self.shift: Tensor | None = None
        self.clean: list[Tensor] = []
        self.transformed: list[Tensor] = []

    def update(self, clean: Tensor, transformed: Tensor) -> None:
        """Add a batch: ``(B, ...)`` outputs of the same B images' clean and transformed views."""
        x, y = clean.reshape(len(clean), -1), transformed.reshape(len(transformed), -1)
        if self.shift is None:
            self.shift = x.float().mean(dim=0)
            if x.shape[1] > self.sketch_dim:
                self.sketch = CountSketch(x.shape[1], self.sketch_dim, self.seed)
        for store, z in ((self.clean, x), (self.transformed, y)):
            z = z.float() - self.shift
            store.append((self.sketch(z) if self.sketch is not None else z).cpu())

    def result(self, *, debiased: bool = True) -> tuple[float, np.ndarray]:
        """``(CKA, leave-one-out values)`` over every image fed (see :func:`cka_leave_one_out`)."""
        if not self.clean:
            raise DataError("CKAStats.result: no batch was fed.")
        return cka_leave_one_out(torch.cat(self.clean), torch.cat(self.transformed), debiased=debiased)
