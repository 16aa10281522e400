"""tmeasures' per-unit invariance measures on controlled pairs, from streaming accumulators (docs/measures.md).

The controlled pairs are tmeasures' samples x transformations matrix with T = 2 columns: the clean view and the
transformed view of each of N images (the transformed column holds each image's own draw of the transform).
A *unit* is one element of a layer's output (one activation at one position), as tmeasures' default (its
per-channel averages, ``AverageFeatureMaps``, are in ``benchmarks/tmeasures_compat.py``, with the rest of what only
the cross-check against tmeasures uses).

:class:`UnitStats` is fed each batch's activations of both views during the one forward pass over the pairs
(``update(clean, transformed)``) and keeps only per-unit sums (O(units) memory, float64):

* ``transformation_variance`` (tmeasures' TV): per image the standard deviation (ddof 1) of a unit over the
  T = 2 views, ``|a - b| / √2``, averaged over images.
* ``sample_variance`` (SV): per view the standard deviation (ddof 1) of a unit over images, averaged over views.
* ``normalized_variance`` (NV) = TV / SV, with tmeasures' conventions 0/0 = 1 and x/0 = inf. 0 = invariant;
  about 1 = the transform moves a unit as much as changing the image does.
* ``anova_f``: one-way ANOVA F of each unit with the views as groups (tmeasures' ``ANOVAFInvariance``):
  ``MSB / MSW``, ``MSB = N Σ_g (mean_g - mean)²``, ``MSW = Σ_g M2_g / (2 (N - 1))``.
* ``anova_variant``: whether F exceeds the F(1, 2N - 2) critical value at level 1 - alpha (Bonferroni: divided by
  the layer's unit count). tmeasures 1.2.11 uses ``f.ppf(alpha / units)``, a lower-tail quantile, so its
  Bonferroni test marks nearly every unit as varying; here the upper tail, ``f.ppf(1 - (1 - alpha) / units)``.
* Goodfellow et al. (2009) firing-rate invariance: a unit *fires* when its activation exceeds a threshold
  ``t = mean + Φ⁻¹(alpha) · std`` of its clean activations (tmeasures' ``NormalPValueThreshold``, alpha 0.99).
  ``goodfellow`` is Goodfellow's score L / G: G = P(fires on x), L = P(fires on t(x) | fires on x) (the local
  firing rate is conditioned on the unit firing for the untransformed input). tmeasures' version, whose local
  rate is unconditioned (P(fires on either view) / P(fires on x)), is ``benchmarks/tmeasures_compat.py``'s.

The thresholds need the clean activations' mean and std before anything can be counted. With ``thresholds``
given (a previous pass, :meth:`UnitStats.thresholds`), every image is counted: the exact two-pass result
tmeasures computes. Otherwise they are fixed from the clean views of exactly the first ``calibration`` images (a
batch that crosses that count is split there), and firing is counted on the images after those: one pass, O(units)
memory, and the same result however the images are batched (up to float rounding of the sums).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import torch
from scipy import stats as scipy_stats
from torch import Tensor

from invmeter.errors import DataError, InvalidParameterError

__all__ = ["UnitStats", "release_workspace", "safe_divide"]


def safe_divide(num: Tensor, den: Tensor) -> Tensor:
    """``num / den`` with tmeasures' conventions: 0/0 = 1, x/0 = inf (both non-negative)."""
    out = num / torch.where(den > 0, den, torch.ones_like(den))
    return torch.where(den > 0, out, torch.where(num > 0, torch.full_like(num, math.inf), torch.ones_like(num)))


_WORKSPACE: dict[tuple[torch.dtype, torch.device], Tensor] = {}  # scratch shared by all layers (hooks run in turn)


def _scratch(rows: int, cols: int, like: Tensor) -> Tensor:
    """A ``(rows, cols)`` scratch matrix from the shared workspace (grown as needed; see :func:`release_workspace`)."""
    key = (like.dtype, like.device, torch.is_inference_mode_enabled())  # inference tensors stay in inference mode
    if key not in _WORKSPACE or _WORKSPACE[key].numel() < rows * cols:
        _WORKSPACE[key] = torch.empty(rows * cols, dtype=like.dtype, device=like.device)
    return _WORKSPACE[key][: rows * cols].view(rows, cols)


def release_workspace() -> None:
    """Free the scratch memory of :meth:`UnitStats.update` (after the pass over the pairs)."""
    _WORKSPACE.clear()


