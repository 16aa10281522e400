"""Shared checks that turn bad input into one-line errors."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from pathlib import Path

from invmeter.errors import InvalidParameterError, UnknownNameError

__all__ = [
    "MAX_IMAGE_SIZE", "MAX_SEED", "MIN_IMAGE_SIZE", "did_you_mean", "unknown_name", "check_positive_int",
    "check_image_size", "check_int", "check_seed", "check_seeds", "check_choice", "check_writable",
    "check_output_folder", "check_range", "parse_number_list",
]

# Side of the square images invmeter renders or feeds a model, in pixels. 8: the smallest the transforms and
# models handle meaningfully. 4096: four times the largest input of any pretrained timm model (1024, e.g. SAM's
# ViTs; 1826 pretrained configs checked); one float32 RGB image of that side is already 192 MiB, a batch of 32
# pairs 12 GiB, so a larger value is a typo (100000 would need 112 GiB per image), not a measurement.
MIN_IMAGE_SIZE = 8
MAX_IMAGE_SIZE = 4096


def did_you_mean(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` candidates closest to ``name``, ignoring case (substring matches first, then fuzzy ones)."""
    pool = list(dict.fromkeys(candidates))
    by_lower = {c.lower(): c for c in reversed(pool)}
    lowered = name.lower()
    close = [by_lower[c] for c in difflib.get_close_matches(lowered, list(by_lower), n=n, cutoff=0.5)]
    contains = [c for c in pool if lowered and (lowered in c.lower() or c.lower() in lowered)]
    out = list(dict.fromkeys(close + sorted(contains, key=len)))
    return out[:n]


def unknown_name(kind: str, name: str, candidates: Iterable[str], hint: str = "") -> UnknownNameError:
    """Build the uniform 'Unknown <kind> ...' error, with close matches and a hint on listing valid names."""
    pool = list(candidates)
    close = did_you_mean(name, pool)
    msg = f"Unknown {kind} {name!r}."
    if close:
        msg += " Did you mean " + ", ".join(repr(c) for c in close) + "?"
    if hint:
        msg += " " + hint
    elif len(pool) <= 40:
        msg += " Available: " + ", ".join(sorted(pool)) + "."
    return UnknownNameError(msg)


def check_positive_int(name: str, value: object, minimum: int = 1) -> int:
    """Return ``value`` as an int >= ``minimum`` or raise InvalidParameterError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidParameterError(f"The {name!r} parameter must be an integer >= {minimum}. Got {value!r} instead.")
    return value


def check_image_size(value: object, name: str = "image_size") -> int:
    """Return ``value`` (an image side in pixels) if it is an integer in [MIN_IMAGE_SIZE, MAX_IMAGE_SIZE]; else
    raise InvalidParameterError saying what was wrong and what to use."""
    if isinstance(value, bool) or not isinstance(value, int):
        fix = "Give a whole number of pixels, e.g. 32 or 224."
    elif value > MAX_IMAGE_SIZE:
        fix = "Use a smaller size."
    elif value < MIN_IMAGE_SIZE:
        fix = f"Use at least {MIN_IMAGE_SIZE}."
    else:
        return value
    bounds = f"[{MIN_IMAGE_SIZE}, {MAX_IMAGE_SIZE}]"
    raise InvalidParameterError(f"The {name!r} parameter must be an integer in {bounds} (pixels). Got {value!r}. {fix}")


def check_range(name: str, value: float, lo: float, hi: float, owner: str = "") -> float:
    """Return ``value`` as a float in ``[lo, hi]`` or raise InvalidParameterError."""
    where = f" of {owner}" if owner else ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"The {name!r} parameter{where} must be a number. Got {value!r} instead.") from None
    if not lo <= number <= hi:
        raise InvalidParameterError(
            f"The {name!r} parameter{where} must be in [{lo:g}, {hi:g}]. Got {number:g} instead."
        )
    return number


def check_writable(path: str | os.PathLike[str], what: str = "output") -> Path:
    """Fail early (before any work) if ``path`` cannot be written; '-' (stdout) is always fine."""
    p = Path(path)
    if str(path) == "-":
        return p
    if p.is_dir():
        raise InvalidParameterError(f"The {what} path {str(p)!r} is a directory; give a file name.")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        raise InvalidParameterError(f"Cannot write {what} to {str(p)!r}: folder {str(parent)!r} does not exist.")
    if not parent.is_dir():
        raise InvalidParameterError(f"Cannot write {what} to {str(p)!r}: {str(parent)!r} is a file, not a folder.")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise InvalidParameterError(f"Cannot write {what} to {str(p)!r}: permission denied. Choose another path.")
    _try_open(p, what)
    return p


def _try_open(path: Path, what: str) -> None:
    """Open ``path`` for appending (nothing is written; a file created here is removed again): what permission bits
    cannot tell, e.g. a read-only or virtual file system, or root under /sys, fails here rather than after the work."""
    existed = path.exists()
    try:
        with path.open("a"):
            pass
    except OSError as exc:
        raise InvalidParameterError(f"Cannot write {what} to {str(path)!r}: {(exc.strerror or str(exc)).lower()}. "
                                    "Choose another path.") from None
    finally:
        if not existed and path.exists():
            path.unlink()


def check_output_folder(path: str | os.PathLike[str], what: str = "output") -> Path:
    """Fail early if ``path`` cannot be used as a folder to write into: a file, a parent that is a file, or no
    permission where it would be created. A folder that does not exist yet is fine (it is created when needed)."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InvalidParameterError(f"The {what} folder {str(p)!r} is a file; give a folder (created if missing).")
    existing = next(q for q in (p, *p.absolute().parents) if q.exists())
    if not existing.is_dir():
        raise InvalidParameterError(f"Cannot create the {what} folder {str(p)!r}: {str(existing)!r} is a file.")
    if not os.access(existing, os.W_OK):
        raise InvalidParameterError(f"Cannot write to the {what} folder {str(p)!r}: permission denied on "
                                    f"{str(existing)!r}. Choose another folder.")
    return p


