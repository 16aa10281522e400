"""Report: one measurement with its provenance, rendered as a table, JSON or a flat CSV row."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from invmeter.errors import InvalidParameterError
from invmeter.metrics import MetricValue

__all__ = ["Report", "append_csv"]

_DIRECTION = {
    "invariance": "1 = invariant",
    "l2_ratio": "higher = classes separate",
    "probe_accuracy": "higher = better",
    "clean_accuracy": "reference",
    "transformed_accuracy": "",
    "accuracy_delta": "0 = no cost",
    "consistency": "1 = unchanged",
}


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
        return json.dumps(self.to_dict(), indent=indent, default=_jsonable)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Report:
        known = {"invmeter_version", "model", "transform", "data", "metrics", "provenance", "warnings"}
        return cls(
            invmeter_version=d["invmeter_version"],
            model=d["model"],
            transform=d["transform"],
            data=d["data"],
            metrics={k: MetricValue(v["value"], tuple(v["ci95"])) for k, v in d["metrics"].items()},
            provenance=d["provenance"],
            warnings=tuple(d.get("warnings", ())),
            extra={k: v for k, v in d.items() if k not in known},
        )

    def to_row(self) -> dict[str, Any]:
        """A flat, CSV-ready row: configuration next to every metric and its interval."""
        row: dict[str, Any] = {
            "model": self.model.get("name"),
            "weights": self.model.get("weights"),
            "layer": self.model.get("layer"),
            "transform": self.transform.get("spec"),
            "data": self.data.get("name"),
            "n_images": self.data.get("n_images"),
            "seed": self.provenance.get("seed"),
        }
        for key, m in self.metrics.items():
            row[key] = m.value
            row[f"{key}_lo"], row[f"{key}_hi"] = m.ci95
        row["invmeter_version"] = self.invmeter_version
        return row

    def to_table(self) -> str:
        """A readable table of the metrics with their 95% intervals."""
        lines = [
            f"model      {self.model.get('name')}  (weights: {self.model.get('weights')}, layer: {self.model.get('layer')})",
            f"transform  {self.transform.get('spec')}",
            f"data       {_data_line(self.data)}",
            "",
            f"{'metric':<22}{'value':>9}   {'95% CI':<19} reading",
            "-" * 72,
        ]
        for key, m in self.metrics.items():
            ci = f"[{m.ci95[0]:.3f}, {m.ci95[1]:.3f}]"
            lines.append(f"{key:<22}{m.value:>9.3f}   {ci:<19} {_DIRECTION.get(key, '')}")
        for w in self.warnings:
            lines.append(f"WARNING: {w}")
        return "\n".join(lines)


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


def append_csv(reports: list[Report], path: str | Path) -> None:
    """Append one flat row per report to ``path``, writing the header if the file is new or empty."""
    rows = [r.to_row() for r in reports]
    header = list(rows[0])
    p = Path(path)
    existing: list[str] | None = None
    if p.exists() and p.stat().st_size > 0:
        with p.open(newline="") as fh:
            existing = next(csv.reader(fh), None)
        if existing != header:
            raise InvalidParameterError(
                f"CSV file {str(p)!r} has different columns than this report; write to a new file."
            )
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header)
    if existing is None:
        writer.writeheader()
    writer.writerows(rows)
    with p.open("a", newline="") as fh:
        fh.write(buf.getvalue())

