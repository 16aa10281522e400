"""``invmeter score``, ``zoo`` and ``select``: measure models and rank them."""

from __future__ import annotations

from typing import Any

import click

from invmeter.cli.base import CONTEXT, cli, friendly_errors, options


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
@click.option("--baseline", default=None,
              help="'random-init': also score the architecture at random initialisations on the same pairs, and the "
                   "gains over them (learned_invariance, learned_paired_distance_ratio).")
@click.option("--baseline-inits", type=int, default=3, show_default=True,
              help="Random initialisations the baseline averages (init seeds SEED, SEED+1, ...).")
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
@click.argument("patterns", nargs=-1)
@click.option("--models", "models_file", default=None, metavar="FILE", help="A TOML file of models ([[model]]: name, "
              "spec or arch + weights FILE; optional image_size, mean, std), beside or instead of PATTERNS.")
@click.option("--transform", "-t", "transforms", multiple=True,
              help="Transform spec; repeatable [default: the paper's eight families].")
@click.option("--out", required=True, help="Folder: results.csv/.jsonl, leaderboard.md/.html, reports/ (resumes; one run).")
@click.option("--data", default="transforms2d", show_default=True, help="'transforms2d' (built-in) or an image folder.")
@click.option("--rank", default=None, help="The metric that orders the board [default: learned_invariance when the "
              "board mixes architectures, else invariance].")
@click.option("--labels", default="data", show_default=True, help="data: clean accuracy from a linear probe; model: "
              "from the model's own classifier (ImageNet).")
@click.option("--include-random", is_flag=True,
              help="With --weights auto: score a glob's pretrained tags whose weights cannot be had at random init "
                   "(default: skip them with a warning).")
@click.option("--metrics", default=None, help="Comma-separated metrics [default: the defaults].")
@click.option("--baseline", default="random-init", show_default=True, help="random-init: calibrate each trained model "
              "against its architecture's random initialisations (learned_invariance); none: skip it.")
@click.option("--baseline-inits", type=int, default=3, show_default=True, help="Random inits per architecture.")
@click.option("--classes", "n_classes", type=int, default=None, help="Classes of the built-in data [default: 10].")
@click.option("--jobs", "-j", type=int, default=1, show_default=True,
              help="Models scored at once, each in a worker process (0 = one per core on a CPU-only machine).")
@click.option("--executor", default="local", show_default=True, help="local | ray (pip install 'invmeter[ray]').")
@click.option("--address", default=None, help="Ray cluster address (--executor ray).")
@click.option("--allow-failures", is_flag=True, help="Exit 0 when some rows failed; nothing ranked still exits 1.")
@options(_MANY_MODELS)
@friendly_errors
def zoo(patterns: tuple[str, ...], models_file: str | None, transforms: tuple[str, ...], out: str,
        allow_failures: bool, quiet: bool, **options: Any) -> None:
    """Score many models (specs or globs, e.g. 'timm:resnet18*' cifar:vgg11, or --models FILE); write a leaderboard."""
    from invmeter import api

    if not patterns and models_file is None:
        raise click.UsageError("Give model PATTERNS (e.g. 'timm:resnet18*' cifar:vgg11) or --models FILE.")
    models = [*patterns, *(api.read_models_file(models_file) if models_file is not None else [])]
    rows = api.zoo(models, list(transforms) or None, out=out,
                   log=None if quiet else (lambda line: click.echo(line, err=True)), **options)
    failures, summary, error = api.commands.zoo_outcome(rows, allow_failures=allow_failures)
    click.echo("".join(f"{line}\n" for line in failures), err=True, nl=False)
    click.echo(summary)
    if error is not None:
        raise click.ClickException(error)


@cli.command("select", context_settings=CONTEXT)
@click.argument("models", nargs=-1, required=True)
@click.option("--data", required=True, help="The target's labelled images: a folder with one subfolder per class.")
@click.option("--transform", "-t", "transforms", multiple=True, help="A nuisance of the target; repeatable [default: SimCLR's 5, docs/select.md].")
@click.option("--out", default=None, help="Write selection.csv, .json, .md and .html to this folder.")
@click.option("--evaluate", is_flag=True, help="Also fine-tune each model's last layer on half the data: τ per signal.")
@options(_MANY_MODELS)
@friendly_errors
def select(models: tuple[str, ...], quiet: bool, **options: Any) -> None:
    """Rank MODELS (specs or globs) for transfer to --data, with each model's reasons (e.g. 'cifar:*' -t rotation)."""
    from invmeter.api import select as run

    click.echo(run(list(models), log=None if quiet else (lambda line: click.echo(line, err=True)), **options).to_text())
