"""The ``invmeter`` that documented shell blocks call in tests/test_docs.py: the repository's own command line, with
long commands run at a smaller size by explicit options (a command's record then says what ran, because these are
ordinary options), unless ``INVMETER_DOCS_FULL=1``. Every change is printed on stderr before the command runs.

Run as ``python tests/doc_cli.py ARGS...``; ``smaller(args)`` is the rewrite, tested in tests/test_docs.py."""

from __future__ import annotations

import math
import os
import shlex
import sys

FULL = "INVMETER_DOCS_FULL"  # 1: every documented command runs as written (hours on 2 cores; a quiet box or a GPU)
QUICK_PAIRS = 20  # controlled pairs (at least 2 per class: the probes split every class)
QUICK_BOOTSTRAP = 100
QUICK_SPLITS = {"--n-train": 200, "--n-val": 40, "--n-test": 40}
EPOCH_DIVISOR = 8  # an eighth of the epochs, rounded up, at least 2: 15 -> 2, a resume to 20 -> 3 still extends the run
MIN_EPOCHS = 2  # a run asked for 2 epochs or fewer runs as written

# what each sub-command runs as in CI, and why (the table that docs/cli.md's "The documentation is tested" describes)
SMALLER = {
    "score": f"at most max({QUICK_PAIRS}, 2 per class) controlled pairs and {QUICK_BOOTSTRAP} bootstrap resamples: "
             "the defaults (320 pairs at 224 px, 1,000 resamples) take ~15 s a command on 2 cores",
    "zoo": f"as score, for every model: at most max({QUICK_PAIRS}, 2 per class) pairs, {QUICK_BOOTSTRAP} resamples",
    "train": "200 / 40 / 40 training / validation / test images, an eighth of the epochs (rounded up, at least 2) and a tracking "
             f"set of at most max({QUICK_PAIRS}, 2 per class) pairs: the defaults (6,000 images, 15 epochs) take "
             "minutes",
    "reproduce": "the smoke preset (every code path, seconds) for cpu or paper, which take 9 to 56 minutes a figure "
                 "on 2 cores, or a GPU; a --dry-run runs nothing and keeps its preset",
}


def _value(args: list[str], option: str) -> str | None:
    """The last value given to ``option`` (``--opt v`` or ``--opt=v``), or None."""
    found = None
    for i, arg in enumerate(args):
        if arg == option and i + 1 < len(args):
            found = args[i + 1]
        elif arg.startswith(option + "="):
            found = arg.split("=", 1)[1]
    return found


def _set(args: list[str], option: str, value: object) -> list[str]:
    """``args`` without any ``option`` and its value, then ``option value``."""
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(option + "="):
            kept.append(arg)
    return [*kept, option, str(value)]


def _at_most(args: list[str], option: str, limit: int, default: int | None) -> list[str]:
    given = _value(args, option)
    current = int(given) if given is not None else default
    return args if current is not None and current <= limit else _set(args, option, limit)


def smaller(args: list[str]) -> list[str]:
    """The command ``invmeter ARGS`` runs as in CI: ``args`` with smaller sizes for the long sub-commands."""
    command = next((a for a in args if not a.startswith("-")), None)
    if command not in SMALLER or "--help" in args or "-h" in args:
        return list(args)
    classes = int(_value(args, "--classes") or 10)
    pairs = max(QUICK_PAIRS, 2 * classes)
    if command in ("score", "zoo"):
        return _at_most(_at_most(args, "--n-images", pairs, None), "--bootstrap", QUICK_BOOTSTRAP, 1000)
    if command == "train":
        for option, size in QUICK_SPLITS.items():
            args = _at_most(args, option, size, None)
        epochs = int(_value(args, "--epochs") or 15)
        args = _set(args, "--epochs", min(epochs, max(MIN_EPOCHS, math.ceil(epochs / EPOCH_DIVISOR))))
        return _at_most(args, "--track-images", pairs, 256) if _value(args, "--track") else args
    if "--dry-run" in args or _value(args, "--preset") == "smoke":  # reproduce
        return list(args)
    return _set(args, "--preset", "smoke")


def main(argv: list[str]) -> None:
    args = argv if os.environ.get(FULL) == "1" else smaller(argv)
    if args != argv:
        print(f"[docs test] runs `invmeter {shlex.join(args)}` ({FULL}=1 runs it as written)", file=sys.stderr,
              flush=True)
    from invmeter.cli import cli

    cli(args=args, prog_name="invmeter")


if __name__ == "__main__":
    main(sys.argv[1:])
