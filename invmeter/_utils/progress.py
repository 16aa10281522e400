"""Progress bars (``tqdm.auto``): an ETA on a terminal, the notebook's own bar in Jupyter, nothing at all elsewhere
(stderr neither a terminal nor a notebook: no ``\\r`` frames in logs), and always closed, so an error message never
lands on the bar's line."""

from __future__ import annotations

import sys
import warnings
from typing import Any

__all__ = ["Progress", "in_notebook"]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython running under ipykernel), as ``tqdm.auto`` decides it."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None  # type: ignore[attr-defined]
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class Progress:
    """``with Progress(total, label, enabled) as bar: bar.update(k)``; silent unless enabled and stderr is a TTY or
    the code runs in a notebook."""

    def __init__(self, total: int, label: str, enabled: bool = True) -> None:
        self._bar: Any = None
        if enabled and (sys.stderr.isatty() or in_notebook()):
            from tqdm import TqdmWarning

            with warnings.catch_warnings():  # without ipywidgets tqdm.auto warns once and draws the text bar
                warnings.simplefilter("ignore", TqdmWarning)
                from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=label, unit="img", file=sys.stderr, leave=False, dynamic_ncols=True,
                             mininterval=0.2)

    def update(self, k: int) -> None:
        if self._bar is not None:
            self._bar.update(k)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
