"""The zoo's rows (one per model x transform, :mod:`invmeter.leaderboard.records`) and the files made of them:
``results.csv``, ``results.jsonl``, and each model's own ``reports/<model>.json`` beside the board."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from invmeter._utils.io import atomic_write
from invmeter._utils.schemas import ZOO_MODEL_REPORT_SCHEMA_VERSION, ZOO_ROW_SCHEMA_VERSION
from invmeter.errors import InvmeterError
from invmeter.leaderboard.records import is_random_init, model_key
from invmeter.report.display import html_table, markdown_table
from invmeter.report.tables import fmt, interval

__all__ = [
    "ZooTable",
    "board_rows",
    "calibrate_row",
    "failed_rows",
    "ok_row",
    "pairing",
    "report_file",
    "write_model_reports",
    "write_results",
    "zoo_columns",
]

_ROW_COLUMNS = ("model", "weights", "transform", "status", "reason")
_META_COLUMNS = ("architecture", "params", "input_size", "pairing")


class ZooTable(list):
    """The zoo's rows (one dict per model x transform); :meth:`to_pandas` gives a DataFrame when pandas is installed;
    a notebook shows a table of every row's metrics with their intervals (or why the row failed).

    Attributes:
        files: Every file the zoo wrote, by role (``csv``, ``jsonl``, ``md``, ``html``, figures, ``reports``: the
            folder of the per-model report files); the board's only when something was ranked.
        ranked: How many models the board ranks (0: no leaderboard was written).
        failed: The failed rows, each with its one-line reason.
    """

    files: dict[str, Path]
    ranked: int

    def __init__(self, rows: Sequence[dict[str, Any]] = (), files: Mapping[str, Path] | None = None,
                 ranked: int = 0) -> None:
        super().__init__(rows)
        self.files, self.ranked = dict(files or {}), ranked

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self if r["status"] == "failed"]

    def _repr_html_(self) -> str:
        return html_table(*_cells(self))

    def _repr_markdown_(self) -> str:
        return markdown_table(*_cells(self))

    def to_pandas(self) -> Any:
        try:
            import pandas as pd
        except ImportError:
            raise InvmeterError("ZooTable.to_pandas needs pandas: pip install pandas (the rows are plain dicts).") from None
        return pd.DataFrame([_flat(r) for r in self])


def zoo_columns() -> list[str]:
    """The columns of ``results.csv``: the row's configuration, every registered metric (registry order) with its
    interval, then the model's architecture, size and the pairing id; a metric a row did not compute is empty."""
    from invmeter.metrics import list_metrics

    return [*_ROW_COLUMNS, *(c for m in list_metrics() for c in (m, f"{m}_lo", f"{m}_hi")), *_META_COLUMNS]


def _flat(row: Mapping[str, Any]) -> dict[str, Any]:
    """The CSV/DataFrame form of a row: every metric's value and interval as columns."""
    out: dict[str, Any] = {k: row.get(k) for k in _ROW_COLUMNS}
    for name, entry in row.get("metrics", {}).items():
        lo, hi = entry.get("ci95") or (None, None)
        out[name], out[f"{name}_lo"], out[f"{name}_hi"] = entry.get("value"), lo, hi
    meta = row.get("meta", {})
    out["architecture"] = meta.get("architecture")
    out["params"] = meta.get("params")
    out["input_size"] = "x".join(str(v) for v in meta.get("input_size", [])) or None
    out["pairing"] = row.get("pairing")
    return out


