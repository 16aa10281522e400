"""The ``invmeter`` command line: parse options, call the public API, render. No measurement logic lives here."""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable
from typing import Any

import click

from invmeter import __version__
from invmeter.errors import InvmeterError, InvmeterWarning

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _show_warning(message: Any, category: type[Warning], *_args: Any, **_kwargs: Any) -> None:
    if issubclass(category, InvmeterWarning):
        click.secho(f"WARNING: {message}", fg="yellow", bold=True, err=True)
    else:
        click.echo(f"warning: {message}", err=True)


def friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn user mistakes (InvmeterError, unwritable files) into one-line 'Error: ...' messages with exit 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        warnings.showwarning = _show_warning
        try:
            return func(*args, **kwargs)
        except InvmeterError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            raise click.ClickException(f"{exc.strerror or exc}: {exc.filename or ''}".strip(": ")) from None
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)

    return wrapper


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="invmeter")
def cli() -> None:
    """Measure how invariant an image model's representations are to controlled transformations."""


@cli.command(context_settings=CONTEXT)
@click.option("--model", "-m", "models", multiple=True, default=("resnet18",), show_default=True,
              help="resnet18 | timm:NAME | torchvision:NAME | cifar:ARCH | checkpoint path | pkg.module:factory. Repeatable.")
@click.option("--transform", "-t", "transforms", multiple=True, default=("rotation",), show_default=True,
              help="Transform spec, e.g. rotation, rotation:45, rotation+blur, color_jitter:hue=0.1. Repeatable.")
@click.option("--data", default="transforms2d", show_default=True,
              help="'transforms2d' (built-in) or a folder with one subfolder per class.")
@click.option("--objects", default=None, metavar="DIR",
              help="Transforms-2D objects: RGBA images (one per class or one subfolder per class) or an SI-score folder.")
@click.option("--backgrounds", default=None, metavar="DIR",
              help="Transforms-2D backgrounds: a folder of photos (seeded random crops) or an SI-score folder.")
@click.option("--weights", default="auto", show_default=True, help="auto | pretrained | random | PATH to a state dict.")
@click.option("--layer", default=None, help="Module whose output is the representation (default: penultimate layer).")
@click.option("--image-size", type=int, default=None, help="Override the model's input size (pixels).")
@click.option("--n-images", type=int, default=None, help="Number of controlled pairs (default: 32 per class / whole folder).")
@click.option("--classes", "n_classes", type=int, default=None,
              help="Classes of the built-in data [default: 10, or every object of --objects].")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for data, transforms, probes, bootstrap.")
@click.option("--probe", type=click.Choice(["auto", "ridge", "lbfgs", "adam"]), default="auto", show_default=True,
              help="auto: lbfgs below 10k training images, ridge above; ridge: closed form, strength by generalised "
                   "cross-validation; lbfgs: regularised logistic regression; adam: the paper's 25-epoch protocol.")
@click.option("--batch-size", type=int, default=32, show_default=True, help="Pairs per forward pass.")
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda | cuda:N.")
@click.option("--bootstrap", "n_boot", type=int, default=1000, show_default=True, help="Bootstrap resamples (0 = no CIs).")
@click.option("--magnitudes", default=None, help="Sweep: comma-separated fixed magnitudes, e.g. 0,15,30,60,90,180.")
@click.option("--layers", default=None, help="Per-layer invariance profile: 'blocks' or comma-separated module names.")
@click.option("--seeds", default=None, help="Repeat for these seeds (e.g. 0,1,2): mean ± std beside the intervals.")
@click.option("--baseline", type=click.Choice(["random-init"]), default=None,
              help="Also score a randomly initialised copy of the architecture.")
@click.option("--labels", type=click.Choice(["data", "model"]), default="data", show_default=True,
              help="Accuracy metrics from a probe on the data's labels, or from the model's own classifier.")
@click.option("--json", "json_path", default=None, help="Write the report(s) as JSON to PATH ('-' = stdout).")
@click.option("--csv", "csv_path", default=None, help="Append one flat row per report to PATH.")
@click.option("--plot", "plot_path", default=None,
              help="Save a figure (plot extra): sweep curve, layer profile, models x transforms heatmap, or metrics.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no table.")
