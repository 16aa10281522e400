"""Where a model's representation is read: a value, not a display string."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Readout"]

KINDS = ("pre_logits", "head_input", "output", "module")


@dataclass(frozen=True)
class Readout:
    """Where the representation comes from.

    Attributes:
        kind: ``pre_logits`` (timm's ``forward_head(forward_features(x), pre_logits=True)``), ``head_input`` (the
            input of the classifier ``module``, the last ``nn.Linear``, when it produces the model's output),
            ``output`` (the model's output) or ``module`` (the output of the named ``module``).
        module: The classifier (``head_input``) or the module read (``module``); else ``None``.
    """

    kind: str
    module: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Unknown readout kind {self.kind!r}; one of {KINDS}.")
        if (self.kind in ("head_input", "module")) != (self.module is not None):
            raise ValueError(f"A {self.kind!r} readout {'needs' if self.module is None else 'takes no'} module name.")

    @property
    def name(self) -> str:
        """How reports show it: ``pre_logits``, ``fc (input)``, ``output`` or the module's name."""
        if self.kind == "head_input":
            return f"{self.module} (input)"
        return self.module if self.kind == "module" else self.kind

    def __str__(self) -> str:
        return self.name
