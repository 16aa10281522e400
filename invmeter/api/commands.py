"""What the command line's other commands do, from the options it parsed: catalogs, output files, training,
data building and previews, and the paper benchmark. Each is a few lines over the library."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from invmeter._utils.validation import (
    check_choice,
    check_image_size,
    check_output_folder,
    check_positive_int,
    check_seed,
    check_writable,
)
from invmeter.errors import InvalidParameterError

__all__ = ["transform_catalog", "model_listing", "metric_catalog", "zoo_outcome", "check_outputs", "write_outputs",
           "train", "build_data", "preview", "reproduce", "reproduce_plan", "claim_tally", "PLOT_FORMATS"]

PLOT_FORMATS = (".png", ".pdf", ".svg", ".jpg", ".jpeg")
PREVIEW_FORMATS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def transform_catalog() -> list[Any]:
    """Every transform family (name, kind, units, default distribution, magnitude syntax), in registry order."""
    from invmeter.transforms import get_family, list_transforms

    return [get_family(name) for name in list_transforms()]


def model_listing(pattern: str = "*") -> str:
    """``invmeter models PATTERN``: each matching spec (the zoo's matcher: timm names and pretrained tags,
    torchvision, cifar) and whether it has pretrained weights; an error when nothing matches."""
    from invmeter.models import model_catalog

    found = model_catalog(pattern)
    if not found:
        raise InvalidParameterError(f"No model matches {pattern!r}; try a wider pattern such as "
                                    f"'*{pattern.strip('*')}*'.")
    width = max(len(name) for name, _ in found) + 2
    return "\n".join([f"{'model':<{width}}pretrained weights",
                      *(f"{name:<{width}}{'yes' if pretrained else 'no'}" for name, pretrained in found)])


def zoo_outcome(rows: Any, *, allow_failures: bool = False) -> tuple[list[str], str, str | None]:
    """What ``invmeter zoo`` says about a finished zoo (a :class:`~invmeter.leaderboard.rows.ZooTable`): one
    ``FAILED model [weights] on T1, T2: reason`` line per failed model and reason (``on every transform`` when it
    failed on all of them); the summary with the files actually written; and the error that makes the exit status 1
    (nothing ranked; or a failed row, unless ``allow_failures``), else ``None``."""
    transforms = list(dict.fromkeys(r["transform"] for r in rows))
    by: dict[tuple[str, str, str], list[str]] = {}
    for r in rows.failed:
        by.setdefault((r["model"], r["weights"], r["reason"]), []).append(r["transform"])
    failures = [f"FAILED {model} [{weights}] on "
                f"{'every transform' if len(ts) == len(transforms) > 1 else ', '.join(ts)}: {why}"
                for (model, weights, why), ts in by.items()]
    n_models, n_transforms = len({(r["model"], r["weights"]) for r in rows}), len(transforms)
    summary = (f"{n_models} model{'s' * (n_models != 1)} x {n_transforms} transform{'s' * (n_transforms != 1)}: "
               f"{len(rows) - len(rows.failed)} rows, {len(rows.failed)} failed; {rows.ranked} ranked.\nWrote "
               + ", ".join(str(path) for path in rows.files.values()) + ".")
    error = None
    if not rows.ranked:
        error = "Nothing was ranked (every model failed, see above); no leaderboard was written."
    elif rows.failed and not allow_failures:
        error = (f"{len(rows.failed)} of {len(rows)} rows failed (reasons above and on the board); pass "
                 "--allow-failures to exit 0 with failed rows.")
    return failures, summary, error


def metric_catalog() -> list[Any]:
    """Every registered metric with its metadata."""
    from invmeter.metrics import get_metric, list_metrics

    return [get_metric(name) for name in list_metrics()]


def check_outputs(json_path: str | None = None, csv_path: str | None = None, plot_path: str | None = None) -> None:
    """Refuse unusable output paths before any work: unwritable, a folder, a parent that is a file, a CSV whose
    columns differ from a report's, a plot format matplotlib cannot write."""
    from invmeter.report.report import check_csv_columns

    if json_path and json_path != "-":
        check_writable(json_path, "JSON")
    if csv_path:
        check_csv_columns(check_writable(csv_path, "CSV"))
    if plot_path:
        check_writable(plot_path, "plot")
        _check_suffix(plot_path, PLOT_FORMATS, "plot")


