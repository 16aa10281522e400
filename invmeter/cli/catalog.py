"""``invmeter transforms``, ``models`` and ``metrics``: what the registries hold."""

from __future__ import annotations

import click

from invmeter.cli.base import CONTEXT, cli, friendly_errors


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
@friendly_errors
def models(pattern: str) -> None:
    """List models matching PATTERN (glob) and whether they have pretrained weights, e.g. invmeter models 'resnet18.*'."""
    from invmeter import api

    click.echo(api.commands.model_listing(pattern))


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
