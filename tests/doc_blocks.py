"""The code blocks of README.md and docs/*.md, each with an id that says where it is: ``docs/train.md#resume`` (the
file and the slug of the heading above it, as GitHub's anchors; ``-2``, ``-3`` for the second and third block under
one heading). Used by tests/test_docs.py, which runs them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the fence's language -> how the block runs; blocks in other languages (json, none) are outputs or formulas
KINDS = {"python": "python", "py": "python", "bash": "shell", "sh": "shell", "shell": "shell", "console": "console"}
FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w+-]*)")


@dataclass(frozen=True)
class Block:
    """One fenced code block: ``line`` is the 1-based line of its first line of code in ``doc``."""

    id: str
    doc: str
    line: int
    kind: str
    code: str


def doc_files(root: Path = ROOT) -> list[Path]:
    """README.md, then docs/*.md in name order."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def blocks(path: Path, root: Path = ROOT) -> list[Block]:
    """Every fenced block of one Markdown file whose language runs (see ``KINDS``), in order."""
    doc = path.relative_to(root).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    heading, seen = doc, {}  # type: dict[str, int]
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if fence is None:
            if lines[i].startswith("#"):
                heading = f"{doc}#{slug(lines[i].lstrip('#'))}"
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == fence.group(1)), None)
        if end is None:
            raise ValueError(f"{doc}:{i + 1}: a code fence that is never closed")
        kind = KINDS.get(fence.group(2).lower())
        if kind is not None:
            seen[heading] = seen.get(heading, 0) + 1
            name = heading if seen[heading] == 1 else f"{heading}-{seen[heading]}"
            found.append(Block(name, doc, i + 2, kind, "\n".join(lines[i + 1 : end]) + "\n"))
        i = end + 1
    return found


def all_blocks(root: Path = ROOT) -> list[Block]:
    """The runnable blocks of every documentation file, in reading order."""
    return [b for path in doc_files(root) for b in blocks(path, root)]


def console_commands(code: str) -> str:
    """A ``console`` block's commands: its ``$ `` lines, without the prompt (the other lines are output)."""
    return "".join(line[2:] + "\n" for line in code.splitlines() if line.startswith("$ "))
