"""``python -m invmeter`` runs the CLI."""

from invmeter.cli import cli

cli()
