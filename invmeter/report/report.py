"""Report: one measurement with its provenance, rendered as a table, JSON or a flat CSV row."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from invmeter.errors import InvalidParameterError
from invmeter.metrics.registry import METRICS, get_metric
from invmeter.types import MetricValue

__all__ = ["Report", "append_csv", "check_csv_columns", "csv_columns", "reports_to_json", "sweep_table",
           "comparison_table", "sweep_to_dict"]

_ROW_FIELDS = ("model", "weights", "layer", "transform", "magnitude", "data", "n_images", "seed", "invariance_reference")


@dataclass(frozen=True)
class Report:
    """Everything needed to read, compare and reproduce one measurement.

    ``report["invariance"]`` gives a metric's value; ``to_dict()``/``to_json()`` the documented schema.
    """

    invmeter_version: str
    model: dict[str, Any]
    transform: dict[str, Any]
    data: dict[str, Any]
    metrics: dict[str, MetricValue]
    provenance: dict[str, Any]
    warnings: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> float:
        if key not in self.metrics:
            raise KeyError(f"No metric {key!r} in this report; it has {', '.join(self.metrics)}.")
        return self.metrics[key].value

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "invmeter_version": self.invmeter_version,
            "model": self.model,
            "transform": self.transform,
            "data": self.data,
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
            "provenance": self.provenance,
        }
        if self.warnings:
            out["warnings"] = list(self.warnings)
        out.update(self.extra)
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return reports_to_json([self], indent=indent)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Report:
        known = {"invmeter_version", "model", "transform", "data", "metrics", "provenance", "warnings"}
        return cls(
            invmeter_version=d["invmeter_version"],
            model=d["model"],
            transform=d["transform"],
            data=d["data"],
            metrics={k: MetricValue.from_dict(v) for k, v in d["metrics"].items()},
            provenance=d["provenance"],
            warnings=tuple(d.get("warnings", ())),
            extra={k: v for k, v in d.items() if k not in known},
        )

    def to_row(self) -> dict[str, Any]:
        """A flat, CSV-ready row: configuration next to every metric and its interval (fixed columns: a metric
        that was not computed is left empty)."""
        values = (self.model.get("name"), self.model.get("weights"), self.model.get("layer"), self.transform.get("spec"),
                  self.extra.get("magnitude", ""), self.data.get("name"), self.data.get("n_images"),
                  self.provenance.get("seed"), self.data.get("invariance_reference", ""))
        row: dict[str, Any] = dict(zip(_ROW_FIELDS, values))
        for key in METRICS:
            m = self.metrics.get(key)
            row[key], row[f"{key}_lo"], row[f"{key}_hi"] = (m.value, *m.ci95) if m and m.defined else ("", "", "")
        row["verdict"] = self.extra.get("verdict", "")
        row["invmeter_version"] = self.invmeter_version
        return row

    def to_table(self) -> str:
        """A readable table of the metrics with their 95% intervals (and seeds, baseline, layers when present)."""
        seeds = self.extra.get("seeds")
        base = self.extra.get("baseline")
        header = f"{'metric':<22}{'value':>9}   {'95% CI':<19}"
        if seeds:
            header += f"{'mean ± std (' + str(len(seeds['seeds'])) + ' seeds)':<24}"
        if base:
            header += f"{'random-init':>12}  "
        lines = [
            f"model      {self.model.get('name')}  (weights: {self.model.get('weights')}, layer: {self.model.get('layer')})",
            f"transform  {self.transform.get('spec')}",
            f"data       {_data_line(self.data)}",
            "",
            header + "reading",
            "-" * (len(header) + 24),
        ]
        for key, m in self.metrics.items():
            row = f"{key:<22}{_fmt(m.value):>9}   {_interval(m.ci95):<19}"
            if seeds:
                stats = seeds["metrics"][key]
                row += (f"{stats['mean']:.3f} ± {stats['std']:.3f}" if stats["mean"] is not None else "n/a").ljust(24)
            if base:
                row += f"{_fmt(base['metrics'][key]['value']):>12}  "
            lines.append(row + (f"undefined: {m.reason}" if m.reason else get_metric(key).reading))
        if "verdict" in self.extra:
            lines.append(f"verdict: {self.extra['verdict']}")
        if "layers" in self.extra:
            names = list(dict.fromkeys(k for entry in self.extra["layers"] for k in entry if k != "layer"))
            lines += ["", f"{'layer':<30}" + "".join(f"{n:>14}   {'95% CI':<19}" for n in names)]
            for entry in self.extra["layers"]:
                cells = "".join(f"{_fmt(entry[n]['value']) if n in entry else '':>14}   "
                                f"{_interval(entry[n]['ci95']) if n in entry else '':<19}" for n in names)
                lines.append(f"{entry['layer']:<30}{cells}")
        for w in self.warnings:
            lines.append(f"WARNING: {w}")
        return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:.3f}"


def _interval(ci: Sequence[float | None]) -> str:
    return f"[{_fmt(ci[0])}, {_fmt(ci[1])}]"


def sweep_table(reports: Sequence[Report]) -> str:
    """One row per magnitude: invariance, equivariance, probe and accuracy metrics, verdict."""
    keys = [k for k in ("invariance", "equivariance", "probe_accuracy", "accuracy_delta", "consistency") if k in reports[0].metrics]
    step = reports[0].transform["steps"][0]
    lines = [f"model {reports[0].model['name']}  sweep of {step['family']} ({step['units']}), fixed magnitude per row",
             f"{'magnitude':>10}" + "".join(f"{k:>25}" for k in keys) + "   verdict"]
    for r in reports:
        cells = "".join(f"{_fmt(r[k]) + ' ' + _interval(r.metrics[k].ci95):>25}" for k in keys)
        label = f"{r.extra['magnitude']:g}{'px' if r.extra.get('magnitude_units') == 'pixels' else ''}"
        lines.append(f"{label:>10}{cells}   {r.extra.get('verdict', '')}")
    return "\n".join(lines)


def comparison_table(reports: Sequence[Report], metric: str = "invariance") -> str:
    """``metric`` for each model (rows) and transform (columns)."""
    models = list(dict.fromkeys(r.model["name"] for r in reports))
    transforms = list(dict.fromkeys(r.transform["spec"] for r in reports))
    width = max(len(m) for m in models) + 2
    lines = [f"{metric}: models x transforms", f"{'':<{width}}" + "".join(f"{t:>16}" for t in transforms)]
    for model in models:
        cells = {r.transform["spec"]: r[metric] for r in reports if r.model["name"] == model}
        lines.append(f"{model:<{width}}" + "".join(f"{_fmt(cells.get(t)):>16}" for t in transforms))
    return "\n".join(lines)


def sweep_to_dict(reports: Sequence[Report]) -> dict[str, Any]:
    """A sweep as one JSON object: shared fields once, then ``"sweep": [{"magnitude", "metrics", "verdict"}]``."""
    first = reports[0].to_dict()
    shared = {k: first[k] for k in ("invmeter_version", "model", "data", "provenance") if k in first}
    shared["transform"] = {**first["transform"], "mode": "fixed magnitude per entry (random sign for signed families)"}
    entries = []
    for r in reports:
        entry = {"magnitude": r.extra["magnitude"], "metrics": {k: v.to_dict() for k, v in r.metrics.items()}}
        if "verdict" in r.extra:
            entry["verdict"] = r.extra["verdict"]
        entries.append(entry)
    if reports[0].warnings:
        shared["warnings"] = list(reports[0].warnings)
    return {**shared, "sweep": entries}


def _data_line(data: dict[str, Any]) -> str:
    if data.get("name") == "folder":
        return f"folder {data.get('path')} ({data.get('n_images')} images, {data.get('n_classes')} classes)"
    return (
        f"{data.get('name')} ({data.get('n_images')} images, {data.get('n_classes')} classes, "
        f"{data.get('image_size')}px, objects: {data.get('object_source', {}).get('source')})"
    )


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
    if all("magnitude" in r.extra for r in reports):
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
