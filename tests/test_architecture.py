"""The architecture holds at import time: a lazy package, a command line that does not load PyTorch for --help, core
packages that do not pull in the API, and the layering contract (import-linter)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _modules_after(code: str) -> set[str]:
    """The modules loaded in a fresh interpreter after running ``code``."""
    script = code + "\nimport json, sys; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_help_does_not_import_torch() -> None:
    loaded = _modules_after("from click.testing import CliRunner\nfrom invmeter.cli import cli\n"
                            "result = CliRunner().invoke(cli, ['--help'])\nassert result.exit_code == 0, result.output")
    assert "torch" not in loaded and "invmeter.api" not in loaded


def test_importing_the_package_loads_nothing_heavy() -> None:
    loaded = _modules_after("import invmeter\nassert invmeter.__version__")
    assert "torch" not in loaded and not {m for m in loaded if m.startswith("invmeter.")} - {"invmeter._version"}


@pytest.mark.parametrize("package", ["invmeter.transforms", "invmeter.metrics", "invmeter.data", "invmeter.models"])
def test_core_packages_do_not_import_the_front_ends(package: str) -> None:
    loaded = _modules_after(f"import {package}")
    assert not loaded & {"invmeter.api", "invmeter.train", "invmeter.cli", "invmeter.experiments", "invmeter.runner",
                         "invmeter.measure", "invmeter.leaderboard"}


def test_public_names_resolve_lazily() -> None:
    import invmeter

    for name in invmeter.__all__:
        assert getattr(invmeter, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        invmeter.nope  # noqa: B018


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter is not installed (the test extra)")
def test_layering_contract_holds() -> None:
    result = subprocess.run(["lint-imports"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]


def test_no_module_over_400_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "invmeter").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long
