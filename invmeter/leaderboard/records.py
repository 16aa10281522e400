"""The zoo's row schema: one record per (model, weights, transform), checked once before ranking or rendering.

A record (JSON-ready dict)::

    {"schema_version": 1,                             # invmeter._utils.schemas.ZOO_ROW_SCHEMA_VERSION
     "model": "timm:resnet18",
     "weights": "random-init" | "pretrained:<tag>" | "file:<path>",
     "transform": "rotation",
     "status": "ok" | "failed",
     "reason": None | "one line",                     # required when status is "failed"
     "metrics": {"invariance": {"value": 0.8, "ci95": [0.7, 0.9], "reason": None}, ...},
     "meta": {"params": 11689512, "input_size": [224, 224], "preprocessing": {...}, "labels": "data" | "model"},
     "terms": {"invariance": {"d": [...], "r": [...]}, "probe_accuracy": {"values": [...]}, ...},
     "pairing": "<id of the images, transform draws and reference pairing>"}   # optional

A metric ``value`` may be ``None`` only with a one-line ``reason`` (a degenerate input); it is then shown as n/a,
never as a number. ``meta`` and ``terms`` are optional; ``terms`` (per-image arrays, see
:attr:`invmeter.metrics.Metric.reduction`) are what paired comparisons between models need. Every record of one board
must index its per-image terms by the same images in the same order; ``pairing``, when two records both carry
it, must be equal for them to be compared.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from invmeter.errors import InvalidParameterError

__all__ = ["check_records", "model_key", "is_random_init", "transforms_of", "metric_names", "metric_entry"]

_STATUSES = ("ok", "failed")


def _bad(index: int, what: str) -> InvalidParameterError:
    return InvalidParameterError(f"Zoo record {index}: {what}.")


def _check_metric(index: int, name: str, entry: Any) -> None:
    if not isinstance(entry, Mapping) or "value" not in entry:
        raise _bad(index, f"metric {name!r} must be a dict with 'value', 'ci95' and 'reason'")
    value = entry["value"]
    if value is None:
        if not isinstance(entry.get("reason"), str) or not entry["reason"].strip():
            raise _bad(index, f"metric {name!r} is null without a 'reason'; give the one-line reason it is n/a")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _bad(index, f"metric {name!r} has value {value!r}; it must be a finite number or null with a reason")
    ci = entry.get("ci95")
    if ci is not None and (not isinstance(ci, (list, tuple)) or len(ci) != 2):
        raise _bad(index, f"metric {name!r} has ci95 {ci!r}; it must be [lo, hi] (either may be null) or null")


def _check_one(index: int, rec: Any) -> dict[str, Any]:
    if not isinstance(rec, Mapping):
        raise _bad(index, f"expected a dict, got {type(rec).__name__}")
    for key in ("model", "weights", "transform", "status"):
        if not isinstance(rec.get(key), str) or not rec[key]:
            raise _bad(index, f"{key!r} must be a non-empty string, got {rec.get(key)!r}")
    if rec["status"] not in _STATUSES:
        raise _bad(index, f"'status' must be 'ok' or 'failed', got {rec['status']!r}")
    if rec["status"] == "failed":
        if not isinstance(rec.get("reason"), str) or not rec["reason"].strip():
            raise _bad(index, "a failed row needs a one-line 'reason'")
    else:
        metrics = rec.get("metrics")
        if not isinstance(metrics, Mapping) or not metrics:
            raise _bad(index, "an ok row needs a non-empty 'metrics' dict")
        for name, entry in metrics.items():
            _check_metric(index, name, entry)
    for key in ("meta", "terms"):
        if rec.get(key) is not None and not isinstance(rec[key], Mapping):
            raise _bad(index, f"{key!r} must be a dict or absent")
    return dict(rec)


def check_records(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validate zoo records (the schema above); returns them as a list of dicts, in order.

    Raises a one-line :class:`InvalidParameterError` naming the record and what is wrong (including a repeated
    (model, weights, transform): a resumed zoo must not write a row twice).
    """
    out = [_check_one(i, rec) for i, rec in enumerate(records)]
    if not out:
        raise InvalidParameterError("No zoo records to rank; run the zoo first (invmeter zoo PATTERN --out DIR).")
    seen: dict[tuple[str, str, str], int] = {}
    for i, rec in enumerate(out):
        key = (*model_key(rec), rec["transform"])
        if key in seen:
            raise _bad(i, f"repeats the row of record {seen[key]} ({key[0]}, {key[1]}, {key[2]}); keep one")
        seen[key] = i
    return out


def model_key(rec: Mapping[str, Any]) -> tuple[str, str]:
    """``(model, weights)``: a board's unit of ranking (the same architecture with other weights is another row)."""
    return (rec["model"], rec["weights"])


def is_random_init(weights: str) -> bool:
    """Whether a weights tag means randomly initialised weights (figures then say so in their titles)."""
    return weights.startswith("random")


def transforms_of(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """The transforms, in order of first appearance."""
    return list(dict.fromkeys(rec["transform"] for rec in records))


def metric_names(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """The metrics present in ok rows, in order of first appearance."""
    return list(dict.fromkeys(m for rec in records if rec["status"] == "ok" for m in rec["metrics"]))


def metric_entry(rec: Mapping[str, Any], metric: str) -> tuple[float | None, str | None]:
    """``(value, None)`` for a scored metric, or ``(None, reason)`` for a failed row, an n/a value or a missing one."""
    if rec["status"] == "failed":
        return None, f"failed: {rec['reason']}"
    entry = rec["metrics"].get(metric)
    if entry is None:
        return None, f"{metric} was not computed"
    if entry["value"] is None:
        return None, str(entry["reason"])
    return float(entry["value"]), None