def parse_number_list(name: str, text: str, kind: type = float) -> list:
    """``"0,15,30"`` -> ``[0.0, 15.0, 30.0]`` (``kind`` int or float); a bad item is a one-line error."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    try:
        values = [kind(item) for item in items]
    except ValueError:
        raise InvalidParameterError(
            f"--{name} must be a comma-separated list of {'integers' if kind is int else 'numbers'}, e.g. 0,1,2. Got {text!r}."
        ) from None
    if not values:
        raise InvalidParameterError(f"--{name} is empty; give e.g. 0,1,2.")
    return values


def check_int(name: str, value: object, lo: int, hi: int, *, fix: str = "") -> int:
    """Return ``value`` if it is an integer in ``[lo, hi]``; else a one-line 'parameter, constraint, got, fix' error."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidParameterError(f"The {name!r} parameter must be an integer in [{lo:,}, {hi:,}]. Got {value!r}."
                                    + (f" {fix}" if fix else ""))
    return value


MAX_SEED = 2**63 - 1


def check_seed(name: str, value: object) -> int:
    """A seed: an integer in [0, 2**63 - 1] (what numpy's and torch's generators both accept)."""
    return check_int(name, value, 0, MAX_SEED, fix="Use a non-negative integer such as 0.")


def check_seeds(seeds: Iterable[object], name: str = "seeds") -> tuple[int, ...]:
    """Distinct seeds (each :func:`check_seed`), at least one."""
    values = tuple(seeds)
    if not values:
        raise InvalidParameterError(f"The {name!r} parameter is empty; give at least one seed, e.g. 0,1,2.")
    for seed in values:
        check_seed(name, seed)
    duplicates = sorted({s for s in values if values.count(s) > 1})
    if duplicates:
        raise InvalidParameterError(f"The {name!r} parameter lists {', '.join(map(str, duplicates))} more than once; "
                                    "each seed is one repetition (a repeat gives an identical run and a misleading "
                                    "std): give distinct seeds, e.g. 0,1,2.")
    return values


def check_choice(name: str, value: object, choices: Iterable[object]) -> object:
    """Return ``value`` if it is one of ``choices``; else a one-line error listing them (closest first)."""
    options = list(choices)
    if value not in options:
        shown = ", ".join(repr(c) if c is None else str(c) for c in options)
        close = did_you_mean(str(value), [str(c) for c in options if c is not None]) if isinstance(value, str) else []
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InvalidParameterError(f"The {name!r} parameter must be one of {shown}. Got {value!r}.{hint}")
    return value
