"""A figure's outputs: results.json, results.csv, summary.md and the plot, with every claim judged per seed and on the
mean (:mod:`invmeter.experiments.claims`), the paper's numbers beside ours, the data sources and how the preset
differs from the paper's settings."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from invmeter._utils.io import atomic_write
from invmeter._utils.schemas import EXPERIMENT_RESULTS_SCHEMA_VERSION
from invmeter._utils.versions import versions
from invmeter.data.cifar import CIFAR10_CLASSES
from invmeter.data.design import TMLR_CATALOGUE
from invmeter.experiments.claims import LEARNT_FRACTION, LEARNT_SE, SYMBOLS, Claim, Tally, judge
from invmeter.experiments.common import Context, Figure, Scale
from invmeter.runner import Cell

__all__ = ["data_sources", "deviations", "table_rows", "write_outputs"]

_COMPARED = ("n_classes", "n_train", "n_val", "n_test", "n_ft_train", "n_ft_test", "epochs", "batch_size", "width",
             "widths", "image_size", "families", "amp")


def _n_classes(dataset: dict[str, Any]) -> int:
    """Classes of a dataset config: its objects, or CIFAR-10's classes for pasted objects labelled by background."""
    if dataset.get("kind") == "pasted" and dataset.get("label") != "object":
        return len(CIFAR10_CLASSES)  # CIFAR-10 and its stand-in
    return len(dataset["objects"])


