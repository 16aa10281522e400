"""No stale benchmarks: every script in benchmarks/ is listed here with its smallest run, imports cleanly (every
``invmeter`` name it imports, even inside functions, exists), runs nothing on import (``if __name__ ==
"__main__"``), and runs to the end at its smallest size; those that cannot run here are skipped by name with the
reason. The figures these runs print are meaningless (tiny sizes, a shared machine): only that they run to the end
without a traceback is checked (a script exits with 1 when a limit is not met)."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"

# script -> the arguments of its smallest run (seconds on a quiet machine)
SMOKE: dict[str, list[str]] = {
    "bench_cache": ["--n", "500", "--rounds", "1"],
    "bench_cli_startup": ["--repeats", "1"],
    "bench_decode": ["--smoke"],
    "bench_folder_scale": ["--smoke"],
    "bench_data": ["--n", "300", "--rounds", "1", "--per-image-n", "50"],
    "bench_jobs": ["--arch", "resnet18", "--width", "0.125", "--batch-size", "4", "--steps", "1"],
    "bench_l2": ["--sizes", "500,1000", "--dim", "16"],
    "bench_probe": ["--n-train", "300", "--n-test", "100"],
    "bench_scale": ["--quick", "--no-cka"],
    "bench_score": ["--smoke", "--repeats", "1"],
    "bench_select": ["--n-images", "20", "--image-size", "64", "--repeats", "1", "--models", "timm:resnet18"],
    "bench_train": ["--repeats", "1", "--epochs", "1", "--n-train", "256", "--batch-size", "64"],
    "bench_track": ["--repeats", "1", "--epochs", "1", "--n-train", "256", "--track-images", "32"],
    "crosscheck_lie": ["--n", "1"],
    "peers": ["--smoke"],
    "bench_tmeasures": ["--n", "20", "--batch", "10", "--repeats", "1", "--skip-all-layers"],
    "crosscheck_tmeasures": ["--n", "20", "--batch", "10"],
}
# script -> why its run is not part of the tests (it is still imported and checked)
NOT_RUN: dict[str, str] = {
    "adversarial_tally": "runs the adversarial suite itself (tests/test_adversarial.py already runs every row)",
    "bench_gpu_epoch": "needs a CUDA GPU: benchmarks/gpu_check.sh runs it",
    "bench_measures": "its smallest run (LEE of a ResNet-18 and a ViT-Tiny at 224 px on 20 images, the unit measures "
                      "on every leaf, each with warm-ups) took over 10 minutes on the shared 2 cores",
    "bench_zoo": "four timm models at the sizes given: minutes even at 8 images",
    "reference_distances": "needs trained models (paths to model.safetensors) as arguments",
    "verdict_threshold": "trains six models before it measures: minutes",
}
HELPERS = {"tmeasures_compat": "the tmeasures adapters crosscheck_tmeasures.py and bench_measures.py import",
           "timing": "alternating repeats, paired ratios and limit lines that the timing scripts import"}
NEEDS_TMEASURES = {"bench_tmeasures", "crosscheck_tmeasures"}  # the ``bench`` extra
PART_NEEDS_TMEASURES = {"peers": "b. every leaf: tmeasures NV"}  # a line printed only with the bench extra
SLOW = {  # over a few seconds
    "bench_decode", "bench_folder_scale", "bench_jobs", "bench_l2", "bench_probe", "bench_scale", "bench_score",
    "bench_select", "bench_tmeasures", "bench_track", "bench_train", "crosscheck_lie", "crosscheck_tmeasures", "peers",
}

SCRIPTS = sorted(p.stem for p in BENCHMARKS.glob("*.py"))


def _has_tmeasures() -> bool:
    return importlib.util.find_spec("tmeasures") is not None


def test_every_script_is_listed() -> None:
    listed = set(SMOKE) | set(NOT_RUN) | set(HELPERS)
    assert set(SCRIPTS) - listed == set(), "a new benchmark needs its smallest run in SMOKE (or a reason in NOT_RUN)"
    assert listed - set(SCRIPTS) == set(), "a listed benchmark no longer exists"
    assert not set(SMOKE) & set(NOT_RUN)


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_runs_nothing_on_import_and_imports_only_existing_names(name: str) -> None:
    tree = ast.parse((BENCHMARKS / f"{name}.py").read_text())
    guards = [n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "__name__ == '__main__'"]
    assert (len(guards) == 1) != (name in HELPERS), f"{name}.py: one `if __name__ == '__main__':` block"
    calls = [ast.unparse(n) for n in tree.body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)]
    assert calls == [], f"{name}.py runs code on import: {calls}"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "invmeter":
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name) or importlib.util.find_spec(f"{node.module}.{alias.name}"), (
                    f"{name}.py imports {alias.name} from {node.module}, which has no such name")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "invmeter":
                    importlib.import_module(alias.name)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(SMOKE)])
def test_script_runs_at_its_smallest_size(name: str) -> None:
    if name in NEEDS_TMEASURES and not _has_tmeasures():
        pytest.skip(f"{name} needs tmeasures (the bench extra: pip install -e '.[bench]')")
    result = subprocess.run([sys.executable, str(BENCHMARKS / f"{name}.py"), *SMOKE[name]], check=False,
                            capture_output=True, text=True, timeout=600, cwd=BENCHMARKS.parent)
    # exit status 1 is a limit not met (meaningless at this size); a crash is a traceback
    assert result.returncode in (0, 1) and "Traceback" not in result.stderr, (
        f"{name}.py {' '.join(SMOKE[name])} failed:\n{result.stderr[-3000:]}")
    assert result.stdout.strip(), f"{name}.py printed nothing"
    if name in PART_NEEDS_TMEASURES and _has_tmeasures():
        assert PART_NEEDS_TMEASURES[name] in result.stdout, f"{name}.py skipped its tmeasures part:\n{result.stdout}"


def test_the_paired_ratio_is_the_median_of_the_rounds_ratios_not_the_ratio_of_the_medians() -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from timing import against, alternating, paired_ratio
    finally:
        sys.path.remove(str(BENCHMARKS))
    assert paired_ratio([4.0, 3.0, 10.0], [2.0, 1.0, 2.0]) == 3.0  # rounds 2, 3, 5; the medians' ratio is 4 / 2
    order: list[str] = []
    seconds = alternating({"a": lambda: order.append("a") or 1.0, "b": lambda: order.append("b") or 2.0}, 2)
    assert order == ["a", "b", "a", "b"] and seconds == {"a": [1.0, 1.0], "b": [2.0, 2.0]}
    assert against(1.1, 1.1) == "1.100 <= limit 1.1" and against(1.1004, 1.1) == "1.100 > limit 1.1"
