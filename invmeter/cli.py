"""The ``invmeter`` command line: parse options, call :mod:`invmeter.api`, render. No measurement logic lives here.

Importing this module imports click and nothing heavy: each command imports the API when it runs, so ``invmeter
--help`` and shell completion do not load PyTorch.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable
from typing import Any

import click

from invmeter._version import __version__
from invmeter.errors import InvmeterError, InvmeterWarning

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


def _show_warning(message: Any, category: type[Warning], *_args: Any, **_kwargs: Any) -> None:
    if issubclass(category, InvmeterWarning):
        click.secho(f"WARNING: {message}", fg="yellow", bold=True, err=True)
    else:
        click.echo(f"warning: {message}", err=True)


def friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """User mistakes (InvmeterError, unwritable files) become one-line 'Error: ...' messages with exit 1, each on its
    own line (open progress bars are closed first), and Ctrl-C exits 130 with 'Interrupted.'."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        warnings.showwarning = _show_warning
        try:
            return func(*args, **kwargs)
        except (InvmeterError, OSError, KeyboardInterrupt) as exc:
            tqdm = sys.modules.get("tqdm")
            for bar in list(getattr(tqdm.tqdm, "_instances", ())) if tqdm is not None else ():
                bar.close()
            if isinstance(exc, KeyboardInterrupt):
                click.echo("Interrupted.", err=True)
                sys.exit(130)
            text = str(exc) if isinstance(exc, InvmeterError) else f"{exc.strerror or exc}: {exc.filename or ''}"
            raise click.ClickException(text.strip(": ") if isinstance(exc, OSError) else text) from None

    return wrapper


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="invmeter")
def cli() -> None:
    """Measure how invariant an image model's representations are to controlled transformations."""


@cli.command(context_settings=CONTEXT)
@click.option("--model", "-m", "models", multiple=True, default=("resnet18",), show_default=True,
              help="resnet18 | timm:NAME[.TAG] | torchvision:NAME | cifar:ARCH | checkpoint path | pkg.module:factory. "
                   "Repeatable.")
@click.option("--transform", "-t", "transforms", multiple=True, default=("rotation",), show_default=True,
              help="Transform spec, e.g. rotation, rotation:45, rotation+blur, color_jitter:hue=0.1,saturation=0.2; "
                   "a list (rotation,hflip) or repeated: one report each.")
@click.option("--data", default="transforms2d", show_default=True,
              help="'transforms2d' (built-in), a folder with one subfolder per class, or a flat folder (unlabelled).")
@click.option("--objects", default=None, metavar="DIR",
              help="Transforms-2D objects: RGBA images (one per class or one subfolder per class) or an SI-score folder.")
@click.option("--backgrounds", default=None, metavar="DIR",
              help="Transforms-2D backgrounds: a folder of photos (seeded random crops) or an SI-score folder.")
@click.option("--weights", default="auto", show_default=True,
              help="auto | pretrained | random | PATH to a state dict | a torchvision weights name (IMAGENET1K_V2).")
@click.option("--metrics", default=None, help="Comma-separated metrics (see 'invmeter metrics'), or 'all' [default: the defaults].")
@click.option("--layer", default=None, help="Module whose output is the representation (default: penultimate layer).")
@click.option("--image-size", type=int, default=None, help="Override the model's input size (pixels).")
@click.option("--mean", default=None, help="Normalisation mean per RGB channel, e.g. 0.485,0.456,0.406 (bare modules).")
@click.option("--std", default=None, help="Normalisation std per RGB channel, e.g. 0.229,0.224,0.225.")
@click.option("--n-images", type=int, default=None, help="Number of controlled pairs (default: 32 per class / all images).")
@click.option("--classes", "n_classes", type=int, default=None,
              help="Classes of the built-in data [default: 10, or every object of --objects].")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for data, transforms, probes, bootstrap.")
@click.option("--probe", default="auto", show_default=True,
              help="auto: lbfgs below 10k training images, ridge above; ridge: closed form, strength by generalised "
                   "cross-validation; lbfgs: regularised logistic regression; adam: the paper's 25-epoch protocol.")