def _check_suffix(path: str | os.PathLike[str], formats: Sequence[str], what: str) -> None:
    suffix = Path(path).suffix.lower()
    if suffix not in formats:
        raise InvalidParameterError(f"Cannot write the {what} {str(path)!r}: unsupported format {suffix or '(none)'!r}. "
                                    f"Use one of {', '.join(formats)}.")


def write_outputs(groups: Sequence[Sequence[Any]], *, json_path: str | None = None, csv_path: str | None = None,
                  plot_path: str | None = None, sweep: bool = False) -> str | None:
    """Write the reports (groups: one per model x transform, a sweep's reports in one group) as JSON, CSV rows and a
    figure. Returns the JSON text when ``json_path`` is ``"-"`` (stdout)."""
    from invmeter.report.report import append_csv, reports_to_json

    flat = [r for group in groups for r in group]
    if csv_path:
        append_csv(flat, csv_path)
    text = None
    if json_path:
        text = reports_to_json(groups[0]) if len(groups) == 1 else "[" + ",\n".join(reports_to_json(g) for g in groups) + "]"
        if json_path != "-":
            Path(json_path).write_text(text + "\n")
            text = None
    if plot_path:
        from invmeter.report.plots import plot_reports

        plot_reports(groups[0] if sweep else flat, plot_path)
    return text


def train(*, transforms: str, classes: int, image_size: int, out: str, resume: bool = False, verbose: bool = True,
          track: str | None = None, plot: str | None = None, **options: Any) -> tuple[Any, Path | None]:
    """Train on Transforms-2D objects ``0..classes-1`` under ``transforms`` (see :class:`invmeter.TrainConfig`);
    ``track``: transforms measured every epoch; ``plot``: the per-epoch curves' figure. Returns the result and the
    figure's path."""
    from invmeter.training.loop import TrainConfig, train as run

    config = TrainConfig.for_transforms2d(transforms=transforms, classes=classes, image_size=image_size, track=track,
                                          **options)
    if plot is not None:
        from invmeter.report.plots import require_matplotlib

        if Path(plot).resolve().parent != Path(out).resolve():  # --out itself is created and checked by training
            check_writable(plot, "plot")
        _check_suffix(plot, PLOT_FORMATS, "plot")
        require_matplotlib()  # fail before training if matplotlib is missing
    result = run(config, out=out, resume=resume, verbose=verbose)
    if plot is None:
        return result, None
    from invmeter.report.curves import plot_history

    return result, plot_history(result.history, plot, title=f"{config.arch} on {transforms}")


def build_data(*, objects: str | None, backgrounds: str | None, n_classes: int | None, image_size: int, seed: int,
               transforms: str, splits: Sequence[str], n_images: int | None, cache_dir: str | None,
               progress: bool) -> list[Any]:
    """Render (and cache) Transforms-2D splits; returns the built splits."""
    from invmeter.data import SPLIT_SIZES, build_split
    from invmeter.pipeline.resolve import make_transforms2d

    check_seed("seed", seed)
    if n_images is not None:
        check_positive_int("n_images", n_images)
    if cache_dir is not None:
        check_output_folder(cache_dir, "cache")
    dataset = make_transforms2d(objects=objects, backgrounds=backgrounds, n_classes=n_classes, transforms=transforms,
                                image_size=image_size)
    return [build_split(dataset, split, SPLIT_SIZES[split] if n_images is None else n_images, seed,
                        cache=cache_dir or True, progress=progress) for split in splits or tuple(SPLIT_SIZES)]


