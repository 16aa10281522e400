"""The combined ranking and each model's reasons.

The rule (:data:`RULE`): a candidate's combined score is the mean of two z-scores taken across the candidates —
of its LogME (the label evidence) and of its invariance averaged over the target's nuisance transforms (the
evidence invmeter adds) — the second weighted by its reliability ρ = max(0, 1 − s²/v): v is the variance of the
candidates' invariances, s² the mean squared standard error of each one (from its bootstrap interval), so ρ is the
share of the spread that is not sampling noise (1 without intervals). Models that differ in invariance by no more
than its noise are ordered by LogME; ties fall to LogME. A candidate without a LogME or an invariance value (a
failed model, constant features) is not ranked, and says why. Which way is "more invariant" is the metric
registry's fact (:attr:`invmeter.metrics.Metric.higher_is_better`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from invmeter.metrics import get_metric

__all__ = ["COMBINED", "NEAR", "RULE", "ordinal", "rank_candidates", "reliability", "value_of", "zscores"]

COMBINED = "combined"
RULE = ("combined = mean of two z-scores across the candidates: of LogME, and of invariance averaged over the "
        "nuisance transforms times its reliability rho = max(0, 1 - noise variance / spread variance); higher ranks "
        "first, ties by LogME")
Z95 = 1.959963984540054  # a 95% interval spans ±Z95 standard errors
NEAR = 0.005  # invariance gaps below this are "as invariant as the best"


def _toward_better(metric: str) -> float:
    """+1 when the metric registry says higher values of ``metric`` are better (invariance: more invariant), else -1."""
    return 1.0 if get_metric(metric).higher_is_better else -1.0


def value_of(entry: dict[str, Any] | None) -> float | None:
    """A recorded value (``{"value": ..., "reason": ...}``) as a float, or ``None`` when it is undefined."""
    if not entry or entry.get("value") is None:
        return None
    value = float(entry["value"])
    return value if math.isfinite(value) else None


def zscores(values: Sequence[float]) -> np.ndarray:
    """(v − mean) / std across the candidates (population std); all zero when every value is the same."""
    v = np.asarray(values, dtype=np.float64)
    spread = float(v.std()) if len(v) else 0.0
    return (v - v.mean()) / spread if spread > 0 else np.zeros_like(v)


def ordinal(k: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st."""
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def _standard_error(row: dict[str, Any], nuisances: Sequence[str]) -> float | None:
    """The standard error of a candidate's mean invariance, sqrt(Σ se_t²) / T with se_t = (hi − lo) / (2 · 1.96)
    from each nuisance's 95% interval; ``None`` without intervals."""
    squares = []
    for t in nuisances:
        lo, hi = (row["invariance"][t].get("ci95") or [None, None])[:2]
        if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
            return None
        squares.append(((hi - lo) / (2 * Z95)) ** 2)
    return math.sqrt(sum(squares)) / len(nuisances)


def reliability(values: Sequence[float], errors: Sequence[float | None]) -> float:
    """ρ = max(0, 1 − mean(se²) / var(values)): the share of the candidates' spread in ``values`` that is not
    sampling noise; 1 when any candidate has no standard error, 0 when the values do not spread."""
    if any(e is None for e in errors):
        return 1.0
    spread = float(np.var(values)) if len(values) else 0.0
    return max(0.0, 1.0 - float(np.mean(np.square(errors))) / spread) if spread > 0 else 0.0


def _mean_invariance(row: dict[str, Any], nuisances: Sequence[str]) -> float | None:
    values = [value_of(row["invariance"].get(t)) for t in nuisances]
    return None if any(v is None for v in values) or not values else float(np.mean(values))


