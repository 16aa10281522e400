"""The architecture holds: the folders are the parts (a short top level, no reaching into another part's private
names), a lazy package, a command line that does not load PyTorch for --help, core packages that do not pull in the
API, and the layering contract (import-linter)."""

from __future__ import annotations

import ast
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
    assert not loaded & {"invmeter.api", "invmeter.training.loop", "invmeter.cli", "invmeter.experiments", "invmeter.runner",
                         "invmeter.pipeline", "invmeter.leaderboard", "invmeter.streaming", "invmeter.report"}


def test_public_names_resolve_lazily() -> None:
    import invmeter

    for name in invmeter.__all__:
        assert getattr(invmeter, name) is not None
    assert callable(invmeter.train) and callable(invmeter.score) and callable(invmeter.zoo)
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


def test_the_documented_training_import_order_gives_the_function() -> None:
    """docs/train.md: ``from invmeter import TrainConfig`` then ``invmeter.train(config, out=...)``; a submodule named
    like a public function would shadow it after the first import (it did: ``invmeter.train`` became the module)."""
    loaded = _modules_after("from invmeter import TrainConfig\nimport invmeter\nimport invmeter.training.loop\n"
                            "assert callable(invmeter.train) and invmeter.train.__name__ == 'train', invmeter.train\n"
                            "import invmeter.report, invmeter.leaderboard.zoo\nassert callable(invmeter.zoo)")
    assert "invmeter.training.loop" in loaded


def test_the_top_level_shows_the_parts() -> None:
    """At most 8 modules at the top; everything else lives in the folder of its part."""
    modules = sorted(p.name for p in (ROOT / "invmeter").glob("*.py"))
    assert len(modules) <= 8, modules
    folders = {p.name for p in (ROOT / "invmeter").iterdir() if (p / "__init__.py").exists()}
    names = folders | {n.removesuffix(".py") for n in modules}
    clash = names & (set(__import__("invmeter").__all__) - {"functional"})
    assert not clash, f"{clash}: a module or folder named like a public function replaces it once imported"


SHARED = {"_utils", "_version"}  # the foundation: private to the package, shared by every part


def _part(module: str) -> str:
    return module.split(".")[1] if module.count(".") else module


def test_no_part_imports_another_parts_private_names() -> None:
    """``from invmeter.X.y import _name`` or ``import invmeter.X._private`` from outside part X is refused: parts meet
    through public names only."""
    offences = []
    for path in (ROOT / "invmeter").rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        importer = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("invmeter"):
                targets = [(node.module, a.name) for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [(a.name, "") for a in node.names if a.name.startswith("invmeter")]
            else:
                continue
            for module, name in targets:
                if _part(module) == _part(importer) or module == "invmeter":
                    continue
                private = [p for p in [*module.split(".")[1:], name] if p.startswith("_") and not p.startswith("__")]
                private = [p for p in private if p not in SHARED]
                if private:
                    offences.append(f"{importer} imports {module}:{name or '*'} ({', '.join(private)})")
    assert not offences, "\n".join(offences)


def test_the_layer_contract_names_folders_in_at_most_ten_layers() -> None:
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c["layers"] for c in contracts if c["type"] == "layers")
    assert len(layers) <= 10, layers
    named = {m.strip() for layer in layers for m in layer.split("|")}
    parts = {f"invmeter.{p.name}" for p in (ROOT / "invmeter").iterdir() if (p / "__init__.py").exists()}
    parts |= {f"invmeter.{p.stem}" for p in (ROOT / "invmeter").glob("*.py") if p.stem not in ("__init__", "__main__")}
    assert named == parts, f"folders missing from the contract: {parts - named}; not folders: {named - parts}"