def preview(*, objects: str | None, backgrounds: str | None, n_classes: int | None, image_size: int, seed: int,
            transforms: str | None, n: int, zoom: int, out: str) -> int:
    """Write a grid of samples, one row per transform spec of the comma-separated list; returns the rows written."""
    from invmeter.data.preview import check_preview_size, make_preview
    from invmeter.pipeline.resolve import make_transforms2d
    from invmeter.transforms import PAPER_FAMILIES, parse_transform_list

    check_writable(out, "preview")
    _check_suffix(out, PREVIEW_FORMATS, "preview")
    check_image_size(image_size)
    check_seed("seed", seed)
    specs = parse_transform_list(transforms if transforms else ",".join(PAPER_FAMILIES))
    check_preview_size(1 + len(specs), n, image_size, zoom)
    dataset = make_transforms2d(objects=objects, backgrounds=backgrounds, n_classes=n_classes, image_size=image_size)
    make_preview(dataset, specs, n=n, seed=seed, zoom=zoom).save(out)
    return len(specs) + 1


def _reproduce_options(preset: str, seeds: str | None, archs: str | None, objects_dir: str | None,
                       backgrounds_dir: str | None, cifar_root: str | None, amp: bool, compile: bool = False,
                       fixed_split: bool = False, width: float | None = None) -> dict[str, Any]:
    from invmeter.experiments.common import Context
    from invmeter.pipeline.settings import ScoreSettings

    run_seeds = ScoreSettings.create(seeds=seeds).seeds if seeds is not None else None  # distinct, non-negative
    if archs is not None and not [a for a in archs.split(",") if a.strip()]:
        raise InvalidParameterError(f"--archs is empty; give e.g. resnet18,vgg11. Got {archs!r}.")
    context = Context(objects_dir=objects_dir, backgrounds_dir=backgrounds_dir, cifar_root=cifar_root)
    return {"preset": preset, "seeds": run_seeds, "archs": [a.strip() for a in archs.split(",")] if archs else None,
            "context": context, "amp": amp, "compile": compile, "fixed_split": fixed_split, "width": width}


def reproduce_plan(figure: str, *, preset: str, seeds: str | None, archs: str | None, objects_dir: str | None,
                   backgrounds_dir: str | None, cifar_root: str | None, amp: bool, jobs: int, data_cache: bool | None,
                   throughput: str | None, compile: bool = False, fixed_split: bool = False,
                   width: float | None = None, **_ignored: Any) -> str:
    """The ``--dry-run`` report: every figure's cells, image passes, GPU-hours and peak disk; nothing runs."""
    from invmeter.experiments import dry_run

    options = _reproduce_options(preset, seeds, archs, objects_dir, backgrounds_dir, cifar_root, amp, compile,
                                 fixed_split, width)
    return dry_run(figure, **options, jobs=jobs, data_cache=data_cache, throughput=throughput)


def reproduce(figure: str, *, preset: str, out: str, seeds: str | None, archs: str | None, objects_dir: str | None,
              backgrounds_dir: str | None, cifar_root: str | None, allow_standin: bool, executor: str, jobs: int,
              address: str | None, gpus_per_cell: float, amp: bool, deterministic: bool, data_cache: bool | None,
              cached_only: bool, throughput: str | None, log: Callable[[str], None], compile: bool = False,
              fixed_split: bool = False, width: float | None = None) -> dict[str, list[Any]]:
    """Reproduce a paper figure (or ``all``) at a preset; returns its judged claims."""
    from invmeter.experiments import reproduce as run

    check_choice("executor", executor, ("local", "ray"))
    check_output_folder(out)
    if throughput is not None:
        raise InvalidParameterError("--throughput only applies to --dry-run.")
    options = _reproduce_options(preset, seeds, archs, objects_dir, backgrounds_dir, cifar_root, amp, compile,
                                 fixed_split, width)
    return run(figure, **options, out=out, executor=executor, jobs=jobs, address=address, gpus_per_cell=gpus_per_cell,
               deterministic=deterministic, data_cache=data_cache, allow_standin=allow_standin, cached_only=cached_only,
               log=log)


def claim_tally(claims: Sequence[Any]) -> str:
    """``"2 hold, 1 fails, 1 inconclusive"`` for a figure's judged claims."""
    from invmeter.experiments.claims import Tally

    return str(Tally.of(claims))