@friendly_errors
def score(models: tuple[str, ...], transforms: tuple[str, ...], data: str, objects: str | None, backgrounds: str | None,
          weights: str, layer: str | None,
          image_size: int | None, n_images: int | None, n_classes: int | None, seed: int, probe: str, batch_size: int,
          device: str, n_boot: int, magnitudes: str | None, layers: str | None, seeds: str | None,
          baseline: str | None, labels: str, json_path: str | None, csv_path: str | None, plot_path: str | None,
          quiet: bool) -> None:
    """Score invariance of each MODEL to each TRANSFORM (e.g. invmeter score --model resnet18 --transform rotation)."""
    from invmeter import api
    from invmeter._validation import check_writable, parse_number_list
    from invmeter.report import append_csv, comparison_table, reports_to_json, sweep_table
    from invmeter.transforms import parse_transform

    for path, what in ((json_path, "JSON"), (csv_path, "CSV"), (plot_path, "plot")):
        if path:
            check_writable(path, what)
    specs = [parse_transform(t) for t in transforms]  # fail on a bad spec before loading any model
    if data == "transforms2d":
        data = api.make_transforms2d(objects=objects, backgrounds=backgrounds, n_classes=n_classes)
    elif objects or backgrounds:
        raise click.UsageError("--objects and --backgrounds configure the built-in data; they cannot be used with --data DIR.")
    mags = parse_number_list("magnitudes", magnitudes, float) if magnitudes else None
    if mags and (seeds or baseline):
        raise click.UsageError("--magnitudes cannot be combined with --seeds or --baseline.")
    common = dict(data=data, image_size=image_size, n_images=n_images, weights=weights,
                  layer=layer, layers=layers, labels=labels, probe=probe, batch_size=batch_size, device=device,
                  n_boot=n_boot, progress=not quiet)
    groups = []
    for model in models:
        for spec in specs:
            if mags:
                group = api.sweep(model, spec, mags, seed=seed, **common)
                text = sweep_table(group)
            else:
                group = [api.score(model, spec, seed=seed, baseline=baseline,
                                   seeds=parse_number_list("seeds", seeds, int) if seeds else None, **common)]
                text = group[0].to_table()
            groups.append(group)
            if not quiet and json_path != "-":
                click.echo(text + "\n")
    flat = [r for group in groups for r in group]
    if len(groups) > 1 and not mags and not quiet and json_path != "-":
        click.echo(comparison_table(flat))
    if csv_path:
        append_csv(flat, csv_path)
    if json_path:
        text = reports_to_json(groups[0]) if len(groups) == 1 else "[" + ",\n".join(reports_to_json(g) for g in groups) + "]"
        if json_path == "-":
            click.echo(text)
        else:
            with open(json_path, "w") as fh:
                fh.write(text + "\n")
    if plot_path:
        from invmeter.plots import plot_reports

        plot_reports(groups[0] if mags else flat, plot_path)


@cli.command(context_settings=CONTEXT)
def transforms() -> None:
    """List transform families with their units, default (paper) distributions and magnitude syntax."""
    from invmeter.transforms import get_family, list_transforms

    for name in list_transforms():
        fam = get_family(name)
        click.echo(f"{click.style(name, bold=True)}  [{fam.kind}]")
        click.echo(f"    units:     {fam.units}")
        click.echo(f"    default:   {fam.default}")
        click.echo(f"    magnitude: {fam.magnitude}")
    click.echo("\nCompose with '+', e.g. rotation:45+blur. A controlled pair always applies the transform.")


@cli.command(context_settings=CONTEXT)
@click.argument("pattern", default="*")
def models(pattern: str) -> None:
    """List model names matching PATTERN (glob), e.g. invmeter models 'resnet*'."""
    from invmeter.models import list_models

    names = list_models(pattern)
    if not names:
        raise click.ClickException(f"No model matches {pattern!r}; try a wider pattern such as '*{pattern.strip('*')}*'.")
    click.echo("\n".join(names))


def _train_default(name: str) -> Any:
    """TrainConfig's default for a field, so the command line shows and uses the API's defaults."""
    from invmeter.train import TrainConfig

    return getattr(TrainConfig, name)


@cli.command(context_settings=CONTEXT)
@click.option("--arch", default=_train_default("arch"), show_default=True,
              help="cifar:resnet18 | cifar:vgg11 | cifar:densenet121 | timm:NAME (a bare name: cifar first, then timm).")
@click.option("--width", type=float, default=_train_default("width"), show_default=True,
              help="Channel width multiplier of the cifar architectures.")
@click.option("--transforms", default="rotation", show_default=True,
              help="The training data's transforms: rotation, rotation+blur, rotation,blur, ...; 'none' for none.")