def table_rows(cells: Sequence[Cell], records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per row cell that has a record: its meta, its result, its id, and for a cell on a trained model that
    model's pretraining test accuracy, chance level and test-set size (``pretrain_*``: what claims judge learning by)."""
    rows = []
    for cell in cells:
        if not cell.meta.get("row") or cell.id not in records:
            continue
        row = {k: v for k, v in cell.meta.items() if k != "row"}
        row.update(records[cell.id]["result"])
        model = cell.deps.get("model")
        if model is not None:
            row["pretrain_accuracy"] = records[model.id]["result"]["test_accuracy"]
            row["pretrain_chance"] = 1.0 / _n_classes(model.config["dataset"])
            row["pretrain_n_test"] = model.config["n_test"]
        rows.append({**row, "cell": cell.id})
    return rows


def data_sources(figure: Figure, context: Context) -> str:
    """One line naming where the figure's images come from."""
    parts = []
    if "objects" in figure.DATA:
        parts.append(f"objects from {context.objects_dir}" if context.objects_dir else
                     "procedural objects (invmeter's generator; the paper: SI-score objects)")
    if "backgrounds" in figure.DATA:
        parts.append(f"backgrounds from {context.backgrounds_dir}" if context.backgrounds_dir else
                     "procedural backgrounds (the paper: 867 SI-score photographs)")
    if "cifar" in figure.DATA:
        parts.append(f"CIFAR-10 from {context.cifar_root}" if context.cifar_root else
                     "the CIFAR-10 stand-in (procedural scenes, NOT CIFAR-10)")
    return "Data: " + "; ".join(parts) + "."


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return f"{len(value)}: " + ", ".join(map(str, value)) if value and isinstance(value[0], str) else str(len(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _last_layer(scale: Scale) -> str:
    return f"{scale.ft_steps:,} Adam steps" if scale.ft_steps is not None else f"{scale.ft_epochs} epochs"


def deviations(figure: Figure, preset: str, scale: Scale) -> str:
    """One line: how ``scale`` differs from the figure's ``paper`` preset (and the figure's own notes on it)."""
    paper = figure.SCALES["paper"]
    compared = getattr(figure, "COMPARED", _COMPARED)
    diffs = [f"{f.name} {_show(getattr(scale, f.name))} (paper {_show(getattr(paper, f.name))})"
             for f in fields(Scale) if f.name in compared and getattr(scale, f.name) != getattr(paper, f.name)]
    if "n_ft_train" in compared and _last_layer(scale) != _last_layer(paper):
        diffs.append(f"last layer {_last_layer(scale)} (paper {_last_layer(paper)})")
    if len(scale.seeds) != len(paper.seeds):
        diffs.append(f"{len(scale.seeds)} seeds (paper {len(paper.seeds)})")
    if set(scale.archs) != set(paper.archs):
        diffs.append(f"architectures {', '.join(scale.archs)} (paper {', '.join(paper.archs)})")
    if "backgrounds" in figure.DATA:  # a Transforms-2D figure: how its training and target data are drawn
        if not scale.redraw:
            diffs.append("fixed training splits, drawn once (--fixed-split; the paper draws the transforms again "
                         "every epoch)")
        elif set(scale.families) == set(TMLR_CATALOGUE):  # a figure that replays the paper's draws says so
            diffs.append(getattr(figure, "DRAW_NOTE", "transform sets drawn as the paper's code draws them, from its "
                                                      "catalogue of 18"))
        diffs.append(f"last layer fit on {scale.ft_draws if scale.redraw else 1} draw(s) of the target's scenes "
                     "(the paper: a new draw every epoch)")
    diffs += getattr(figure, "DEVIATIONS", {}).get(preset, [])
    if not diffs:
        return f"Preset {preset}: the paper's settings."
    return f"Preset {preset} differs from the paper's settings: " + "; ".join(diffs) + "."


def _csv(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def _effect(claim: Claim) -> str:
    ratio = claim.effect_ratio
    paper = claim.paper.effect if claim.paper is not None else None
    return f"{_fmt(claim.effect)} / {_fmt(paper)}" + (f" ({ratio:.1f}×)" if ratio is not None else "")


def summary(figure: Figure, preset: str, scale: Scale, claims: list[Claim], command: str, notes: list[str]) -> str:
    """summary.md: the notes, then one table row per claim with per-seed verdicts and the paper's numbers."""
    lines = [f"# {figure.NAME}: {figure.TITLE}", "", f"Preset `{preset}`: {json.dumps(asdict(scale))}", "",
             f"Command: `{command}`", ""]
    lines += [f"> {note}" for note in notes] + ([""] if notes else [])
    if claims:
        lines += [("| claim | measured (mean over seeds) | per seed: verdict, effect | paper | effect: ours / paper "
                   "(ratio) | verdict |"), "| --- | --- | --- | --- | --- | --- |"]
    for c in claims:
        measured = "; ".join(f"{k}: {_fmt(v)}" for k, v in c.measured.items())
        seeds = " · ".join(f"{s}: {SYMBOLS[v['status']]} {_fmt(v['effect'])}" for s, v in c.per_seed.items())
        paper = "–" if c.paper is None else c.paper.values
        lines.append(f"| **{c.id}** {c.text} | {measured} | {seeds} | {paper} | {_effect(c)} | {c.symbol} {c.status} |")
    if not claims:
        lines += ["This figure makes no claim to check."]
    if claims:
        lines += ["", (f"**{Tally.of(claims)}** of {len(claims)} claims. A claim holds when it holds on the mean over "
                       "seeds and on a majority of seeds; it is inconclusive when a model it relies on did not learn "
                       "its pretraining task (test accuracy below chance + max("
                       f"{LEARNT_FRACTION:.0%} of the way to 1, {LEARNT_SE:g} standard errors)) on the mean or on "
                       "most seeds.")]
        reasons = [f"- **{c.id}** ({c.status}): {c.reason}" for c in claims if c.reason]
        lines += [""] + reasons if reasons else []
        sources = dict.fromkeys(c.paper.source for c in claims if c.paper is not None)
        lines += ["", "Paper numbers: " + "; ".join(sources) + ". Effects are in the units of the measured numbers "
                  "(accuracy or ratio); the ratio is ours ÷ the paper's."] if sources else []
    lines += ["", "Every number is in `results.json` (with each cell's config and provenance) and `results.csv`."]
    return "\n".join(lines) + "\n"


def write_outputs(
    out: Path,
    figure: Figure,
    preset: str,
    scale: Scale,
    cells: list[Cell],
    records: dict[str, dict[str, Any]],
    command: str,
    notes: list[str],
    log: Callable[[str], None],
) -> list[Claim]:
    """Write results.json, results.csv, summary.md and (with matplotlib) the figure; return the judged claims."""
    rows = table_rows(cells, records)
    missing = sum(1 for c in cells if c.meta.get("row") and c.id not in records)
    try:
        claims = judge(figure.claims, rows, preset) if rows else []
    except (KeyError, IndexError, ValueError):
        if not missing:
            raise
        claims = []  # a partial run (--cached-only): the figure's tables are incomplete
    if missing:
        notes = [*notes, f"{missing} of the figure's cells have not run: their rows are missing"
                 + ("; the claims were not judged." if not claims else ".")]
    payload = {
        "schema_version": EXPERIMENT_RESULTS_SCHEMA_VERSION,
        "figure": figure.NAME, "title": figure.TITLE, "preset": preset, "scale": asdict(scale), "command": command,
        "notes": notes, "tally": Tally.of(claims).counts, "claims": [c.to_dict() for c in claims], "rows": rows,
        "cells": list(records.values()),
        "provenance": {"versions": versions(), "written": time.strftime("%Y-%m-%dT%H:%M:%S")},
    }
    atomic_write(out / "results.json", lambda tmp: tmp.write_text(json.dumps(payload, indent=1, default=str)))
    atomic_write(out / "results.csv", lambda tmp: tmp.write_text(_csv(rows)))
    text = summary(figure, preset, scale, claims, command, notes)
    if rows and claims and hasattr(figure, "tables"):  # a figure's own tables (selection: τ per seed and target)
        text += "\n" + figure.tables(rows)
    atomic_write(out / "summary.md", lambda tmp: tmp.write_text(text))
    if not getattr(figure, "NEEDS_MATPLOTLIB", True):
        figure.plot(rows, out / f"{figure.NAME}.png")
        return claims
    try:
        import matplotlib  # noqa: F401 - the plot extra is optional
    except ImportError:
        log("matplotlib is not installed: no plot (pip install 'invmeter[plot]')")
    else:
        figure.plot(rows, out / f"{figure.NAME}.png")
    return claims
