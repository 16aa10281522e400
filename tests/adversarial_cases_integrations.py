"""The adversarial suite's rows for the integrations (see tests/test_adversarial.py): the scalar torchmetrics metrics
(``invmeter.integrations.torchmetrics``) and ``InvarianceCallback``, skipped without their extras. A torchmetrics
metric is an ``nn.Module``, so its errors come after a module is built but before any forward pass."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from typing import Any

import adversarial_models as odd
import torch
from adversarial_support import Case, Correct, Error, Outcome, users

__all__ = ["INTEGRATION_CASES"]


def _needs(extra: str) -> Callable[[], str | None]:
    return lambda: None if importlib.util.find_spec(extra) else f"needs the {extra} extra"


def _tm() -> Any:
    import invmeter.integrations.torchmetrics as tm

    return tm


def _z(n: int = 16, d: int = 4) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(n + d))


def _updated(cls: str, *args: Any, **kwargs: Any) -> Any:
    metric = getattr(_tm(), cls)()
    metric.update(*args, **kwargs)
    return metric


def _merged(settings: dict[str, Any], labels: bool) -> None:
    a, b = _updated("Invariance", _z(), _z()), _tm().Invariance(**settings)
    b.update(_z(), _z(), torch.arange(16) % 2 if labels else None)
    a.merge_state(b)


def _after_failed_forward() -> tuple[float, float]:
    metric = _updated("Invariance", _z(), _z() + 1)
    before = float(metric.compute())
    try:
        metric(_z() * float("nan"), _z())
    except ValueError:
        pass
    return before, float(metric.compute())


def _half() -> Any:
    metric = _tm().Invariance().set_dtype(torch.float16)
    metric.update(_z(), _z(), z_ref=_z().flip(0))
    return metric


def check(predicate: Callable[[Any], bool], what: str) -> Correct:
    def run(o: Outcome) -> None:
        assert predicate(o.value), f"expected {what}; got {o.value!r}"
    return Correct(run)


def _callback(*args: Any, **kwargs: Any) -> Any:
    from invmeter.integrations.lightning import InvarianceCallback

    return InvarianceCallback(*args, **kwargs)


_TORCHMETRICS = [
    Case("api-tm-reservoir-one", lambda fx: _tm().Invariance(reservoir=1),
         Error(r"'reservoir' .*>= 2", before="forward")),
    Case("api-tm-mean-without-std", lambda fx: _tm().L2Ratio(mean=(0.5,)),
         Error(r"Give both 'mean' and 'std'", before="forward")),
    Case("api-tm-l2-ratio-without-labels", lambda fx: _updated("L2Ratio", _z(), _z()).compute(),
         Error(r"l2_ratio needs labels", before="forward")),
    Case("api-tm-consistency-without-logits", lambda fx: _updated("Consistency", _z(), _z()).compute(),
         Error(r"consistency needs logits", before="forward")),
    Case("api-tm-model-with-z-ref", lambda fx: _updated("Invariance", users(odd.features), torch.rand(4, 3, 8, 8),
                                                        z_ref=_z(4)),
         Error(r"'z_ref' goes with representations", before="forward")),
    Case("api-tm-representations-with-transformed", lambda fx: _updated("Invariance", _z(), _z(), transformed=_z()),
         Error(r"'transformed' goes with a model and images", before="forward")),
    Case("api-tm-merge-other-settings", lambda fx: _merged({"seed": 1}, labels=False),
         Error(r"same transform, reservoir size, seed and mean/std", before="forward")),
    Case("api-tm-merge-other-inputs", lambda fx: _merged({}, labels=True),
         Error(r"'labels' was given in some updates but not in others", before="forward")),
    Case("api-tm-forward-nan", lambda fx: _tm().Invariance()(_z() * float("nan"), _z()),
         Error(r"'z' holds NaN or Inf", before=None)),
    Case("edge-tm-failed-forward-keeps-the-state", lambda fx: _after_failed_forward(),
         check(lambda v: v[0] == v[1], "the same value before and after")),
    Case("edge-tm-exact", lambda fx: float(_updated("Invariance", _z(), _z()).compute()),
         check(lambda v: v == 1.0, "1.0")),
    Case("edge-tm-constant-is-nan", lambda fx: float(_updated("Invariance", torch.ones(16, 4), _z()).compute()),
         check(math.isnan, "NaN (with the registry's reason as a warning)")),
    Case("edge-tm-half-keeps-float64-sums", lambda fx: _half().sums.dtype,
         check(lambda v: v == torch.float64, "torch.float64")),
]

_LIGHTNING = [
    Case("api-callback-options-without-images", lambda fx: _callback(every_n_steps=5),
         Error(r"describe a held-out set \(images=\.\.\.\)")),
    Case("api-callback-labels-mismatch", lambda fx: _callback(torch.rand(4, 3, 8, 8), torch.arange(3)),
         Error(r"'labels' must hold one class per image \(4\)\. Got 3")),
    Case("api-callback-one-image", lambda fx: _callback(torch.rand(1, 3, 8, 8)),
         Error(r"at least 2 held-out images")),
    Case("api-callback-transform-typo", lambda fx: _callback(transforms="rotaton"),
         Error(r"Unknown transform 'rotaton'")),
    Case("api-callback-reservoir-one", lambda fx: _callback(reservoir=1), Error(r"'reservoir' .*>= 2")),
]

INTEGRATION_CASES: list[Case] = [
    *(Case(c.id, c.call, c.expect, _needs("torchmetrics"), "torchmetrics metrics", "integrations") for c in _TORCHMETRICS),
    *(Case(c.id, c.call, c.expect, _needs("lightning"), "InvarianceCallback", "integrations") for c in _LIGHTNING),
]
