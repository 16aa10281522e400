"""``invmeter zoo``: many models, every transform, one leaderboard.

Each model is one cell of :mod:`invmeter.runner` (cached by a hash of its config, run in worker processes with
``jobs`` or on Ray, resumed after a kill): it sees the clean images once and each transform's images once, so T
transforms cost ``(1 + T) · N`` forward passes, and a model that fails becomes rows with the reason. Every model is
scored on the same images with the same transform draws (same seed, same data), so two models' metrics pair up
image by image (:mod:`invmeter.leaderboard.ranking`). The rows are rewritten atomically to ``OUT/results.csv`` and
``OUT/results.jsonl`` in a fixed order after each model, and the board (``leaderboard.md``, ``leaderboard.html``)
at the end.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from invmeter._utils.io import atomic_write
from invmeter._utils.schemas import ZOO_ROW_SCHEMA_VERSION
from invmeter._utils.validation import check_output_folder
from invmeter.errors import InvalidParameterError, InvmeterError
from invmeter.pipeline.patterns import expand_patterns
from invmeter.report.display import html_table, markdown_table
from invmeter.report.tables import fmt, interval
from invmeter.runner import Cell, cell_task, resolve_jobs, run_cells

__all__ = ["zoo", "expand_patterns", "ZooTable", "zoo_columns"]

_ROW_COLUMNS = ("model", "weights", "transform", "status", "reason")
_META_COLUMNS = ("params", "input_size", "pairing")


def zoo_columns() -> list[str]:
    """The columns of ``results.csv``: the row's configuration, every registered metric (registry order) with its
    interval, then the model's size and the pairing id; a metric a row did not compute is left empty."""
    from invmeter.metrics import list_metrics

    return [*_ROW_COLUMNS, *(c for m in list_metrics() for c in (m, f"{m}_lo", f"{m}_hi")), *_META_COLUMNS]


class ZooTable(list):
    """The zoo's rows (one dict per model x transform); :meth:`to_pandas` gives a DataFrame when pandas is installed;
    a notebook shows a table of every row's metrics with their intervals (or why the row failed)."""

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


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """The CSV/DataFrame form of a row: every metric's value and interval as columns."""
    out: dict[str, Any] = {k: row.get(k) for k in ("model", "weights", "transform", "status", "reason")}
    for name, entry in row.get("metrics", {}).items():
        lo, hi = entry.get("ci95") or (None, None)
        out[name], out[f"{name}_lo"], out[f"{name}_hi"] = entry.get("value"), lo, hi
    meta = row.get("meta", {})
    out["params"] = meta.get("params")
    out["input_size"] = "x".join(str(v) for v in meta.get("input_size", [])) or None
    out["pairing"] = row.get("pairing")
    return out


def _cells(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
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


def _csv(rows: Sequence[dict[str, Any]]) -> str:
    flat = [_flat(r) for r in rows]
    columns = zoo_columns()
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)
    return buf.getvalue()


def _pairing(config: dict[str, Any], transform: str) -> str:
    """Same images, transform draws and references: the data, the seed, the image count, the transform."""
    key = {"data": config["data"], "transform": transform, "seed": config["settings"].get("seed", 0),
           "n_images": config["settings"].get("n_images"), "n_classes": config["settings"].get("n_classes", 10),
           "image_size": config["settings"].get("image_size")}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def _failed_rows(config: dict[str, Any], weights: str, reason: str) -> list[dict[str, Any]]:
    return [{"schema_version": ZOO_ROW_SCHEMA_VERSION, "model": config["model"], "weights": weights, "transform": t, "status": "failed",
             "reason": reason.splitlines()[0][:500], "metrics": {}, "pairing": _pairing(config, t)}
            for t in config["transforms"]]


@cell_task("zoo_model")
def zoo_model_cell(config: dict[str, Any], deps: dict[str, dict[str, Any]], workdir: Path, _run: Any) -> dict[str, Any]:
    """Score one model on every transform, the clean views once; a model that fails gives rows with the reason."""
    import numpy as np

    from invmeter.pipeline.measure import measure_each
    from invmeter.pipeline.prepare import prepare
    from invmeter.pipeline.settings import ScoreSettings

    settings = ScoreSettings.create(**config["settings"])
    try:
        plan = next(prepare(config["model"], config["transforms"], data=config["data"], settings=settings).plans())
    except Exception as exc:  # noqa: BLE001 - a model that cannot be had is a row with the reason; the zoo goes on
        return {"rows": _failed_rows(config, str(config["settings"].get("weights", "auto")),
                                     f"{exc.__class__.__name__}: {exc}")}
    handle = plan.handle
    meta = {"params": sum(p.numel() for p in handle.model.parameters()), "input_size": list(handle.input_size),
            "preprocessing": handle.preprocessing.describe(), "labels": settings.labels}
    rows = []
    for transform, (_, result) in zip(config["transforms"], measure_each(plan, seed=settings.seed, keep_going=True)):
        if isinstance(result, Exception):  # this transform fails for this model: a row with the reason
            rows.append(_failed_rows({**config, "transforms": [transform]}, handle.weights,
                                     f"{result.__class__.__name__}: {result}")[0])
            continue
        terms = {name: {k: np.asarray(v, dtype=np.float64).tolist() for k, v in t.items()}
                 for name, t in result.terms.items()}
        rows.append({"schema_version": ZOO_ROW_SCHEMA_VERSION, "model": config["model"], "weights": handle.weights,
                     "transform": transform, "status": "ok", "reason": None,
                     "metrics": {k: {"value": None, "ci95": [None, None], "reason": None, **v.to_dict()}
                                 for k, v in result.report.metrics.items()},
                     "meta": meta, "terms": terms, "pairing": _pairing(config, transform),
                     "report": result.report.to_dict()})
    return {"rows": rows}