def _unranked_reason(row: dict[str, Any], nuisances: Sequence[str]) -> str:
    if row["status"] != "ok":
        return f"not ranked: failed ({row['reason']})"
    logme = row["estimators"].get("logme", {})
    if value_of(logme) is None:
        return f"not ranked: no LogME ({logme.get('reason', 'not computed')})"
    missing = next(t for t in nuisances if value_of(row["invariance"].get(t)) is None)
    why = row["invariance"].get(missing, {}).get("reason", "not computed")
    return f"not ranked: no invariance to {missing} ({why})"


def rank_candidates(rows: Sequence[dict[str, Any]], nuisances: Sequence[str], *, given: bool = True
                    ) -> list[dict[str, Any]]:
    """The rows in ranked order, each with ``combined``, ``rank`` (``None``: not ranked), ``logme_rank``,
    ``invariance_mean``, ``invariance_weight`` (ρ) and ``reasons`` (one line); unranked rows last, in the given
    order. ``given``: the nuisances were named by the user (the reasons say "which the target has"), not the default
    set."""
    rows = [dict(r) for r in rows]
    for row in rows:
        row["invariance_mean"] = _mean_invariance(row, nuisances) if row["status"] == "ok" else None
    ranked = [r for r in rows if r["status"] == "ok" and r["invariance_mean"] is not None
              and value_of(r["estimators"].get("logme")) is not None]
    logme = [value_of(r["estimators"]["logme"]) for r in ranked]
    invariance = [r["invariance_mean"] for r in ranked]
    rho = reliability(invariance, [_standard_error(r, nuisances) for r in ranked])
    combined = (zscores(logme) + rho * _toward_better("invariance") * zscores(invariance)) / 2
    by_logme = sorted(range(len(ranked)), key=lambda i: -logme[i])  # type: ignore[operator]
    for place, i in enumerate(by_logme, 1):
        ranked[i]["logme_rank"] = place
    order = sorted(range(len(ranked)), key=lambda i: (-combined[i], ranked[i]["logme_rank"]))
    for place, i in enumerate(order, 1):
        ranked[i].update(rank=place, combined=float(combined[i]), invariance_weight=rho)
    out = [ranked[i] for i in order]
    for row in out:
        row["reasons"] = _reasons(row, out, nuisances, given)
    unranked = [r for r in rows if "rank" not in r]
    for row in unranked:
        row.update(rank=None, combined=None, logme_rank=None, reasons=_unranked_reason(row, nuisances))
    return out + unranked


def _reasons(row: dict[str, Any], ranked: Sequence[dict[str, Any]], nuisances: Sequence[str], given: bool) -> str:
    """One line: where LogME alone puts the model, how far it is from the most invariant model on the nuisance
    where it falls shortest, and how the invariance evidence moved it."""
    n = len(ranked)
    head = f"LogME {ordinal(row['logme_rank'])} of {n}"
    sign = _toward_better("invariance")
    best = {t: max(ranked, key=lambda r: sign * value_of(r["invariance"][t])) for t in nuisances}  # type: ignore[operator]
    gaps = {t: sign * (value_of(best[t]["invariance"][t]) - value_of(row["invariance"][t]))  # type: ignore[operator]
            for t in nuisances}
    worst = max(nuisances, key=lambda t: gaps[t])
    has = "which the target has" if given else "a default nuisance"
    if gaps[worst] < NEAR:
        which = ", ".join(nuisances) if len(nuisances) <= 3 else f"all {len(nuisances)} nuisances"
        clause, good = f"the most invariant to {which}", True
    else:
        clause = f"{gaps[worst]:.2f} less invariant to {worst} than {best[worst]['model']} ({has})"
        good = False
    delta = value_of(row["accuracy_delta"].get(worst))
    if delta is not None and abs(delta) >= 0.01:
        clause += f"; accuracy {delta:+.2f} under {worst}"
    moved = row["logme_rank"] - row["rank"]
    if moved > 0:
        return f"{head}, {'but' if good else 'and'} {clause}: up {moved}"
    if moved < 0:
        return f"{head}, {'and' if good else 'but'} {clause}: down {-moved}"
    return f"{head}; {clause}"