@click.option("--classes", type=int, default=10, show_default=True, help="Transforms-2D objects (classes) 0..K-1.")
@click.option("--image-size", type=int, default=32, show_default=True, help="Image side in pixels.")
@click.option("--n-train", type=int, default=_train_default("n_train"), show_default=True,
              help="Training images (one fixed split, cached).")
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
              help="NHWC weights on CUDA.")
@click.option("--track", default=None, metavar="T1,T2",
              help="Measure invariance and l2_ratio to these transforms after every epoch, e.g. rotation,hflip.")
@click.option("--track-images", type=int, default=_train_default("track_images"), show_default=True,
              help="Controlled pairs in --track's fixed held-out set.")
@click.option("--out", required=True, help="Output folder: model.safetensors + model.json, and train_state.pt for --resume.")
@click.option("--resume", is_flag=True, help="Continue the run in --out after its last finished epoch.")
@click.option("--plot", default=None, metavar="PATH", help="Save the curves (accuracy, tracked invariance) per epoch.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no per-epoch log lines.")
@friendly_errors
def train(transforms: str, classes: int, image_size: int, track: str | None, out: str, resume: bool,
          plot: str | None, quiet: bool, **options: Any) -> None:
    """Train a model on Transforms-2D, e.g. invmeter train --width 0.25 --transforms rotation --out runs/rot."""
    from invmeter._validation import check_writable
    from invmeter.train import TrainConfig, train as run_training

    config = TrainConfig.for_transforms2d(transforms=transforms, classes=classes, image_size=image_size,
                                          track=track, **options)
    if plot is not None:
        from pathlib import Path

        from invmeter.plots import pyplot

        if Path(plot).resolve().parent != Path(out).resolve():  # --out itself is created and checked by training
            check_writable(plot, "plot")
        pyplot()  # fail before training if matplotlib is missing
    result = run_training(config, out=out, resume=resume, verbose=not quiet)
    click.echo(f"test accuracy {result.test_accuracy:.4f} ({config.n_test} images); wrote {result.checkpoint} "
               f"(+ model.json). Score it: invmeter score --model {result.checkpoint}")
    if plot is not None:
        from invmeter.curves import plot_history

        click.echo(f"wrote {plot_history(result.history, plot, title=f'{config.arch} on {transforms}')}")


_SOURCE_OPTIONS = [
    click.option("--objects", default=None, metavar="DIR",
                 help="RGBA object images (one per class or one subfolder per class) or an SI-score folder."),
    click.option("--backgrounds", default=None, metavar="DIR", help="A folder of photos or an SI-score folder."),
    click.option("--classes", "n_classes", type=int, default=None, help="Classes [default: 10, or every object of --objects]."),
    click.option("--image-size", type=int, default=32, show_default=True, help="Image side in pixels."),
    click.option("--seed", type=int, default=0, show_default=True, help="Seed for scenes and transform parameters."),
]


def _source_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_SOURCE_OPTIONS):
        func = option(func)
    return func


@cli.group("data", context_settings=CONTEXT)
def data_group() -> None:
    """Build (and cache) Transforms-2D splits and preview them."""


@data_group.command("build", context_settings=CONTEXT)
@_source_options
@click.option("--transforms", default="none", show_default=True,
              help="The dataset's transforms, composed in order: rotation+blur (or rotation,blur); none.")
@click.option("--split", "splits", multiple=True, type=click.Choice(["train", "val", "test"]),
              help="Split to build; repeatable [default: train, val and test].")
@click.option("--n-images", type=int, default=None, help="Images per split [default: 50000 train, 10000 val/test].")
@click.option("--cache-dir", default=None, metavar="DIR", help="Cache folder [default: $INVMETER_CACHE or ~/.cache/invmeter].")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@friendly_errors
def data_build(objects: str | None, backgrounds: str | None, n_classes: int | None, image_size: int, seed: int,
               transforms: str, splits: tuple[str, ...], n_images: int | None, cache_dir: str | None, quiet: bool) -> None:
    """Render Transforms-2D splits into the cache (e.g. invmeter data build --transforms rotation+blur)."""
    import time

    from invmeter import api
    from invmeter.data import SPLIT_SIZES, build_split

    dataset = api.make_transforms2d(objects=objects, backgrounds=backgrounds, n_classes=n_classes,
                                    transforms=transforms, image_size=image_size)
    for split in splits or tuple(SPLIT_SIZES):
        start = time.perf_counter()
        n = SPLIT_SIZES[split] if n_images is None else n_images
        built = build_split(dataset, split, n, seed, cache=cache_dir or True,
                            progress=not quiet)
        click.echo(f"{split}: {len(built)} images {image_size}x{image_size}, {dataset.n_classes} classes, "
                   f"{time.perf_counter() - start:.1f} s -> {built.path}")


