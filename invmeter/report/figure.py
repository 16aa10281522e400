"""``InlineFigure``: a ``matplotlib.figure.Figure`` that Jupyter shows as a PNG on its own, so invmeter's figures
need no pyplot: no backend is chosen or changed, and pyplot's list of open figures is left alone (the ``plot``
extra)."""

from __future__ import annotations

import io

from invmeter.errors import InvmeterError

try:
    from matplotlib.figure import Figure
except ImportError:  # pragma: no cover - exercised only without the extra
    raise InvmeterError("Plots need matplotlib: pip install 'invmeter[plot]'.") from None

__all__ = ["InlineFigure"]


class InlineFigure(Figure):
    """A Figure drawn without pyplot; ``savefig`` writes it, a notebook displays it (``_repr_png_``)."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()
