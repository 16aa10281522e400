"""Report: one measurement with its provenance, as typed fields; JSON and a flat CSV row (tables: :mod:`.tables`)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from invmeter._utils.schemas import REPORT_SCHEMA_VERSION
from invmeter.errors import InvalidParameterError
from invmeter.metrics.registry import METRICS
from invmeter.types import MetricValue

__all__ = ["Report", "Baseline", "LayerValues", "SeedStats", "SeedSummary", "Sweep", "append_csv", "check_csv_columns",
           "csv_columns", "reports_to_json", "sweep_to_dict"]

_ROW_FIELDS = ("model", "weights", "layer", "transform", "magnitude", "data", "n_images", "seed", "invariance_reference")


def _values(d: Mapping[str, Any]) -> dict[str, MetricValue]:
    return {k: MetricValue.from_dict(v) for k, v in d.items()}


@dataclass(frozen=True)
class LayerValues:
    """One layer of a per-layer profile: its name and each profiled metric's value (JSON: ``{"layer": name,
    metric: {"value", "ci95"}, ...}``)."""

    layer: str
    metrics: dict[str, MetricValue]

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, **{k: v.to_dict() for k, v in self.metrics.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LayerValues:
        return cls(d["layer"], _values({k: v for k, v in d.items() if k != "layer"}))


@dataclass(frozen=True)
class SeedStats:
    """One metric across seeds: mean and standard deviation (ddof 1) of its per-seed values; ``None`` (with the
    reason) when it is undefined at some seed."""

    mean: float | None
    std: float | None
    values: tuple[float | None, ...]
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mean": self.mean, "std": self.std, "values": list(self.values)}
        if self.reason is not None:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True)
class SeedSummary:
    """A measurement repeated for several seeds (``seeds=``): the seeds and each metric's :class:`SeedStats`."""

    seeds: tuple[int, ...]
    metrics: dict[str, SeedStats]

    @classmethod
    def of(cls, reports: Sequence[Report]) -> SeedSummary:
        """Mean ± std (ddof 1) of each metric across per-seed reports; a metric undefined at any seed has none."""
        stats = {}
        for key in reports[0].metrics:
            values = [r.metrics[key] for r in reports]
            if all(v.defined for v in values):
                x = [v.value for v in values]
                stats[key] = SeedStats(float(np.mean(x)), float(np.std(x, ddof=1)) if len(x) > 1 else 0.0, tuple(x))
            else:
                reason = next(v.reason for v in values if not v.defined) or "undefined at some seed"
                stats[key] = SeedStats(None, None, tuple(v.to_dict()["value"] for v in values), reason)
        return cls(tuple(r.provenance["seed"] for r in reports), stats)

    def to_dict(self) -> dict[str, Any]:
        return {"seeds": list(self.seeds), "metrics": {k: v.to_dict() for k, v in self.metrics.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SeedSummary:
        return cls(tuple(d["seeds"]), {k: SeedStats(v["mean"], v["std"], tuple(v["values"]), v.get("reason"))
                                       for k, v in d["metrics"].items()})


@dataclass(frozen=True)
class Baseline:
    """The random-init copy of the architecture, scored on the same pairs (``baseline="random-init"``)."""

    model: dict[str, Any]
    metrics: dict[str, MetricValue]

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "metrics": {k: v.to_dict() for k, v in self.metrics.items()}}


@dataclass(frozen=True)
class Report:
    """Everything needed to read, compare and reproduce one measurement.

    ``report["invariance"]`` gives a metric's value; ``to_dict()``/``to_json()`` the documented schema (the JSON
    keys of the optional fields appear only when they are set).

    Attributes:
        skipped_metrics: Metrics that do not apply to this measurement, with why (defaults and ``metrics="all"``).
        verdict: ``invariant``, ``equivariant`` or ``neither`` (when ``equivariance`` was computed).
        magnitude: A sweep entry's fixed magnitude, in ``magnitude_units``.
        layers: The per-layer profile (``layers=``), in forward order, the representation last.
        seeds: The measurement repeated for ``seeds=``.
        baseline: The random-init copy's metrics (``baseline="random-init"``).
        schema_version: :data:`invmeter._utils.schemas.REPORT_SCHEMA_VERSION` of the JSON it writes.
    """

    invmeter_version: str
    model: dict[str, Any]
    transform: dict[str, Any]
    data: dict[str, Any]
    metrics: dict[str, MetricValue]
    provenance: dict[str, Any]
    warnings: tuple[str, ...] = ()
    skipped_metrics: dict[str, str] = field(default_factory=dict)
    verdict: str | None = None
    magnitude: float | None = None
    magnitude_units: str | None = None
    layers: tuple[LayerValues, ...] = ()
    seeds: SeedSummary | None = None
    baseline: Baseline | None = None
    schema_version: int = REPORT_SCHEMA_VERSION

    def __getitem__(self, key: str) -> float:
        if key not in self.metrics:
            raise KeyError(f"No metric {key!r} in this report; it has {', '.join(self.metrics)}.")
        return self.metrics[key].value

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": self.schema_version,
            "invmeter_version": self.invmeter_version,
            "model": self.model,
            "transform": self.transform,
            "data": self.data,
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
            "provenance": self.provenance,
        }
        if self.warnings:
            out["warnings"] = list(self.warnings)
        if self.magnitude is not None:
            out["magnitude"], out["magnitude_units"] = self.magnitude, self.magnitude_units
        if self.verdict is not None:
            out["verdict"] = self.verdict
        if self.skipped_metrics:
            out["skipped_metrics"] = dict(self.skipped_metrics)
        if self.layers:
            out["layers"] = [entry.to_dict() for entry in self.layers]
        if self.seeds is not None:
            out["seeds"] = self.seeds.to_dict()
        if self.baseline is not None:
            out["baseline"] = self.baseline.to_dict()
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return reports_to_json([self], indent=indent)

    def to_table(self) -> str:
        """A readable table of the metrics with their 95% intervals (and seeds, baseline, layers when present)."""
        from invmeter.report.tables import report_table

        return report_table(self)

    def figure(self) -> Any:
        """Its metrics with their intervals (or its layer profile) as a matplotlib figure, without pyplot: a notebook
        shows it, ``figure().savefig(path)`` writes it (the ``plot`` extra)."""
        from invmeter.report.plots import report_figure

        return report_figure([self])

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's text form (a terminal): the table, not the field dump."""
        printer.text(self.to_table())

    def _repr_html_(self) -> str:
        from invmeter.report.display import report_html

        return report_html(self)

    def _repr_markdown_(self) -> str:
        from invmeter.report.display import report_markdown

        return report_markdown(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Report:
        base = d.get("baseline")
        return cls(
            invmeter_version=d["invmeter_version"],
            model=d["model"],
            transform=d["transform"],
            data=d["data"],
            metrics=_values(d["metrics"]),
            provenance=d["provenance"],
            warnings=tuple(d.get("warnings", ())),
            skipped_metrics=dict(d.get("skipped_metrics", {})),
            verdict=d.get("verdict"),
            magnitude=d.get("magnitude"),
            magnitude_units=d.get("magnitude_units"),
            layers=tuple(LayerValues.from_dict(e) for e in d.get("layers", ())),
            seeds=SeedSummary.from_dict(d["seeds"]) if "seeds" in d else None,
            baseline=Baseline(base["model"], _values(base["metrics"])) if base is not None else None,
            schema_version=d.get("schema_version", REPORT_SCHEMA_VERSION),
        )

    def to_row(self) -> dict[str, Any]:
        """A flat, CSV-ready row: configuration next to every metric and its interval (fixed columns: a metric
        that was not computed is left empty)."""
        values = (self.model.get("name"), self.model.get("weights"), self.model.get("layer"), self.transform.get("spec"),
                  "" if self.magnitude is None else self.magnitude, self.data.get("name"), self.data.get("n_images"),
                  self.provenance.get("seed"), self.data.get("invariance_reference", ""))
        row: dict[str, Any] = dict(zip(_ROW_FIELDS, values))
        for key in METRICS:
            m = self.metrics.get(key)
            row[key], row[f"{key}_lo"], row[f"{key}_hi"] = (m.value, *m.ci95) if m and m.defined else ("", "", "")
        row["verdict"] = self.verdict or ""
        row["invmeter_version"] = self.invmeter_version
        return row


class Sweep(list[Report]):
    """A sweep's reports, one per magnitude, in order (a list), with the sweep's own JSON, table and figure; a
    notebook shows it as a table."""

    def to_dict(self) -> dict[str, Any]:
        return sweep_to_dict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return reports_to_json(self, indent=indent)

    def to_table(self) -> str:
        """One row per magnitude: the sweep's metrics with their intervals, and the verdict."""
        from invmeter.report.tables import sweep_table

        return sweep_table(self)

    def figure(self) -> Any:
        """The sweep's curves with their intervals (the ``plot`` extra), a figure a notebook shows."""
        from invmeter.report.plots import report_figure

        return report_figure(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.to_table())

    def _repr_html_(self) -> str:
        from invmeter.report.display import sweep_html

        return sweep_html(self)

    def _repr_markdown_(self) -> str:
        from invmeter.report.display import sweep_markdown

        return sweep_markdown(self)


def sweep_to_dict(reports: Sequence[Report]) -> dict[str, Any]:
    """A sweep as one JSON object: shared fields once, then ``"sweep": [{"magnitude", "metrics", "verdict"}]``."""
    first = reports[0].to_dict()
    shared = {k: first[k] for k in ("schema_version", "invmeter_version", "model", "data", "provenance") if k in first}
    shared["transform"] = {**first["transform"], "mode": "fixed magnitude per entry (random sign for signed families)"}
    entries = []
    for r in reports:
        entry: dict[str, Any] = {"magnitude": r.magnitude, "metrics": {k: v.to_dict() for k, v in r.metrics.items()}}
        if r.verdict is not None:
            entry["verdict"] = r.verdict
        entries.append(entry)
    if reports[0].warnings:
        shared["warnings"] = list(reports[0].warnings)
    return {**shared, "sweep": entries}


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    return str(value)


def reports_to_json(reports: Sequence[Report], indent: int | None = 2) -> str:
    """One report as a JSON object, several as a JSON list, a sweep as one object with a ``"sweep"`` list
    (strict JSON: non-finite numbers are null)."""
    if all(r.magnitude is not None for r in reports):
        payload: Any = sweep_to_dict(reports)
    else:
        payload = reports[0].to_dict() if len(reports) == 1 else [r.to_dict() for r in reports]
    return json.dumps(payload, indent=indent, default=_jsonable, allow_nan=False)


def csv_columns() -> list[str]:
    """The fixed columns of a report's CSV row (every registered metric, with its interval)."""
    metric_columns = [c for key in METRICS for c in (key, f"{key}_lo", f"{key}_hi")]
    return [*_ROW_FIELDS, *metric_columns, "verdict", "invmeter_version"]


def check_csv_columns(path: str | Path) -> None:
    """Refuse (before any work) to append to a CSV file whose header differs from a report's columns."""
    p = Path(path)
    if p.exists() and p.stat().st_size > 0:
        with p.open(newline="") as fh:
            existing = next(csv.reader(fh), None)
        if existing != csv_columns():
            raise InvalidParameterError(f"CSV file {str(p)!r} has other columns than invmeter's reports; write to a new "
                                        "file (or delete it).")


def append_csv(reports: list[Report], path: str | Path) -> None:
    """Append one flat row per report to ``path``, writing the header if the file is new or empty."""
    rows = [r.to_row() for r in reports]
    p = Path(path)
    check_csv_columns(p)
    new = not p.exists() or p.stat().st_size == 0
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=csv_columns())
    if new:
        writer.writeheader()
    writer.writerows(rows)
    with p.open("a", newline="") as fh:
        fh.write(buf.getvalue())