@click.option("--batch-size", type=int, default=32, show_default=True, help="Pairs per forward pass.")
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda | cuda:N.")
@click.option("--bootstrap", "n_boot", type=int, default=1000, show_default=True, help="Bootstrap resamples (0 = no CIs).")
@click.option("--magnitudes", default=None,
              help="Sweep: comma-separated fixed magnitudes, e.g. 0,15,30,60,90,180 (translations also 0,4px,8px).")
@click.option("--layers", default=None, help="Per-layer invariance profile: 'blocks' or comma-separated module names.")
@click.option("--seeds", default=None, help="Repeat for these seeds (e.g. 0,1,2): mean ± std beside the intervals.")
@click.option("--baseline", default=None, help="'random-init': also score a randomly initialised copy of the architecture.")
@click.option("--labels", default="data", show_default=True,
              help="data: accuracy metrics from a probe on the data's labels; model: from the model's own classifier.")
@click.option("--json", "json_path", default=None, help="Write the report(s) as JSON to PATH ('-' = stdout).")
@click.option("--csv", "csv_path", default=None, help="Append one flat row per report to PATH.")
@click.option("--plot", "plot_path", default=None,
              help="Save a figure (.png/.pdf/.svg; plot extra): sweep curve, layer profile, models x transforms heatmap, "
                   "or metrics.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no table.")
@friendly_errors
def score(models: tuple[str, ...], transforms: tuple[str, ...], data: str, objects: str | None, backgrounds: str | None,
          magnitudes: str | None, json_path: str | None, csv_path: str | None, plot_path: str | None, quiet: bool,
          **options: Any) -> None:
    """Score invariance of each MODEL to each TRANSFORM (e.g. invmeter score --model resnet18 --transform rotation)."""
    from invmeter import api
    from invmeter.report.tables import comparison_table, sweep_table

    api.commands.check_outputs(json_path, csv_path, plot_path)
    settings = api.ScoreSettings.create(progress=not quiet, **options)
    mags = [m.strip() for m in magnitudes.split(",")] if magnitudes is not None else None
    if mags is not None and not all(mags):
        raise click.UsageError(f"--magnitudes must be a comma-separated list such as 0,15,30 (or 0,4px,8px). Got {magnitudes!r}.")
    if mags and (settings.seeds or settings.baseline):
        raise click.UsageError("--magnitudes cannot be combined with --seeds or --baseline.")
    if (objects or backgrounds) and data != "transforms2d":
        raise click.UsageError("--objects and --backgrounds configure the built-in data; they cannot be used with --data DIR.")
    show = not quiet and json_path != "-"

    def echo(group: list[Any]) -> None:
        if show:
            click.echo((sweep_table(group) if mags else group[0].to_table()) + "\n")

    groups = api.score_many(list(models), list(transforms), data=data, objects=objects, backgrounds=backgrounds,
                            magnitudes=mags, settings=settings, on_group=echo)
    if len(groups) > 1 and not mags and show:
        click.echo(comparison_table([r for g in groups for r in g]))
    text = api.commands.write_outputs(groups, json_path=json_path, csv_path=csv_path, plot_path=plot_path,
                                      sweep=bool(mags))
    if text is not None:
        click.echo(text)