_BLOCK_BYTES = 6 << 20  # one block's scratch on a CPU: 4 to 16 MiB were the fastest with a 32 MiB L3 cache


def _block_units(b: int, x: Tensor) -> int:
    """Units per block of :meth:`UnitStats.update`: on a CPU, blocks whose ``(3B, units)`` scratch stays in cache
    through the block's passes (subtract, sum, square, sum, compare, sum), so the layer's memory is read once; on a
    GPU, every unit at once."""
    if x.device.type != "cpu":
        return max(1, x.shape[1])
    return max(1, _BLOCK_BYTES // (3 * b * x.element_size()))


def _memory_order(x: Tensor) -> tuple[int, ...]:
    """The unit dims of ``(B, *unit)`` from the outermost to the innermost in memory (channels-last: H, W, C)."""
    return tuple(sorted(range(1, x.dim()), key=lambda d: -x.stride(d)))


def _floor_float32(threshold: Tensor) -> Tensor:
    """The float32 t32 with ``x > t32 ⇔ x > threshold`` for every float32 x (threshold in float64)."""
    t32 = threshold.float()
    return torch.where(t32.double() > threshold, torch.nextafter(t32, torch.full_like(t32, -math.inf)), t32)


class UnitStats:
    """Streaming per-unit statistics of one layer's activations on controlled pairs.

    Each batch's two views are read as ``(B, units)`` matrices in their own memory order (no copy, also for
    channels-last maps), a block of units at a time on a CPU (one that fits the cache), and reduced over images with
    matrix products against blocks of ones, in float32 (float64 inputs: float64) per batch and float64 across
    batches. Sums are of ``x - K`` with K the first batch's mean of that view, so units with a large mean and a
    small spread (a constant corner of a rotated image) keep their precision.

    Args:
        thresholds: Goodfellow firing thresholds on ``sign × activation`` per unit (a unit's shape), e.g. a previous
            pass's :meth:`thresholds`; every image is counted. ``None``: fixed after ``calibration`` images.
        calibration: Images whose clean views fix the thresholds when none are given (the first ones fed).
        alpha: Goodfellow's threshold quantile ``Φ⁻¹(alpha)`` (tmeasures' default 0.99).
        sign: +1, or -1 to measure a unit's firing below its threshold (tmeasures' ``sign``).
    """

    def __init__(
        self, *, thresholds: Tensor | None = None, calibration: int = 64, alpha: float = 0.99, sign: int = 1
    ) -> None:
        if sign not in (1, -1):
            raise InvalidParameterError(f"The 'sign' parameter of UnitStats must be 1 or -1. Got {sign!r}.")
        if not 0 < alpha < 1:
            raise InvalidParameterError(f"The 'alpha' parameter of UnitStats must be in (0, 1). Got {alpha!r}.")
        if thresholds is None and calibration < 2:
            raise InvalidParameterError(f"The 'calibration' parameter of UnitStats must be >= 2. Got {calibration!r}.")
        self.alpha, self.sign, self.calibration = alpha, sign, calibration
        self.n = 0
        self.n_counted = 0
        self._given = thresholds
        self._threshold: Tensor | None = None  # flat, float64, on sign × activation
        self._threshold32: Tensor | None = None
        self.shape: tuple[int, ...] | None = None  # a unit's shape, as the layer outputs it
        self._order: tuple[int, ...] = ()
        self._shift: Tensor | None = None  # K: the first batch's mean of each view, flat (2, U)
        # Flat (memory-order) float64 sums: Σ(x - K) and Σ(x - K)² per view, Σ(c - t), Σ|c - t|, firing counts.
        self._sums: Tensor | None = None  # (6, U): s1_c, s1_t, s2_c, s2_t, diff, abs_diff
        self._fires: Tensor | None = None  # (3, U): clean, transformed, both

    def _flat(self, x: Tensor) -> Tensor:
        return x.permute(0, *self._order).reshape(len(x), -1)

    def _unflat(self, v: Tensor) -> Tensor:
        """Flat memory-order values ``(..., U)`` back to the unit's shape ``(..., *shape)``."""
        lead = v.shape[:-1]
        permuted = v.reshape(*lead, *(self.shape[d - 1] for d in self._order))
        inverse = sorted(range(len(self._order)), key=lambda i: self._order[i])
        return permuted.permute(*range(len(lead)), *(len(lead) + i for i in inverse))

    def update(self, clean: Tensor, transformed: Tensor) -> None:
        """Add a batch: ``clean`` and ``transformed`` are ``(B, *unit)`` activations of the same B images."""
        if clean.shape != transformed.shape or clean.dim() < 2:
            raise InvalidParameterError(
                f"UnitStats.update needs two (B, ...) tensors of one shape; got {tuple(clean.shape)} and "
                f"{tuple(transformed.shape)}."
            )
        b = clean.shape[0]
        if b == 0:
            return
        if self._threshold is None and self.n < self.calibration < self.n + b:  # thresholds from exactly these
            k = self.calibration - self.n
            self.update(clean[:k], transformed[:k])
            self.update(clean[k:], transformed[k:])
            return
        if self.shape is None:
            self._start(clean, transformed)
        elif tuple(clean.shape[1:]) != self.shape:
            was, now = self.shape, tuple(clean.shape[1:])
            raise InvalidParameterError(f"Activations changed shape from {was} to {now}; use one UnitStats per layer.")
        dtype = torch.float64 if clean.dtype == torch.float64 else torch.float32
        c, t = self._flat(clean.to(dtype)), self._flat(transformed.to(dtype))
        ones = torch.block_diag(*[torch.ones(1, b, dtype=dtype, device=c.device)] * 3)  # (3, 3B): sums of 3 blocks
        step = _block_units(b, c)
        for start in range(0, c.shape[1], step):
            units = slice(start, start + step)
            self._add(c[:, units], t[:, units], ones, units)
        if self._threshold is not None:
            self.n_counted += b
        self.n += b
        if self._threshold is None and self.n >= self.calibration:
            self._set_thresholds(self._flat_thresholds())

    def _add(self, c: Tensor, t: Tensor, ones: Tensor, units: slice) -> None:
        """Add one block of units of a batch to the sums (and the firing counts once thresholds are set)."""
        b = len(c)
        work = _scratch(3 * b, c.shape[1], c)
        torch.sub(c, self._shift[0, units], out=work[:b])
        torch.sub(t, self._shift[1, units], out=work[b : 2 * b])
        torch.sub(c, t, out=work[2 * b :])
        linear = ones @ work  # Σ(c - K), Σ(t - K), Σ(c - t)
        work[: 2 * b].square_()
        work[2 * b :].abs_()
        quadratic = ones @ work  # Σ(c - K)², Σ(t - K)², Σ|c - t|
        self._sums[0:2, units] += linear[0:2]
        self._sums[2:4, units] += quadratic[0:2]
        self._sums[4, units] += linear[2]
        self._sums[5, units] += quadratic[2]
        if self._threshold is not None:
            self._count(c, t, ones, work, units)

    def _start(self, *views: Tensor) -> None:
        x = views[0]
        self.shape, self._order = tuple(x.shape[1:]), _memory_order(x)
        dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        self._shift = torch.stack([self._flat(v.to(dtype)).mean(dim=0) for v in views])
        units = self._shift.shape[1]
        self._sums = torch.zeros(6, units, dtype=torch.float64, device=x.device)
        self._fires = torch.zeros(3, units, dtype=torch.float64, device=x.device)
        if self._given is not None:
            if tuple(self._given.shape) != self.shape:
                got = tuple(self._given.shape)
                raise InvalidParameterError(f"Thresholds of shape {got} do not match the units {self.shape}.")
            given = self._given.to(device=x.device, dtype=torch.float64)
            self._set_thresholds(given.permute(*(d - 1 for d in self._order)).reshape(-1))

    def _set_thresholds(self, flat: Tensor) -> None:
        self._threshold, self._threshold32 = flat, _floor_float32(flat)

    def _count(self, c: Tensor, t: Tensor, ones: Tensor, work: Tensor, units: slice) -> None:
        """Firing counts: ``sign·x > threshold`` for both views and for both at once (as 0/1 in ``work``)."""
        b = len(c)
        threshold = (self._threshold if c.dtype == torch.float64 else self._threshold32)[units]
        compare = torch.gt if self.sign == 1 else torch.lt  # sign = -1: -x > θ  ⇔  x < -θ
        bound = threshold if self.sign == 1 else -threshold
        compare(c, bound, out=work[:b])
        compare(t, bound, out=work[b : 2 * b])
        torch.mul(work[:b], work[b : 2 * b], out=work[2 * b :])
        self._fires[:, units] += ones @ work

    # ------------------------------------------------------------------------------------------------ results

    @property
    def units(self) -> int:
        """Units per image (0 before the first batch)."""
        return math.prod(self.shape) if self.shape is not None else 0

    @property
    def fires(self) -> Tensor:
        """Firing counts ``(3, *unit)`` (float64): on the clean view, the transformed view, both."""
        self._need(1, "fires")
        return self._unflat(self._fires)

    def _need(self, n: int, what: str) -> None:
        if self.shape is None or self.n < n:
            raise DataError(f"{what} needs at least {n} images; {self.n} were fed.")

    def _moments(self) -> tuple[Tensor, Tensor]:
        """Flat means ``(2, U)`` and sums of squared deviations ``(2, U)`` of the two views."""
        s1, s2 = self._sums[0:2], self._sums[2:4]
        return self._shift.double() + s1 / self.n, (s2 - s1.square() / self.n).clamp_min(0.0)

    def transformation_variance(self) -> Tensor:
        """TV per unit: mean over images of the std (ddof 1) of the unit over the 2 views, ``|a - b| / √2``."""
        self._need(1, "transformation_variance")
        return self._unflat(self._sums[5] / (self.n * math.sqrt(2.0)))

    def sample_variance(self) -> Tensor:
        """SV per unit: mean over the 2 views of the std (ddof 1) of the unit over images."""
        self._need(2, "sample_variance")
        return self._unflat((self._moments()[1] / (self.n - 1)).sqrt().mean(dim=0))

    def normalized_variance(self) -> Tensor:
        """NV = TV / SV per unit (0/0 = 1, x/0 = inf): 0 = invariant, ~1 = moves as much as a change of image."""
        return safe_divide(self.transformation_variance(), self.sample_variance())

    def anova_f(self) -> Tensor:
        """One-way ANOVA F per unit, groups = the 2 views (NaN where both groups are constant)."""
        self._need(2, "anova_f")
        msb = self.n * (self._sums[4] / self.n).square() / 2  # N Σ_g (mean_g - grand)², T - 1 = 1
        msw = self._moments()[1].sum(dim=0) / (2 * (self.n - 1))
        return self._unflat(msb / msw)

    def anova_variant(self, alpha: float = 0.99, bonferroni: bool = True) -> Tensor:
        """Per unit: does the transform change its mean at level 1 - alpha (F test; Bonferroni over units)?"""
        f = self.anova_f()
        level = (1 - alpha) / (f.numel() if bonferroni else 1)
        critical = float(scipy_stats.f.isf(level, 1, 2 * self.n - 2))
        return f > critical

    def _flat_thresholds(self) -> Tensor:
        self._need(2, "Goodfellow's thresholds")
        mean, m2 = self._moments()
        std = (m2[0] / (self.n - 1)).sqrt().clamp_min(1e-16)
        return self.sign * mean[0] + NormalDist().inv_cdf(self.alpha) * std

    def thresholds(self) -> Tensor:
        """Goodfellow thresholds from the clean views so far, on ``sign × activation`` (as tmeasures):
        ``mean + Φ⁻¹(alpha)·std`` of ``sign × clean activation`` (std ddof 1, at least 1e-16)."""
        return self._unflat(self._flat_thresholds())

    def _rates(self) -> tuple[Tensor, Tensor, Tensor]:
        if self.n_counted == 0:
            raise DataError(
                f"Goodfellow's firing rates were not counted: the thresholds took the first {self.n} images "
                f"(calibration={self.calibration}); feed more images or give thresholds from a previous pass."
            )
        return tuple(self.fires / self.n_counted)  # type: ignore[return-value]

    def goodfellow(self) -> Tensor:
        """Goodfellow's invariance L / G per unit, L = P(fires on t(x) | fires on x), G = P(fires on x).

        NaN where the unit never fired on a counted clean view (L is undefined there).
        """
        g, _, both = self._rates()
        local = both / g
        return local / g

    def layer_means(self) -> dict[str, float]:
        """Per-layer summaries: the means over units of NV and Goodfellow's score (NaN/inf units left out; NaN
        when no unit is finite) and the fraction of units the ANOVA finds variant."""
        values = {"normalized_variance": self.normalized_variance()}
        if self.n_counted:
            values["goodfellow"] = self.goodfellow()
        out = {"anova_variant_fraction": float(self.anova_variant().double().mean())}
        for name, v in values.items():
            finite = torch.isfinite(v)
            out[name] = float(v[finite].mean()) if finite.any() else float("nan")
        return out
