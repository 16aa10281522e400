"""What every command of the ``invmeter`` command line shares: the group, its context settings, one-line errors and
warnings, and shared option lists."""

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



def options(options: list[Callable[..., Any]]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A list of click options shared by several commands, applied in order."""
    return lambda func: functools.reduce(lambda f, option: option(f), reversed(options), func)
