"""The ``invmeter`` command line: parse options, call the public API, render. No measurement logic lives here."""

from __future__ import annotations

import functools
import json
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
@click.option("--weights", default="auto", show_default=True, help="auto | pretrained | random | PATH to a state dict.")
@click.option("--layer", default=None, help="Module whose output is the representation (default: penultimate layer).")
@click.option("--image-size", type=int, default=None, help="Override the model's input size (pixels).")
@click.option("--n-images", type=int, default=None, help="Number of controlled pairs (default: 32 per class / whole folder).")
@click.option("--classes", "n_classes", type=int, default=10, show_default=True, help="Classes of the built-in data.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for data, transforms, probes, bootstrap.")
@click.option("--probe", type=click.Choice(["lbfgs", "adam"]), default="lbfgs", show_default=True,
              help="lbfgs: fast regularised logistic regression; adam: the paper's 25-epoch protocol.")
@click.option("--batch-size", type=int, default=32, show_default=True, help="Pairs per forward pass.")
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda | cuda:N.")
@click.option("--bootstrap", "n_boot", type=int, default=1000, show_default=True, help="Bootstrap resamples (0 = no CIs).")
@click.option("--json", "json_path", default=None, help="Write the report(s) as JSON to PATH ('-' = stdout).")
@click.option("--csv", "csv_path", default=None, help="Append one flat row per report to PATH.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no table.")
@friendly_errors
def score(models: tuple[str, ...], transforms: tuple[str, ...], data: str, weights: str, layer: str | None,
          image_size: int | None, n_images: int | None, n_classes: int, seed: int, probe: str, batch_size: int,
          device: str, n_boot: int, json_path: str | None, csv_path: str | None, quiet: bool) -> None:
    """Score invariance of each MODEL to each TRANSFORM (e.g. invmeter score --model resnet18 --transform rotation)."""
    from invmeter import api
    from invmeter._validation import check_writable
    from invmeter.report import append_csv
    from invmeter.transforms import parse_transform

    for path, what in ((json_path, "JSON"), (csv_path, "CSV")):
        if path:
            check_writable(path, what)
    specs = [parse_transform(t) for t in transforms]  # fail on a bad spec before loading any model
    reports = []
    for model in models:
        for spec in specs:
            report = api.score(model, spec, data=data, image_size=image_size, n_images=n_images, n_classes=n_classes,
                               seed=seed, weights=weights, layer=layer, probe=probe, batch_size=batch_size,
                               device=device, n_boot=n_boot, progress=not quiet)
            reports.append(report)
            if not quiet and json_path != "-":
                click.echo(report.to_table() + "\n")
    if csv_path:
        append_csv(reports, csv_path)
    if json_path:
        payload = reports[0].to_dict() if len(reports) == 1 else [r.to_dict() for r in reports]
        text = json.dumps(payload, indent=2, default=str)
        if json_path == "-":
            click.echo(text)
        else:
            with open(json_path, "w") as fh:
                fh.write(text + "\n")


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