def _options(options: list[Callable[..., Any]]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A list of click options shared by several commands, applied in order."""
    return lambda func: functools.reduce(lambda f, option: option(f), reversed(options), func)


_MANY_MODELS = [  # zoo and select: the settings every model shares
    click.option("--weights", default="auto", show_default=True, help="auto | pretrained | random, for every model."),
    click.option("--image-size", type=int, default=None, help="One input size for every model (pixels)."),
    click.option("--n-images", type=int, default=None, help="Images per model (the same for every model)."),
    click.option("--seed", type=int, default=0, show_default=True, help="Seed: the same images and draws for every model."),
    click.option("--batch-size", type=int, default=32, show_default=True, help="Pairs per forward pass."),
    click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda | cuda:N."),
    click.option("--bootstrap", "n_boot", type=int, default=1000, show_default=True, help="Bootstrap resamples."),
    click.option("--quiet", "-q", is_flag=True, help="No per-model log lines."),
]


@cli.command(context_settings=CONTEXT)
@click.argument("patterns", nargs=-1, required=True)
@click.option("--transform", "-t", "transforms", multiple=True,
              help="Transform spec; repeatable [default: the paper's eight families].")
@click.option("--out", required=True, help="Output folder: results.csv, results.jsonl, leaderboard.md/.html (resumes).")
@click.option("--data", default="transforms2d", show_default=True, help="'transforms2d' (built-in) or an image folder.")
@click.option("--rank", default="invariance", show_default=True, help="The metric that orders the board.")
@click.option("--labels", default="data", show_default=True,
              help="data: clean accuracy from a linear probe; model: from the model's own classifier (ImageNet).")
@click.option("--metrics", default=None, help="Comma-separated metrics [default: the defaults].")
@click.option("--classes", "n_classes", type=int, default=None, help="Classes of the built-in data [default: 10].")
@click.option("--jobs", "-j", type=int, default=1, show_default=True,
              help="Models scored at once, each in a worker process (0 = one per core on a CPU-only machine).")
@click.option("--executor", default="local", show_default=True, help="local | ray (pip install 'invmeter[ray]').")
@click.option("--address", default=None, help="Ray cluster address (--executor ray).")
@_options(_MANY_MODELS)
@friendly_errors
def zoo(patterns: tuple[str, ...], transforms: tuple[str, ...], out: str, quiet: bool, **options: Any) -> None:
    """Score many models (specs or globs, e.g. 'timm:resnet18*' cifar:vgg11) on every transform; write a leaderboard."""
    from invmeter import api

    rows = api.zoo(list(patterns), list(transforms) or None, out=out,
                   log=None if quiet else (lambda line: click.echo(line, err=True)), **options)
    failed = [r for r in rows if r["status"] == "failed"]
    models = len({(r["model"], r["weights"]) for r in rows})
    click.echo(f"{models} models x {len({r['transform'] for r in rows})} transforms: {len(rows) - len(failed)} rows, "
               f"{len(failed)} failed. Wrote {out}/results.csv and {out}/leaderboard.html.")


@cli.command("select", context_settings=CONTEXT)
@click.argument("models", nargs=-1, required=True)
@click.option("--data", required=True, help="The target's labelled images: a folder with one subfolder per class.")
@click.option("--transform", "-t", "transforms", multiple=True, help="A nuisance of the target; repeatable [default: SimCLR's 5, docs/select.md].")
@click.option("--out", default=None, help="Write selection.csv, .json, .md and .html to this folder.")
@click.option("--evaluate", is_flag=True, help="Also fine-tune each model's last layer on half the data: τ per signal.")
@_options(_MANY_MODELS)
@friendly_errors
def select(models: tuple[str, ...], quiet: bool, **options: Any) -> None:
    """Rank MODELS (specs or globs) for transfer to --data, with each model's reasons (e.g. 'cifar:*' -t rotation)."""
    from invmeter.api import select as run

    click.echo(run(list(models), log=None if quiet else (lambda line: click.echo(line, err=True)), **options).to_text())


@cli.command(context_settings=CONTEXT)
def transforms() -> None:
    """List transform families with their units, default (paper) distributions and magnitude syntax."""
    from invmeter import api

    for fam in api.commands.transform_catalog():
        click.echo(f"{click.style(fam.name, bold=True)}  [{fam.kind}]")
        click.echo(f"    units:     {fam.units}")
        click.echo(f"    default:   {fam.default}")
        click.echo(f"    magnitude: {fam.magnitude}")
    click.echo("\nCompose with '+' (rotation:45+blur); separate several specs with ','. A controlled pair always "
               "applies the transform.")


@cli.command(context_settings=CONTEXT)
@click.argument("pattern", default="*")
def models(pattern: str) -> None:
    """List models matching PATTERN (glob) and whether they have pretrained weights, e.g. invmeter models 'resnet18.*'."""
    from invmeter import api

    found = api.commands.model_catalog(pattern)
    if not found:
        raise click.ClickException(f"No model matches {pattern!r}; try a wider pattern such as '*{pattern.strip('*')}*'.")
    width = max(len(name) for name, _ in found) + 2
    click.echo(f"{'model':<{width}}pretrained weights")
    for name, pretrained in found:
        click.echo(f"{name:<{width}}{'yes' if pretrained else 'no'}")


@cli.command(context_settings=CONTEXT)
def metrics() -> None:
    """List the metrics: name, direction, range, what each needs, and whether it is on by default."""
    from invmeter import api

    for m in api.commands.metric_catalog():
        lo, hi = m.bounds
        needs = ", ".join(sorted(m.needs)) or "-"
        click.echo(f"{click.style(m.name, bold=True)}  [{m.direction} is better; range [{lo:g}, {hi:g}]; needs {needs}; "
                   f"{'default' if m.default else 'on request'}]")
        click.echo(f"    {m.formula}")


def _train_default(name: str) -> Any:
    """TrainConfig's default for a field (from the torch-free module it reads them from)."""
    from invmeter.training.defaults import TRAIN_DEFAULTS

    return TRAIN_DEFAULTS[name]


@cli.command(context_settings=CONTEXT)
@click.option("--arch", default=_train_default("arch"), show_default=True,
              help="cifar:resnet18 | cifar:vgg11 | cifar:densenet121 | timm:NAME (a bare name: cifar first, then timm).")
@click.option("--width", type=float, default=_train_default("width"), show_default=True,
              help="Channel width multiplier of the cifar architectures.")
@click.option("--transforms", default="rotation", show_default=True,
              help="The training data's transforms, composed with '+': rotation, rotation+blur, ...; 'none' for none.")
@click.option("--classes", type=int, default=10, show_default=True, help="Transforms-2D objects (classes) 0..K-1.")
@click.option("--image-size", type=int, default=32, show_default=True, help="Image side in pixels.")
@click.option("--n-train", type=int, default=_train_default("n_train"), show_default=True,
              help="Training scenes (images per epoch).")
@click.option("--n-val", type=int, default=_train_default("n_val"), show_default=True, help="Validation images (every epoch).")
@click.option("--n-test", type=int, default=_train_default("n_test"), show_default=True, help="Test images (once, at the end).")
@click.option("--epochs", type=int, default=_train_default("epochs"), show_default=True, help="Passes over the training split.")
@click.option("--batch-size", type=int, default=_train_default("batch_size"), show_default=True, help="Images per Adam step.")
@click.option("--lr", type=float, default=_train_default("lr"), show_default=True, help="Adam learning rate (constant).")
@click.option("--weight-decay", type=float, default=_train_default("weight_decay"), show_default=True, help="Adam weight decay.")
@click.option("--seed", type=int, default=_train_default("seed"), show_default=True,
              help="Seeds the splits, the initialisation and the batch order.")
@click.option("--device", default=_train_default("device"), show_default=True, help="auto | cpu | cuda | cuda:N.")
@click.option("--threads", type=int, default=_train_default("threads"), show_default=True,
              help="CPU threads (0 = PyTorch's default, one per core); fewer help on a busy machine.")
@click.option("--amp/--no-amp", default=_train_default("amp"), show_default=True, help="bfloat16 autocast on CUDA.")
@click.option("--channels-last/--no-channels-last", default=_train_default("channels_last"), show_default=True,
              help="NHWC weights and inputs on CUDA.")
@click.option("--compile/--no-compile", default=_train_default("compile"), show_default=True,
              help="torch.compile the model on CUDA.")
@click.option("--redraw/--fixed-split", default=_train_default("redraw"), show_default=True,
              help="Draw the training split's transform parameters again every epoch (the paper's protocol), or "
                   "train on one fixed split, rendered once and cached.")
@click.option("--track", default=None, metavar="T1,T2",
              help="Measure invariance and l2_ratio to these transforms after every epoch, e.g. rotation,hflip.")
@click.option("--track-images", type=int, default=_train_default("track_images"), show_default=True,
              help="Controlled pairs in --track's fixed held-out set.")
@click.option("--out", required=True, help="Output folder: model.safetensors + model.json, and train_state.pt for --resume.")
@click.option("--resume", is_flag=True, help="Continue the run in --out after its last finished epoch.")
@click.option("--plot", default=None, metavar="PATH", help="Save the curves (accuracy, tracked invariance) per epoch.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no per-epoch log lines.")
@friendly_errors
def train(quiet: bool, **options: Any) -> None:
    """Train a model on Transforms-2D, e.g. invmeter train --width 0.25 --transforms rotation --out runs/rot."""
    from invmeter import api

    result, plot = api.commands.train(verbose=not quiet, **options)
    click.echo(f"test accuracy {result.test_accuracy:.4f} ({result.config.n_test} images); wrote {result.checkpoint} "
               f"(+ model.json). Score it: invmeter score --model {result.checkpoint}")
    if plot is not None:
        click.echo(f"wrote {plot}")


_SOURCE_OPTIONS = [
    click.option("--objects", default=None, metavar="DIR",
                 help="RGBA object images (one per class or one subfolder per class) or an SI-score folder."),
    click.option("--backgrounds", default=None, metavar="DIR", help="A folder of photos or an SI-score folder."),
    click.option("--classes", "n_classes", type=int, default=None, help="Classes [default: 10, or every object of --objects]."),
    click.option("--image-size", type=int, default=32, show_default=True, help="Image side in pixels."),
    click.option("--seed", type=int, default=0, show_default=True, help="Seed for scenes and transform parameters."),
]


@cli.group("data", context_settings=CONTEXT)
def data_group() -> None:
    """Build (and cache) Transforms-2D splits and preview them."""


@data_group.command("build", context_settings=CONTEXT)
@_options(_SOURCE_OPTIONS)
@click.option("--transforms", default="none", show_default=True,
              help="The dataset's transforms, composed with '+' in order: rotation+blur; none.")
@click.option("--split", "splits", multiple=True, type=click.Choice(["train", "val", "test"]),
              help="Split to build; repeatable [default: train, val and test].")
@click.option("--n-images", type=int, default=None, help="Images per split [default: 50000 train, 10000 val/test].")
@click.option("--cache-dir", default=None, metavar="DIR", help="Cache folder [default: $INVMETER_CACHE or ~/.cache/invmeter].")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@friendly_errors
def data_build(quiet: bool, **options: Any) -> None:
    """Render Transforms-2D splits into the cache (e.g. invmeter data build --transforms rotation+blur)."""
    import time

    from invmeter import api

    start = time.perf_counter()
    for built in api.commands.build_data(progress=not quiet, **options):
        size = built.spec["image_size"]
        click.echo(f"{built.spec['split']}: {len(built)} images {size}x{size}, {built.spec['n_classes']} classes, "
                   f"{time.perf_counter() - start:.1f} s -> {built.path}")
        start = time.perf_counter()


@data_group.command("preview", context_settings=CONTEXT)
@_options(_SOURCE_OPTIONS)
@click.option("--transforms", default=None,
              help="Comma-separated transform specs, one row each (compose with '+') [default: the paper's 8 families].")
@click.option("--n", "n", type=int, default=8, show_default=True, help="Samples per row.")
@click.option("--zoom", type=int, default=4, show_default=True, help="Pixels per image pixel.")
@click.option("--out", required=True, metavar="PATH", help="Where to write the grid (.png, .jpg, ...).")
@friendly_errors
def data_preview(out: str, n: int, **options: Any) -> None:
    """Write a grid of samples, one row per transform (e.g. invmeter data preview --out grid.png)."""
    from invmeter import api

    rows = api.commands.preview(out=out, n=n, **options)
    click.echo(f"Wrote {out}: {rows} rows (none + one per transform) x {n} samples.")


@cli.command(context_settings=CONTEXT)
@click.argument("figure")
@click.option("--preset", type=click.Choice(["smoke", "cpu", "paper"]), default="cpu", show_default=True,
              help="smoke: seconds, every code path; cpu: this class of machine; paper: the paper's settings (GPU).")
@click.option("--out", default=None, help="Output folder (finished cells there are reused: re-running resumes).")
@click.option("--seeds", default=None, help="Override the preset's seeds (distinct), e.g. 0,1,2.")
@click.option("--archs", default=None, help="Override the preset's architectures, e.g. resnet18,vgg11.")
@click.option("--objects", "objects_dir", default=None, help="Foreground objects folder (RGBA images or SI-score).")
@click.option("--backgrounds", "backgrounds_dir", default=None, help="Background photos folder (or SI-score).")
@click.option("--cifar-root", default=None, help="CIFAR-10 in torchvision's layout (never downloaded); else a stand-in.")
@click.option("--allow-standin", is_flag=True,
              help="Let the paper preset run without --objects/--backgrounds/--cifar-root (on procedural stand-ins).")
@click.option("--executor", default="local", show_default=True,
              help="local: cells in this machine's processes; ray: Ray tasks (pip install 'invmeter[ray]').")
@click.option("--jobs", "-j", type=int, default=0, show_default=True,
              help="Cells run at once (local executor), each in a worker process; 0 = one per core on a CPU-only "
                   "machine, 1 with a GPU. With a GPU, N > 1 share it, each bounded to 90%/N of its memory.")
@click.option("--address", default=None, help="Ray cluster address (--executor ray); default: a local instance.")
@click.option("--gpus-per-cell", type=float, default=0.0, show_default=True, help="GPUs each Ray task requests.")
@click.option("--amp", is_flag=True, help="Train with bfloat16 autocast on a GPU (default: float32, as the paper).")
@click.option("--compile", is_flag=True, help="torch.compile every trained model on a GPU.")
@click.option("--fixed-split", is_flag=True,
              help="Train and fit last layers on fixed splits drawn once (the earlier protocol; reproduces its "
                   "committed results) instead of transforms drawn again every epoch (the paper's).")
@click.option("--deterministic", is_flag=True, help="Deterministic cuDNN/cuBLAS kernels on a GPU (slower).")
@click.option("--data-cache/--no-data-cache", default=None,
              help="Keep rendered splits on disk [default: yes, except at the paper preset: rendered in memory].")
@click.option("--cached-only", is_flag=True,
              help="Run no cell: re-judge the claims and rewrite the outputs from the finished cells in --out.")
@click.option("--dry-run", is_flag=True,
              help="Print every figure's cells, image passes, GPU-hours and peak disk; run nothing.")
@click.option("--throughput", default=None, metavar="IMG_S",
              help="For --dry-run: measured training img/s of a width-1 ResNet-18 (or resnet18=N,vgg11=N,...).")
@friendly_errors
def reproduce(figure: str, out: str | None, dry_run: bool, **options: Any) -> None:
    """Reproduce a paper FIGURE (fig2 to fig8, or all) or an experiment (selection) with invmeter's trainer."""
    from invmeter import api

    if dry_run:
        click.echo(api.commands.reproduce_plan(figure, **options))
        return
    if out is None:
        raise click.UsageError("Missing option '--out' (the output folder).")
    claims = api.commands.reproduce(figure, out=out, log=lambda line: click.echo(line, err=True), **options)
    for name, checks in claims.items():
        where = f"{out}{'/' + name if figure == 'all' else ''}/summary.md"
        click.echo(f"{name}: {api.commands.claim_tally(checks)} of {len(checks)} claims (see {where})")
        for c in checks:
            click.echo(f"  {c.symbol} {c.id} ({c.status}): {c.text}")