@data_group.command("preview", context_settings=CONTEXT)
@_source_options
@click.option("--transforms", default=None,
              help="Comma-separated transform specs, one row each [default: the paper's 8 families].")
@click.option("--n", "n", type=int, default=8, show_default=True, help="Samples per row.")
@click.option("--zoom", type=int, default=4, show_default=True, help="Pixels per image pixel.")
@click.option("--out", required=True, metavar="PATH", help="Where to write the PNG grid.")
@friendly_errors
def data_preview(objects: str | None, backgrounds: str | None, n_classes: int | None, image_size: int, seed: int,
                 transforms: str | None, n: int, zoom: int, out: str) -> None:
    """Write a grid of samples, one row per transform (e.g. invmeter data preview --out grid.png)."""
    from invmeter import api
    from invmeter._validation import check_writable
    from invmeter.data.preview import make_preview
    from invmeter.transforms import PAPER_FAMILIES, parse_transform

    check_writable(out, "preview")
    specs = [parse_transform(t) for t in (transforms.split(",") if transforms else PAPER_FAMILIES)]
    dataset = api.make_transforms2d(objects=objects, backgrounds=backgrounds, n_classes=n_classes, image_size=image_size)
    make_preview(dataset, specs, n=n, seed=seed, zoom=zoom).save(out)
    click.echo(f"Wrote {out}: {len(specs) + 1} rows (none + one per transform) x {n} samples.")


@cli.command(context_settings=CONTEXT)
@click.argument("figure")
@click.option("--preset", type=click.Choice(["smoke", "cpu", "paper"]), default="cpu", show_default=True,
              help="smoke: seconds, every code path; cpu: this class of machine; paper: the paper's settings (GPU).")
@click.option("--out", required=True, help="Output folder (finished cells there are reused: re-running resumes).")
@click.option("--seeds", default=None, help="Override the preset's seeds, e.g. 0,1,2.")
@click.option("--archs", default=None, help="Override the preset's architectures, e.g. resnet18,vgg11.")
@click.option("--objects", "objects_dir", default=None, help="Foreground objects folder (RGBA images or SI-score).")
@click.option("--backgrounds", "backgrounds_dir", default=None, help="Background photos folder (or SI-score).")
@click.option("--cifar-root", default=None, help="CIFAR-10 in torchvision's layout (never downloaded); else a stand-in.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Run cells in this process, or as Ray tasks (pip install 'invmeter[ray]').")
@click.option("--jobs", "-j", type=int, default=0, show_default=True,
              help="Cells run at once (local executor), each in a worker process; 0 = one per core on a CPU-only machine, 1 with a GPU.")
@click.option("--address", default=None, help="Ray cluster address (--executor ray); default: a local instance.")
@click.option("--gpus-per-cell", type=float, default=0.0, show_default=True, help="GPUs each Ray task requests.")
@friendly_errors
def reproduce(figure: str, preset: str, out: str, seeds: str | None, archs: str | None, objects_dir: str | None,
              backgrounds_dir: str | None, cifar_root: str | None, executor: str, jobs: int, address: str | None,
              gpus_per_cell: float) -> None:
    """Reproduce a paper FIGURE (fig2, fig3, fig4, fig5, fig6, fig8 or all) with invmeter's own trainer."""
    from invmeter._validation import parse_number_list
    from invmeter.experiments import reproduce as run
    from invmeter.experiments.common import Context

    context = Context(objects_dir=objects_dir, backgrounds_dir=backgrounds_dir, cifar_root=cifar_root)
    claims = run(figure, preset=preset, out=out, seeds=parse_number_list("seeds", seeds, int) if seeds else None,
                 archs=archs.split(",") if archs else None, context=context, executor=executor, jobs=jobs, address=address,
                 gpus_per_cell=gpus_per_cell, log=lambda line: click.echo(line, err=True))
    for name, checks in claims.items():
        held = sum(c.holds for c in checks)
        click.echo(f"{name}: {held}/{len(checks)} claims hold (see {out}{'/' + name if figure == 'all' else ''}/summary.md)")
        for c in checks:
            click.echo(f"  {'✔' if c.holds else '✘'} {c.id}: {c.text}")

