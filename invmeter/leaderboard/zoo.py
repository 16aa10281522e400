"""``invmeter zoo``: many models, every transform, one leaderboard.

Each model is one cell of :mod:`invmeter.runner` (cached by a hash of its config, run in worker processes with
``jobs`` or on Ray, resumed after a kill; models given as objects run in this process): it sees the clean images
once and each transform's images once, so T transforms cost ``(1 + T) · N`` forward passes, and a model that fails
becomes rows with the reason. Every model is scored on the same images with the same transform draws (same seed,
same data), so two models' metrics pair up image by image (:mod:`invmeter.leaderboard.ranking`).

A model with trained weights is calibrated against its architecture's random initialisations on the same pairs
(:mod:`invmeter.pipeline.baseline`; cached per architecture and settings under ``OUT/baselines/``, so two weights of
one architecture share it): its rows carry the gains (``learned_invariance``, ...). A random-init model is a
baseline row: its gains, ≈ 0 by construction, come from its architecture's baseline when a trained model of it is
in the zoo. The rows are rewritten atomically to ``OUT/results.csv`` and ``OUT/results.jsonl`` after each model,
then each model's report file and the board (``leaderboard.md``, ``leaderboard.html``) at the end. Every setting is
checked before the first model, and a lock keeps a second run out of the same folder.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from invmeter._utils.io import atomic_write
from invmeter._utils.schemas import ZOO_BASELINE_SCHEMA_VERSION
from invmeter._utils.validation import check_output_folder, unknown_name
from invmeter._version import __version__
from invmeter.errors import InvalidParameterError, InvmeterError, warn
from invmeter.leaderboard.entries import ZooModel, live_object, read_models_file, zoo_models
from invmeter.leaderboard.records import is_random_init
from invmeter.leaderboard.rows import (
    ZooTable,
    board_rows,
    calibrate_row,
    failed_rows,
    ok_row,
    report_file,
    write_model_reports,
    write_results,
    zoo_columns,
)
from invmeter.pipeline.patterns import expand_patterns
from invmeter.runner import EXECUTORS, Cell, cell_task, resolve_jobs, run_cells

__all__ = ["LOCK_FILE", "ZooModel", "ZooTable", "expand_patterns", "read_models_file", "zoo", "zoo_columns"]

LOCK_FILE = ".zoo.lock"
_PREPROCESSING_KEYS = ("input_size", "resize_shorter_side", "crop_pct", "interpolation", "mean", "std")
_NO_TRAINED = "a random-init baseline: no trained model of its architecture and settings in the zoo"
_RANDOM_ROW = ("a random-init model is a baseline: its gains come from its architecture's random-init baseline, "
               "scored when a trained model of the same architecture and settings is in the zoo")


def _baseline_id(plan: Any, config: Mapping[str, Any]) -> str:
    """What a random-init baseline depends on: the architecture and its classes, the preprocessing as applied, the
    readout, the settings, the data and the transforms (not the weights, nor the model's name)."""
    handle = plan.handle
    prep = {k: v for k, v in handle.preprocessing.describe().items() if k in _PREPROCESSING_KEYS}
    key = {"architecture": handle.architecture, "num_classes": handle.num_classes, "preprocessing": prep,
           "readout": str(plan.readout or handle.readout),
           "settings": {k: v for k, v in config["settings"].items() if k not in ("weights", "progress")},
           "data": config["data"], "transforms": config["transforms"], "version": __version__}
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _cached_baseline(folder: Path, key: str, plan: Any, names: Sequence[str]) -> list[Any]:
    """The plan's random-init baseline, one per transform: read from ``folder/<key>.json`` when a model of the same
    architecture and settings computed it, else measured and written there (a lock per key: two workers never
    measure one baseline twice)."""
    from filelock import FileLock

    from invmeter.pipeline.baseline import BaselineTerms, measure_baseline

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.json"
    with FileLock(str(folder / f".{key}.lock")):
        try:
            cached = json.loads(path.read_text()) if path.is_file() else None
            if cached is not None:
                return [BaselineTerms.from_dict(cached["transforms"][name]) for name in names]
        except (ValueError, KeyError, TypeError):
            pass  # a damaged cache file is measured again and rewritten
        terms = measure_baseline(plan, seed=plan.settings.seed)
        payload = {"schema_version": ZOO_BASELINE_SCHEMA_VERSION, "id": key, "architecture": plan.handle.architecture,
                   "init_seeds": list(plan.settings.init_seeds),
                   "transforms": {name: b.to_dict() for name, b in zip(names, terms)}}
        atomic_write(path, lambda tmp: tmp.write_text(json.dumps(payload)))
    return terms


def _reason(exc: Exception) -> str:
    """A failed row's reason: a user-facing error's own one-line message (e.g. named weights that cannot be had,
    with how to get them), any other exception with its class."""
    return str(exc) if isinstance(exc, InvmeterError) else f"{exc.__class__.__name__}: {exc}"


@cell_task("zoo_model")
def zoo_model_cell(config: dict[str, Any], deps: dict[str, dict[str, Any]], workdir: Path, _run: Any) -> dict[str, Any]:
    """Score one model on every transform, the clean views once (after its architecture's random-init baseline when
    it has trained weights); a model that fails gives rows with the reason."""
    from invmeter.models import random_init_copy
    from invmeter.pipeline.baseline import without_gains
    from invmeter.pipeline.measure import measure_each
    from invmeter.pipeline.prepare import prepare
    from invmeter.pipeline.settings import ScoreSettings

    settings = ScoreSettings.create(**{**config["settings"], **config["overrides"]})
    model = config["model"] if isinstance(config["model"], str) else live_object(config["model"])
    try:
        plan = next(prepare(model, config["transforms"], data=config["data"], settings=settings).plans())
        if config["reinit"]:  # the model's architecture at random init (as its baseline's first initialisation)
            plan = plan.with_handle(random_init_copy(plan.handle, seed=settings.seed))
    except Exception as exc:  # noqa: BLE001 - a model that cannot be had is a row with the reason; the zoo goes on
        weights = "random-init" if config["reinit"] else str(settings.weights)
        return {"rows": failed_rows(config, weights, _reason(exc)), "baseline": None}
    handle, key = plan.handle, _baseline_id(plan, config)
    meta = {"params": sum(p.numel() for p in handle.model.parameters()), "input_size": list(handle.input_size),
            "preprocessing": handle.preprocessing.describe(rendered=plan.data.transforms2d is not None),
            "labels": settings.labels,
            "architecture": handle.architecture, "spec": handle.name, "baseline_id": key if settings.baseline else None}
    baselines = None
    if settings.baseline and is_random_init(handle.weights):
        plan = without_gains(plan, _RANDOM_ROW)
    elif settings.baseline:
        baselines = _cached_baseline(workdir.parents[1] / "baselines", key, plan, config["transforms"])
    rows = []
    measured = measure_each(plan, seed=settings.seed, keep_going=True, baselines=baselines)
    for transform, (_, result) in zip(config["transforms"], measured):
        if isinstance(result, Exception):  # this transform fails for this model: a row with the reason
            rows += failed_rows(config, handle.weights, _reason(result), [transform])
        else:
            rows.append(ok_row(config, transform, handle.weights, meta, result))
    baseline = None if baselines is None else {
        "id": key, "transforms": {t: b.to_dict() for t, b in zip(config["transforms"], baselines)}}
    return {"rows": rows, "baseline": baseline}



def _checked_transforms(transforms: Any) -> list[Any]:
    """The transforms parsed (default: the paper's eight families), each given once."""
    from invmeter.pipeline.resolve import resolve_transforms
    from invmeter.transforms import PAPER_FAMILIES

    specs = resolve_transforms(transforms or list(PAPER_FAMILIES))
    names = [str(spec) for spec in specs]
    twice = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if twice is not None:
        raise InvalidParameterError(f"The transform {twice!r} is given twice; give each transform once.")
    return specs


def _check_rank(rank: str | None, settings: Any, resolved: Any, specs: Sequence[Any]) -> None:
    """Each transform's metric plan (a metric asked for that a transform cannot give fails here), and the rank
    metric (or the default's, ``invariance``) computed on every transform."""
    from invmeter.metrics import get_metric
    from invmeter.pipeline.prepare import metric_plan

    plans = [metric_plan(settings, resolved, spec) for spec in specs]
    computed = [m for m in plans[0].computed if all(m in p.computed for p in plans)]
    if rank is not None:
        get_metric(rank)  # an unknown name: close names suggested
        if rank not in computed:
            why = next((p.skipped[rank] for p in plans if rank in p.skipped), None) or (
                "it needs the architecture's random initialisations (baseline='random-init')"
                if "baseline" in get_metric(rank).needs and not settings.baseline else "it is not in --metrics")
            raise InvalidParameterError(f"The rank metric {rank} is not computed on every transform ({why}). "
                                        f"Computed: {', '.join(computed)}.")
    elif "invariance" not in computed:
        raise InvalidParameterError(f"The board ranks by invariance by default (by learned_invariance when it mixes "
                                    f"architectures), and --metrics leaves it out; add invariance to --metrics, or "
                                    f"rank by a computed metric (--rank {computed[0]}). Computed: "
                                    f"{', '.join(computed)}.")


def _settings(options: dict[str, Any]) -> Any:
    from invmeter.pipeline.settings import ScoreSettings

    if options.get("seeds") is not None:
        raise InvalidParameterError("The zoo scores each model at one seed; use score() for several seeds.")
    baseline = options.pop("baseline", "random-init")
    return ScoreSettings.create(**options, baseline=None if baseline in (None, "none") else baseline)


def zoo(
    models: Any,
    transforms: str | Sequence[Any] | None = None,
    *,
    out: str | Path,
    data: str = "transforms2d",
    rank: str | None = None,
    jobs: int = 1,
    executor: str = "local",
    address: str | None = None,
    log: Callable[[str], None] | None = None,
    include_random: bool = False,
    **options: Any,
) -> ZooTable:
    """Score every model on every transform (default: the paper's eight families) and write ``results.csv``,
    ``results.jsonl``, each model's report file and the leaderboard under ``out``; returns the rows.

    Args:
        models: Specs or globs (``["timm:resnet18*", "cifar:vgg11"]``, see :func:`expand_patterns`), ``nn.Module``
            objects or :class:`ModelHandle` objects (``{"mine": module, "theirs": "timm:resnet18"}``, ``(name,
            module)`` pairs), :class:`ZooModel` entries (a spec with its own weights file or preprocessing; a
            models file: :func:`read_models_file`). One row per distinct model: ``resnet18`` and ``timm:resnet18``
            are one. The board shows the names given.
        transforms: Transform specs, in the one list grammar (``"rotation,color_jitter:hue=0.1,saturation=0.2"``)
            or a list of them, each once.
        out: Output folder; a re-run reuses every finished model (nothing is recomputed). One run at a time: a
            second run on the same folder stops with an error while the first holds its lock.
        data: ``"transforms2d"`` (built-in) or a folder of images; every model sees the same images.
        rank: The metric that orders the board (any metric computed on every transform; its direction comes from
            the registry). Default: ``learned_invariance`` when the ranked models do not share one random-init
            baseline (different architectures or preprocessing), else ``invariance``.
        jobs: Models scored at once, each in a worker process (0 = one per core on a CPU-only machine).
        executor: ``local`` or ``ray`` (``address``: a Ray cluster).
        include_random: With ``weights="auto"``, a glob's pretrained tags whose weights cannot be had (offline, not
            in the cache) are skipped with a warning; ``True`` scores them at random init instead. A tag named as
            given is never skipped: its weights load or its rows fail with the reason.
        options: :class:`~invmeter.pipeline.settings.ScoreSettings` fields (``image_size``, ``n_images``, ``seed``,
            ``labels``, ``weights``, ``metrics``, ``baseline_inits``, ...), the same for every model; ``baseline``:
            ``"random-init"`` (default: trained models are calibrated against their architecture's random
            initialisations) or ``None``.

    The returned :class:`ZooTable` says which files were written (``files``), how many models the board ranks
    (``ranked``; 0: no board) and which rows failed (``failed``, each with its reason).
    """
    from invmeter._utils.device import resolve_device
    from invmeter.pipeline.resolve import check_model, resolve_data
    from invmeter.pipeline.settings import ScoreSettings

    settings = _settings(options)
    if not str(out).strip():
        raise InvalidParameterError("The zoo's output folder is empty; give a folder (--out DIR, out=...).")
    out = check_output_folder(out, "zoo's output")
    entries = _without_unavailable_tags(zoo_models(models), models, settings.weights, include_random)
    for entry, _ in entries:  # each model checked without building it: its spec, its weights, its settings
        check_model(entry.model, ScoreSettings.create(**{**settings.to_dict(), **entry.overrides(), "progress": False}))
    specs = _checked_transforms(transforms)
    if not isinstance(data, str):
        raise InvalidParameterError("The zoo's data is 'transforms2d' or a folder path (the same for every model).")
    resolved = resolve_data(data, settings)  # a bad folder fails before any model is loaded
    _check_rank(rank, settings, resolved, specs)
    resolve_device(settings.device)  # and a device this machine does not have
    if executor not in EXECUTORS:
        raise unknown_name("executor", executor, EXECUTORS)
    jobs = resolve_jobs(jobs)
    config = {"settings": {k: v for k, v in settings.to_dict().items() if k != "progress"}, "data": data,
              "transforms": [str(spec) for spec in specs]}
    cells = [Cell("zoo_model", {**config, "model": ref, "name": entry.name, "overrides": entry.overrides(),
                                "reinit": entry.reinitialised}, label=entry.name) for entry, ref in entries]
    with _locked(out):
        records = _run(cells, out, jobs=jobs, executor=executor, address=address, log=log)
        rows = _calibrated([row for c in cells for row in records[c.id]["result"]["rows"]],
                           [records[c.id]["result"].get("baseline") for c in cells], settings)
        files = write_results(out, rows)  # also when every model was cached
        reports = write_model_reports(out, rows)
        if reports:
            files["reports"] = out / "reports"
        ranked = 0
        if any(r["status"] == "ok" for r in rows):
            from invmeter.leaderboard.board import build_board, write_board

            board = build_board(board_rows(rows), rank_by=rank, seed=settings.seed,
                                reports={key: report_file(*key) for key in reports})
            ranked = board.n_ranked
            files.update(write_board(board, out))
    return ZooTable(rows, files, ranked)


def _locked(out: Path) -> Any:
    """``OUT/.zoo.lock``, held for the whole run: a second zoo on the same folder stops at once with a message."""
    from filelock import FileLock, Timeout

    class Held:
        def __enter__(self) -> None:
            out.mkdir(parents=True, exist_ok=True)
            self.lock = FileLock(str(out / LOCK_FILE), timeout=0)
            try:
                self.lock.acquire()
            except Timeout:
                raise InvalidParameterError(f"Another invmeter zoo is writing to {str(out)!r} (its lock "
                                            f"{str(out / LOCK_FILE)!r} is held); wait for it to finish, or give "
                                            "another --out folder.") from None

        def __exit__(self, *exc: object) -> None:
            self.lock.release()

    return Held()


def _run(cells: list[Cell], out: Path, *, jobs: int, executor: str, address: str | None,
         log: Callable[[str], None] | None) -> dict[str, dict[str, Any]]:
    """Run the cells, rewriting the results after each model (in the models' order); models given as objects run
    in this process (a worker process or a Ray task cannot receive them), the others on the executor."""
    finished: dict[str, list[dict[str, Any]]] = {}

    def write_rows(cell: Cell, record: dict[str, Any]) -> None:
        finished[cell.id] = record["result"]["rows"]
        write_results(out, [row for c in cells for row in finished.get(c.id, ())])

    here = [c for c in cells if not isinstance(c.config["model"], str)]
    rest = [c for c in cells if isinstance(c.config["model"], str)]
    records = run_cells(here, out, jobs=1, log=log, on_record=write_rows) if here else {}
    if rest:
        records.update(run_cells(rest, out, executor=executor, jobs=jobs, address=address, log=log,
                                 on_record=write_rows))
    return records


def _without_unavailable_tags(entries: list[tuple[ZooModel, Any]], models: Any, weights: Any, include_random: bool
                              ) -> list[tuple[ZooModel, Any]]:
    """The entries less the pretrained tags a glob matched whose weights cannot be had under ``weights="auto"``
    (skipped with a warning), or with those scored at random init (``include_random``, with a warning). A tag
    named as given is kept: its weights load or its rows fail with the reason."""
    from invmeter.models.sources import named_weights_unavailable

    if weights != "auto":
        return entries
    strings = [m for m in models if isinstance(m, str)] if isinstance(models, (list, tuple)) else []
    plain = [m for m in strings if not any(c in m for c in "*?[")]
    given = {entry.model for entry, _ in zoo_models(plain)} if plain else set()
    missing = {e.model: why for e, _ in entries if isinstance(e.model, str) and e.weights is None
               and e.model not in given and (why := named_weights_unavailable(e.model)) is not None}
    if not missing:
        return entries
    if include_random:
        warn(f"Scoring {_tags(missing)} at RANDOM INIT (--include-random): their pretrained weights cannot be had.")
        return [(replace(e, weights="random") if e.model in missing else e, ref) for e, ref in entries]
    kept = [(e, ref) for e, ref in entries if e.model not in missing]
    if not kept:
        raise InvalidParameterError(
            f"Every model the patterns match is a pretrained tag whose weights cannot be had ({_tags(missing)}); "
            "get their weights (invmeter score -m TAG says how), or pass --include-random (include_random=True) "
            "to score them at random init.")
    warn(f"Skipped {_tags(missing)}: pretrained tags the patterns match whose weights cannot be had; pass "
         "--include-random (include_random=True) to score them at random init, or get their weights "
         "(invmeter score -m TAG says how).")
    return kept


def _tags(missing: dict[str, str]) -> str:
    names = list(missing)
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return f"{len(names)} tag{'s' if len(names) != 1 else ''} ({shown}; {next(iter(missing.values()))})"


def _calibrated(rows: list[dict[str, Any]], baselines: Sequence[Mapping[str, Any] | None], settings: Any
                ) -> list[dict[str, Any]]:
    """Random-init rows with their gains over their architecture's baseline, where a trained model of the same
    architecture and settings scored one (``≈ 0`` by construction: the row is one of the initialisations)."""
    from invmeter.metrics.registry import calibrated_by

    if not settings.baseline:
        return rows
    by_id = {b["id"]: b for b in baselines if b is not None}
    out = []
    for row in rows:
        if is_random_init(row["weights"]) and row["status"] == "ok":
            gains = calibrated_by(list(row["metrics"]))
            base = by_id.get((row.get("meta") or {}).get("baseline_id"))
            row = calibrate_row(row, base, gains, settings.n_boot, settings.seed) if base is not None else {
                **row, "metrics": {**row["metrics"], **{g: {"value": None, "ci95": [None, None], "reason": _NO_TRAINED}
                                                        for g in gains}}}
        out.append(row)
    return out
