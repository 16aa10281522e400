"""``invmeter train``, ``data`` and ``reproduce``: train models, build Transforms-2D splits, reproduce the paper."""

from __future__ import annotations

from typing import Any

import click

from invmeter.cli.base import CONTEXT, cli, friendly_errors, options


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
@options(_SOURCE_OPTIONS)
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
@options(_SOURCE_OPTIONS)
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
@click.option("--seeds", default=None,
              help="Override the preset's seeds (distinct), e.g. 0,1,2 (Figure 2: the paper's runs with those numbers).")
@click.option("--archs", default=None, help="Override the preset's architectures, e.g. resnet18,vgg11.")
@click.option("--width", type=float, default=None,
              help="Override the preset's channel width multiplier of every CIFAR architecture (1 = the paper's).")
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
