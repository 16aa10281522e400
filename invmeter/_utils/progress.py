"""Progress bars on stderr (tqdm): an ETA on a terminal, nothing at all when stderr is not one (no ``\\r`` frames
in logs), and always closed, so an error message never lands on the bar's line."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["Progress"]


class Progress:
    """``with Progress(total, label, enabled) as bar: bar.update(k)``; silent unless enabled and stderr is a TTY."""

    def __init__(self, total: int, label: str, enabled: bool = True) -> None:
        self._bar: Any = None
        if enabled and sys.stderr.isatty():
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
