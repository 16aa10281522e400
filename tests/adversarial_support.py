"""The machinery of the adversarial suite (tests/test_adversarial.py, benchmarks/adversarial_tally.py): what a case
expects, running one (the command line through click's CliRunner, or a call of the Python API) while counting the
work it does, and judging the outcome.

A case's outcome falls in exactly one category:

- ``clear error``: the expected one-line error (exit status, message pattern), before any work when the case says so;
- ``warning``: a valid but questionable input: it runs, and a warning says what happened;
- ``correct``: a valid edge input: it runs and its result passes the case's check (a known answer);
- ``traceback``: an exception escaped (a Python traceback reached the user);
- ``silent wrong``: it ran and looked normal, but should have failed or warned, or its result is wrong;
- ``wrong error``: it failed, but not as expected (several lines, another message, or after work it should precede).
"""

from __future__ import annotations

import json
import os
import re
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import PIL.ImageFile
from click.testing import CliRunner
from torch import nn

from invmeter.cli import cli
from invmeter.errors import InvmeterError

__all__ = ["Case", "Correct", "Error", "Fixtures", "Outcome", "Warns", "environment", "is_root", "judge", "no_sysfs",
           "run_case", "users"]


@dataclass(frozen=True)
class Error:
    """A one-line error. ``pattern``: a regex searched in the message; ``code``: the exit status (1: a user mistake,
    2: click's usage errors); ``before``: ``"work"`` (no model built or run, no image decoded, nothing written),
    ``"forward"`` (the model may be built, e.g. to look up a layer, but nothing runs and nothing is written) or
    ``None`` (necessarily found while working, e.g. a model that returns NaN)."""

    pattern: str
    code: int = 1
    before: str | None = "work"


@dataclass(frozen=True)
class Warns:
    """Runs, and a warning matching ``pattern`` says what happened; ``check`` (optional) verifies the result."""

    pattern: str
    check: Callable[[Outcome], None] | None = None


@dataclass(frozen=True)
class Correct:
    """Runs; ``check(outcome)`` asserts the result (a known answer)."""

    check: Callable[[Outcome], None]


@dataclass(frozen=True)
class Case:
    """``call``: command-line arguments (``{name}`` is a fixture path, ``{out}`` the case's own folder) or
    ``fn(fixtures) -> value`` calling the API. ``skip``: ``() -> reason or None``."""

    id: str
    call: tuple[str, ...] | Callable[[Fixtures], Any]
    expect: Error | Warns | Correct
    skip: Callable[[], str | None] | None = None
    api: str = ""  # for API rows: what is called (for the tally's breakdown)
    surface: str = ""  # the input surface it probes (see ``group``); "" = from ``kind`` and ``api``

    @property
    def group(self) -> str:
        """The input surface (issue 25's tally): ``CLI``, ``API score``, ``Dataset``, ``DataLoader``, ``callable
        transform``, ``streaming metric``, ``zoo-API inputs`` or ``integrations``."""
        if self.surface:
            return self.surface
        if self.kind == "cli":
            return "CLI"
        return {"zoo()": "zoo-API inputs", "InvarianceMetric": "streaming metric"}.get(self.api, "API score")

    @property
    def kind(self) -> str:
        return "cli" if isinstance(self.call, tuple) else "api"

    @property
    def area(self) -> str:
        """``invmeter score``, ``invmeter data build``, ... or ``API: score()``, ..."""
        if isinstance(self.call, tuple):
            if not self.call or self.call[0] not in cli.commands:
                return "invmeter (no such command)"
            return "invmeter " + " ".join(self.call[:2] if self.call[0] == "data" else self.call[:1])
        return f"API: {self.api}"


class Fixtures:
    """Paths of the generated fixtures (``fx.name``) and the current case's own folder (``fx.out``)."""

    def __init__(self, root: Path, paths: dict[str, Path]) -> None:
        self.root, self.paths, self.out = root, paths, root

    def __getattr__(self, name: str) -> Path:
        try:
            return self.__dict__["paths"][name]
        except KeyError:
            raise AttributeError(name) from None

    def fill(self, arg: str) -> str:
        return arg.format_map({**{k: str(v) for k, v in self.paths.items()}, "out": str(self.out)})


@dataclass
class Outcome:
    """What a case did. ``kind``: ``ok``, ``error`` or ``traceback``; ``errors``: the error lines (CLI: each
    ``Error: ...`` line without the prefix, or ``Interrupted.`` after Ctrl-C; API: the exception's message);
    ``work``: modules built, forward passes and images decoded; ``written``: files and folders created or changed
    under the case's folder."""

    kind: str
    code: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    output: str = ""
    value: Any = None
    work: dict[str, int] = field(default_factory=dict)
    written: list[str] = field(default_factory=list)
    out: Path = Path(".")

    def report(self, name: str = "r.json") -> Any:
        """The JSON the case wrote to ``{out}/NAME`` (``--json {out}/r.json``)."""
        return json.loads((self.out / name).read_text())


_UNCOUNTED = {"depth": 0}


@contextmanager
def uncounted() -> Iterator[None]:
    """Modules built in this block are the caller's own (an API row building its model), not invmeter's work."""
    _UNCOUNTED["depth"] += 1
    try:
        yield
    finally:
        _UNCOUNTED["depth"] -= 1


def users(factory: Callable[[], Any]) -> Any:
    """``factory()`` built as the user's own object (see :func:`uncounted`)."""
    with uncounted():
        return factory()