def zoo(
    patterns: Sequence[str],
    transforms: str | Sequence[str] | None = None,
    *,
    out: str | Path,
    data: str = "transforms2d",
    rank: str = "invariance",
    jobs: int = 1,
    executor: str = "local",
    address: str | None = None,
    log: Callable[[str], None] | None = None,
    **options: Any,
) -> ZooTable:
    """Score every model of ``patterns`` on every transform (default: the paper's eight families) and write
    ``results.csv``, ``results.jsonl`` and the leaderboard under ``out``; returns the rows.

    Args:
        patterns: Model specs or globs (see :func:`expand_patterns`).
        transforms: Transform specs, in the one list grammar (``"rotation,color_jitter:hue=0.1,saturation=0.2"``)
            or a list of them.
        out: Output folder; a re-run reuses every finished model (nothing is recomputed).
        data: ``"transforms2d"`` (built-in) or a folder of images; every model sees the same images.
        rank: The metric that orders the board (any computed metric; its direction comes from the registry).
        jobs: Models scored at once, each in a worker process (0 = one per core on a CPU-only machine).
        executor: ``local`` or ``ray`` (``address``: a Ray cluster).
        options: :class:`~invmeter.pipeline.settings.ScoreSettings` fields (``image_size``, ``n_images``, ``seed``,
            ``labels``, ``weights``, ``metrics``, ...), the same for every model.
    """
    from invmeter._utils.device import resolve_device
    from invmeter.leaderboard.board import write_leaderboard
    from invmeter.metrics import get_metric
    from invmeter.pipeline.prepare import metric_plan
    from invmeter.pipeline.resolve import resolve_data, resolve_transforms
    from invmeter.pipeline.settings import ScoreSettings
    from invmeter.transforms import PAPER_FAMILIES

    if options.get("seeds") is not None or options.get("baseline") is not None:
        raise InvalidParameterError("The zoo scores each model once (one seed, no baseline); use score() for those.")
    settings = ScoreSettings.create(**options)
    out = check_output_folder(out, "zoo's output")
    metric = get_metric(rank)
    specs = expand_patterns(patterns)
    specs_t = resolve_transforms(transforms or list(PAPER_FAMILIES))  # every spec checked up front
    if not isinstance(data, str):
        raise InvalidParameterError("The zoo's data is 'transforms2d' or a folder path (the same for every model).")
    resolved = resolve_data(data, settings)  # a bad folder fails before any model is loaded
    for spec in specs_t:
        metric_plan(settings, resolved, spec)  # a metric asked for that a transform cannot give, likewise
    resolve_device(settings.device)  # and a device this machine does not have
    names = [str(spec) for spec in specs_t]
    config = {"settings": {k: v for k, v in settings.to_dict().items() if k != "progress"}, "data": data,
              "transforms": names}
    cells = [Cell("zoo_model", {**config, "model": spec}, label=spec) for spec in specs]
    finished: dict[str, list[dict[str, Any]]] = {}

    def write_rows(cell: Cell, record: dict[str, Any]) -> None:
        """After each model: every finished row, in the patterns' order, rewritten atomically."""
        finished[cell.id] = record["result"]["rows"]
        _write_results(out, [row for c in cells for row in finished.get(c.id, ())])

    records = run_cells(cells, out, executor=executor, jobs=resolve_jobs(jobs), address=address, log=log,
                        on_record=write_rows)
    rows = ZooTable(row for cell in cells for row in records[cell.id]["result"]["rows"])
    _write_results(out, rows)  # also when every model was cached
    if any(r["status"] == "ok" for r in rows):
        write_leaderboard(_board_rows(rows), out, rank_by=rank, higher_is_better=metric.higher_is_better is not False,
                          seed=settings.seed)
    return rows


def _write_results(out: Path, rows: Sequence[dict[str, Any]]) -> None:
    atomic_write(out / "results.csv", lambda tmp: tmp.write_text(_csv(_board_rows(rows))))
    atomic_write(out / "results.jsonl", lambda tmp: tmp.write_text("".join(json.dumps(r) + "\n" for r in rows)))


def _board_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows without their full reports (those stay in results.jsonl)."""
    return [{k: v for k, v in row.items() if k != "report"} for row in rows]