def _cells(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """The rows as table cells: model, weights, transform, status (a failed row's reason), then each metric's value
    with its interval."""
    names = list(dict.fromkeys(m for r in rows for m in r.get("metrics", {})))
    cells = []
    for row in rows:
        flat = _flat(row)
        status = "ok" if row.get("status") == "ok" else f"failed: {row.get('reason')}"
        values = [f"{fmt(flat[m])} {interval((flat[m + '_lo'], flat[m + '_hi']))}" if m in flat else "" for m in names]
        cells.append([str(flat["model"]), str(flat["weights"]), str(flat["transform"]), status, *values])
    return ["model", "weights", "transform", "status", *names], cells


def _csv(rows: Sequence[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=zoo_columns(), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(_flat(r) for r in rows)
    return buf.getvalue()


def pairing(config: Mapping[str, Any], transform: str) -> str:
    """Same images, transform draws and references: the data, the seed, the image count, the transform."""
    s = config["settings"]
    key = {"data": config["data"], "transform": transform, "seed": s.get("seed", 0), "n_images": s.get("n_images"),
           "n_classes": s.get("n_classes", 10), "image_size": s.get("image_size")}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def failed_rows(config: Mapping[str, Any], weights: str, reason: str, transforms: Sequence[str] | None = None
                ) -> list[dict[str, Any]]:
    """One failed row per transform (default: every transform of the cell), with the reason's first line."""
    return [{"schema_version": ZOO_ROW_SCHEMA_VERSION, "model": config["name"], "weights": weights, "transform": t,
             "status": "failed", "reason": reason.splitlines()[0][:500] if reason.strip() else "failed (no message)",
             "metrics": {}, "pairing": pairing(config, t)}
            for t in (transforms if transforms is not None else config["transforms"])]


def ok_row(config: Mapping[str, Any], transform: str, weights: str, meta: Mapping[str, Any], result: Any
           ) -> dict[str, Any]:
    """The row of one measurement (a :class:`~invmeter.pipeline.measure.Measurement`): metrics, per-image terms,
    the full report."""
    terms = {name: {k: np.asarray(v, dtype=np.float64).tolist() for k, v in t.items()}
             for name, t in result.terms.items()}
    return {"schema_version": ZOO_ROW_SCHEMA_VERSION, "model": config["name"], "weights": weights,
            "transform": transform, "status": "ok", "reason": None,
            "metrics": {k: {"value": None, "ci95": [None, None], "reason": None, **v.to_dict()}
                        for k, v in result.report.metrics.items()},
            "meta": dict(meta), "terms": terms, "pairing": pairing(config, transform), "report": result.report.to_dict()}


def calibrate_row(row: dict[str, Any], baseline: Mapping[str, Any], gains: Sequence[str], n_boot: int, seed: int
                  ) -> dict[str, Any]:
    """A random-init row with the gains over its architecture's baseline (scored for a trained model of the same
    architecture and settings: ``baseline`` = that cell's ``{"transforms": {name: BaselineTerms dict}}``), computed
    as the measurement computes them (:func:`invmeter.metrics.learned.gain_value`, the same random stream)."""
    from invmeter.metrics.learned import gain_value
    from invmeter.pipeline.baseline import BaselineTerms
    from invmeter.report.report import Report

    entry = baseline["transforms"].get(row["transform"])
    if row["status"] != "ok" or entry is None:
        return row
    base = BaselineTerms.from_dict(entry)
    metrics, terms = dict(row["metrics"]), dict(row["terms"])
    values = {}
    for gain in gains:
        value, gain_terms = gain_value(gain, row["terms"], base.terms, n_boot=n_boot, seed=seed)
        values[gain], metrics[gain] = value, {"value": None, "ci95": [None, None], "reason": None, **value.to_dict()}
        if gain_terms is not None:
            terms[gain] = {k: np.asarray(v, dtype=np.float64).tolist() for k, v in gain_terms.items()}
    report = Report.from_dict(row["report"])
    report = replace(report, metrics={**report.metrics, **values}, baseline=base.summary,
                     skipped_metrics={k: v for k, v in report.skipped_metrics.items() if k not in values})
    return {**row, "metrics": metrics, "terms": terms, "report": report.to_dict()}


def board_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows without their full reports (those stay in results.jsonl and the per-model report files)."""
    return [{k: v for k, v in row.items() if k != "report"} for row in rows]


def write_results(out: Path, rows: Sequence[Mapping[str, Any]]) -> dict[str, Path]:
    """``results.csv`` and ``results.jsonl``, each written atomically; returns their paths."""
    files = {"csv": out / "results.csv", "jsonl": out / "results.jsonl"}
    atomic_write(files["csv"], lambda tmp: tmp.write_text(_csv(board_rows(rows))))
    atomic_write(files["jsonl"], lambda tmp: tmp.write_text("".join(json.dumps(r) + "\n" for r in rows)))
    return files


def report_file(model: str, weights: str) -> str:
    """The board-relative path of a model's own report file: ``reports/<readable name>-<hash>.json``."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{model}-{weights}").strip("-.")[:80]
    digest = hashlib.sha256(json.dumps([model, weights]).encode()).hexdigest()[:8]
    return f"reports/{slug}-{digest}.json"


def write_model_reports(out: Path, rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], Path]:
    """Each model's own JSON beside the board (:func:`report_file`): its reports, one per transform, and its failed
    transforms with their reasons; returns the files by ``(model, weights)``."""
    by_model: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        by_model.setdefault(model_key(row), []).append(row)
    written = {}
    for (model, weights), group in by_model.items():
        payload = {"schema_version": ZOO_MODEL_REPORT_SCHEMA_VERSION, "model": model, "weights": weights,
                   "random_init": is_random_init(weights), "meta": next((r["meta"] for r in group if r.get("meta")), {}),
                   "reports": [r["report"] for r in group if r["status"] == "ok" and "report" in r],
                   "failed": {r["transform"]: r["reason"] for r in group if r["status"] == "failed"}}
        path = out / report_file(model, weights)
        atomic_write(path, lambda tmp, p=payload: tmp.write_text(json.dumps(p, indent=1, allow_nan=False)))
        written[(model, weights)] = path
    return written