@contextmanager
def counting_work() -> Iterator[dict[str, int]]:
    """Count every ``nn.Module`` built and called and every image file decoded (Pillow; reading a header to
    validate a file is not decoding it) while the block runs."""
    work = {"modules built": 0, "forward passes": 0, "images decoded": 0}
    init, call, decode = nn.Module.__init__, nn.Module.__call__, PIL.ImageFile.ImageFile.load

    def counted_init(self: nn.Module, *args: Any, **kwargs: Any) -> None:
        work["modules built"] += 0 if _UNCOUNTED["depth"] else 1
        init(self, *args, **kwargs)

    def counted_call(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
        work["forward passes"] += 1
        return call(self, *args, **kwargs)

    def counted_decode(self: PIL.ImageFile.ImageFile) -> Any:
        work["images decoded"] += 1
        return decode(self)

    nn.Module.__init__, nn.Module.__call__ = counted_init, counted_call  # type: ignore[method-assign]
    PIL.ImageFile.ImageFile.load = counted_decode  # type: ignore[method-assign]
    try:
        yield work
    finally:
        nn.Module.__init__, nn.Module.__call__ = init, call  # type: ignore[method-assign]
        PIL.ImageFile.ImageFile.load = decode  # type: ignore[method-assign]


def _state(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size if p.is_file() else -1)
        for p in folder.rglob("*")
    }


def run_case(case: Case, fx: Fixtures) -> Outcome:
    """Run one case in its own folder ``fx.root / case.id`` (created empty if absent)."""
    fx.out = fx.root / "cases" / case.id
    fx.out.mkdir(parents=True, exist_ok=True)
    before = _state(fx.out)
    with counting_work() as work:
        outcome = _invoke(case.call, fx) if case.kind == "cli" else _call(case.call, fx)  # type: ignore[arg-type]
    after = _state(fx.out)
    outcome.work, outcome.out = dict(work), fx.out
    outcome.written = sorted(k for k, v in after.items() if before.get(k) != v)
    return outcome


def _invoke(args: tuple[str, ...], fx: Fixtures) -> Outcome:
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # the CLI prints each warning as one 'WARNING: ...' line
        result = CliRunner().invoke(cli, [fx.fill(a) for a in args])
    lines = result.output.splitlines()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        text = "".join(traceback.format_exception(result.exception))
        return Outcome("traceback", code=result.exit_code, output=result.output + text)
    errors = [line.removeprefix("Error: ") for line in lines if line.startswith("Error: ") or line == "Interrupted."]
    notes = [line.split(": ", 1)[1] for line in lines if line.startswith(("WARNING: ", "warning: "))]
    kind = "error" if result.exit_code else "ok"
    return Outcome(kind, code=result.exit_code, errors=errors, warnings=notes, output=result.output)


def _call(fn: Callable[[Fixtures], Any], fx: Fixtures) -> Outcome:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = fn(fx)
        except InvmeterError as exc:
            return Outcome("error", code=1, errors=[str(exc)], warnings=[str(w.message) for w in caught])
        except Exception:  # noqa: BLE001 - any other exception is a traceback the user would see
            return Outcome("traceback", code=1, output=traceback.format_exc())
    return Outcome("ok", value=value, warnings=[f"{w.message} [{w.filename}]" for w in caught])


def judge(case: Case, outcome: Outcome) -> tuple[str, str | None]:
    """``(category, problem)``: the outcome's category and, when it is not what the case expects, why."""
    expect = case.expect
    if outcome.kind == "traceback" or "Traceback (most recent call last)" in outcome.output:
        return "traceback", outcome.output[-3000:]
    if isinstance(expect, Error):
        if outcome.kind == "ok":
            return "silent wrong", f"exit 0, expected an error matching {expect.pattern!r}:\n{outcome.output[-2000:]}"
        return _judge_error(expect, outcome)
    if outcome.kind == "error":
        return "wrong error", f"expected success, got exit {outcome.code}: {outcome.errors or outcome.output[-2000:]}"
    if isinstance(expect, Warns) and not any(re.search(expect.pattern, w) for w in outcome.warnings):
        return "silent wrong", f"no warning matches {expect.pattern!r}; warnings: {outcome.warnings}"
    check = expect.check
    if check is not None:
        try:
            check(outcome)
        except Exception as exc:  # noqa: BLE001 - a failed check (or a check that cannot even read the result)
            return "silent wrong", f"the result is wrong: {exc.__class__.__name__}: {exc}\n{outcome.output[-2000:]}"
    return ("warning" if isinstance(expect, Warns) else "correct"), None


def _judge_error(expect: Error, outcome: Outcome) -> tuple[str, str | None]:
    if len(outcome.errors) != 1 or "\n" in outcome.errors[0]:
        return "wrong error", f"expected exactly one one-line error, got: {outcome.errors or outcome.output}"
    message = outcome.errors[0]
    if outcome.code != expect.code:
        return "wrong error", f"exit {outcome.code}, expected {expect.code}: {message}"
    if not re.search(expect.pattern, message):
        return "wrong error", f"message {message!r} does not match {expect.pattern!r}"
    work = outcome.work
    if expect.before == "work" and (any(work.values()) or outcome.written):
        return "wrong error", f"refused only after work began ({work}, wrote {outcome.written}): {message}"
    if expect.before == "forward" and (work["forward passes"] or work["images decoded"] or outcome.written):
        return "wrong error", f"refused only after a forward pass or a read ({work}, wrote {outcome.written})"
    return "clear error", None


def environment(cache: Path) -> dict[str, str]:
    """Environment for the suite: the data cache in a temporary folder, no network for model hubs."""
    return {"INVMETER_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "TORCH_HOME": str(cache / "torch")}


def is_root() -> str | None:
    """Skip reason for permission checks: root may write anywhere."""
    return "running as root: permission bits do not stop root" if os.geteuid() == 0 else None


def no_sysfs() -> str | None:
    """Skip reason where there is no Linux /sys (whose top folder refuses new files even to root)."""
    return None if Path("/sys/kernel").is_dir() else "no Linux /sys here"
