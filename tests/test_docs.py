"""Docs are tests: every Python and shell block of README.md and docs/*.md runs, one test per block, named by its file
and heading (tests/doc_blocks.py), or is skipped by name below with the reason.

A document's blocks run top to bottom in one working folder of their own (a reader's checkout: the fixture folders
below, and ``tests/`` of this repository), shared by its shell and Python blocks; its Python blocks share one
namespace in one fresh interpreter (tests/doc_python.py); each shell block runs in ``bash`` with ``set -eo pipefail``
(tests/doc_runner.py). Offline: ``HF_HUB_OFFLINE=1``, empty Hugging Face and torch.hub caches, an HTTP proxy that
refuses every connection. The ``invmeter`` they call is this repository's command line (tests/doc_cli.py), which runs
the long sub-commands at a smaller size by explicit options, printed in the log, unless ``INVMETER_DOCS_FULL=1``.
Documents run side by side, one per core; the log ends with what the blocks cost in CPU and wall-clock seconds.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from doc_blocks import ROOT, Block, all_blocks
from doc_cli import FULL, SMALLER, smaller
from doc_runner import Document, Lanes

from invmeter.runner.core import available_cores

BLOCKS = all_blocks()

# Blocks that need what this machine cannot have, by id, with the reason (printed by test_the_skip_table).
SKIPS = {
    "README.md#invmeter": "installs invmeter from the network and runs the whole suite, this test included: .ci/run "
                          "installs invmeter and runs the second command word for word, and the first's invmeter "
                          "command is README.md#command-line's first line (tests/test_install_commands.py checks)",
    "docs/data.md#getting-si-score": "downloads SI-score from the Hugging Face Hub with the datasets package "
                                     "(network; not an invmeter dependency)",
    "docs/data.md#getting-si-score-2": "downloads SI-score from S3 with the AWS CLI (network)",
    "docs/data.md#cifar-10-from-a-folder---cifar-root": "downloads CIFAR-10 (network)",
    "docs/reproduce.md#reproducing-the-paper-2": "the paper preset on SI-score and CIFAR-10 with 4 cells on a GPU",
    "docs/reproduce.md#running-on-a-ray-cluster": "starts a Ray cluster and runs the paper preset on its GPUs",
    "docs/reproduce.md#figures-3-and-4-cifar-10-with-pasted-objects": "fig3 reads CIFAR-10 (--cifar-root ~/data); "
        "fig4 on the stand-in runs in #measured-at-the-cpu-preset-the-stand-in",
    "docs/reproduce.md#figure-7-example-images": "reads CIFAR-10 (--cifar-root ~/data); fig7 on the stand-in runs "
                                                 "in #reproducing-the-paper (reproduce all)",
    "docs/reproduce.md#the-gpu-check": "needs an NVIDIA GPU (benchmarks/gpu_check.sh stops without CUDA)",
    "docs/zoo.md#the-reference-board-gpu-or-ray-cluster": "needs ImageNet's validation set, 54 models' pretrained "
                                                          "weights from the Hugging Face Hub, and a GPU or Ray cluster",
}

# Shell commands that have no meaning on a CI machine, replaced by a check of what the block made, with the reason.
STANDINS = {
    "open": ('open() { test -s "$1" || { echo "open: $1 was not written" >&2; return 1; }; }',
             "no browser or desktop in CI: checks the page exists (tests/test_zoo_board.py opens a board in Chromium)"),
}

# After a block, Python run in its namespace: what the block's comments promise, checked.
CHECKS = {
    "docs/api.md#the-transform": "assert report.transform['spec'] == 'RandomHorizontalFlip(p=1.0)'",
    "docs/train.md#training-models-with-known-invariances-2":
        "assert callable(invmeter.train) and result.checkpoint.exists() and 0 <= result.test_accuracy <= 1",
    "docs/streaming.md#a-training-loop-in-plain-pytorch": "assert epoch == 2 and best[1] in (0, 1, 2)",
    "docs/streaming.md#torchmetrics-as-its-users-write-it":
        "assert {'val/accuracy', 'val/invariance', 'val/l2_ratio', 'val/consistency'} <= set(trainer.callback_metrics)\n"
        "assert all(trainer.callback_metrics[k].shape == () for k in ('val/invariance', 'val/consistency'))",
    "docs/streaming.md#torchmetrics-as-its-users-write-it-2":  # one compute group: one pass for the four
        "assert list(metrics.compute_groups.values()) == [['invariance', 'ratio', 'l2_ratio', 'consistency']]\n"
        "assert (half.sums.dtype, half.clean[0].dtype) == (torch.float64, torch.float16)",
    "docs/streaming.md#the-same-with-lightning-invariancecallback":
        "assert [h['epoch'] for h in invariance.history] == [1, 3]  # check_val_every_n_epoch=2\n"
        "assert {'invariance/rotation', 'consistency/hflip'} <= invariance.history[-1].keys()\n"
        "import pathlib; assert list(pathlib.Path().glob('lightning_logs/**/metrics.csv'))",
}

TIMEOUT_S = None if os.environ.get(FULL) == "1" else 1200  # one block (the slowest: about 2 min of CPU)
NO_NETWORK = "http://127.0.0.1:9"  # the discard port: every proxied connection is refused at once
LANES = min(4, available_cores())  # documents at once, one thread each


@pytest.fixture(scope="session")
def docs_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The environment of every block: offline, fresh caches, this repository's ``invmeter`` first on PATH, one
    thread per process (documents run side by side, one per core)."""
    root = tmp_path_factory.mktemp("docs")
    bin_dir = root / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "invmeter"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{ROOT / "tests" / "doc_cli.py"}" "$@"\n')
    shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy") and not k.startswith("INVMETER_")}
    env.update({
        "PATH": os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "HOME": str(root / "home"), "INVMETER_CACHE": str(root / "cache"), "HF_HOME": str(root / "hf"),
        "TORCH_HOME": str(root / "torch"), "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": str(max(1, available_cores() // LANES)),
        "http_proxy": NO_NETWORK, "https_proxy": NO_NETWORK, "HTTP_PROXY": NO_NETWORK, "HTTPS_PROXY": NO_NETWORK,
        "ALL_PROXY": NO_NETWORK, "no_proxy": "", "NO_PROXY": "",
    })
    env.update({k: v for k, v in os.environ.items() if k == FULL})
    (root / "home").mkdir()
    yield env
    shutil.rmtree(root / "cache", ignore_errors=True)  # rendered splits: hundreds of MB


@pytest.fixture(scope="session")
def lanes(request: pytest.FixtureRequest, docs_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory,
          photo_folder: Path, object_folder: Path, si_score_folder: Path) -> Iterator[Lanes]:
    """The selected blocks (and the blocks above them in their document), started at once, side by side.

    Each document works in a folder of its own, as a checkout's root that a reader works in: ``photos/`` (4 classes
    of real photos), ``objects/`` (4 RGBA objects), ``si-score/`` (SI-score's layout, 10 classes), ``tests/`` (this
    repository's, for the scripts the docs run from a checkout) and an empty ``docs/img/`` (cli.md writes its
    figures there)."""
    selected = {item.callspec.params["block"].id for item in request.session.items
                if isinstance(item, pytest.Function) and item.originalname == "test_doc_block"}
    runnable = [b for b in BLOCKS if b.id not in SKIPS]
    plan: dict[str, list[Block]] = {}
    for block in runnable:
        if any(b.id in selected for b in runnable if b.doc == block.doc and b.line >= block.line):
            plan.setdefault(block.doc, []).append(block)
    prelude = "set -eo pipefail\n" + "".join(f"{s}\n" for s, _ in STANDINS.values())

    def document(doc: str) -> Document:
        folder = tmp_path_factory.mktemp(doc.replace("/", "-").removesuffix(".md"))
        for name, target in {"photos": photo_folder, "objects": object_folder, "si-score": si_score_folder,
                             "tests": ROOT / "tests"}.items():
            (folder / name).symlink_to(target, target_is_directory=True)
        (folder / "docs" / "img").mkdir(parents=True)
        return Document(folder, docs_env, prelude, CHECKS, TIMEOUT_S)

    start = time.perf_counter()
    running = Lanes(plan, document, LANES)
    yield running
    running.close()
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # in CI's log: what the documentation costs
            reporter.write_line("")
            for line in running.summary(time.perf_counter() - start):
                reporter.write_line(line)


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_doc_block(block: Block, request: pytest.FixtureRequest) -> None:
    if block.id in SKIPS:
        pytest.skip(SKIPS[block.id])
    running: Lanes = request.getfixturevalue("lanes")
    outcome = running.outcome(block)
    if not outcome.ok:
        failed = [b for b in running.plan[block.doc] if b.line < block.line and not running.outcomes[b.id].ok]
        note = f" (after the failure of {', '.join(b.id for b in failed)})" if failed else ""
        pytest.fail(f"{block.doc} line {block.line} ({block.kind}) failed{note} after {outcome.seconds:.0f} s:\n"
                    f"{outcome.output[-6000:]}", pytrace=False)


def test_the_skip_table(capsys: pytest.CaptureFixture[str]) -> None:
    """Every skip names a block that exists (no stale entries), and the log lists what CI does not run, and why."""
    ids = {b.id for b in BLOCKS}
    assert not set(SKIPS) - ids, f"skips naming no block: {sorted(set(SKIPS) - ids)}"
    assert not set(CHECKS) - ids, f"checks naming no block: {sorted(set(CHECKS) - ids)}"
    assert len(ids) == len(BLOCKS)
    with capsys.disabled():
        print(f"\nDocumentation blocks: {len(BLOCKS)}, skipped by name: {len(SKIPS)}")
        for name, reason in SKIPS.items():
            print(f"  SKIPPED {name}: {reason}")
        print("Stand-ins: " + "; ".join(f"{n}: {reason}" for n, (_, reason) in STANDINS.items()))
        print("Run smaller in CI (INVMETER_DOCS_FULL=1 runs them as written): "
              + "; ".join(f"invmeter {n}: {r}" for n, r in SMALLER.items()))


@pytest.mark.parametrize(
    ("command", "ran"),
    [
        ("score -m resnet18 -t rotation", "score -m resnet18 -t rotation --n-images 20 --bootstrap 100"),
        ("score --classes 20 --n-images 1000 --bootstrap=50", "score --classes 20 --bootstrap=50 --n-images 40"),
        ("score --n-images 8 --bootstrap 0", "score --n-images 8 --bootstrap 0"),
        ("zoo 'timm:resnet18*' --n-images 48 --out zoo", "zoo 'timm:resnet18*' --out zoo --n-images 20 --bootstrap 100"),
        ("train --epochs 15 --out runs/rot", "train --out runs/rot --n-train 200 --n-val 40 --n-test 40 --epochs 2"),
        ("train --epochs 20 --resume --track rotation --out r",
         "train --resume --track rotation --out r --n-train 200 --n-val 40 --n-test 40 --epochs 3 --track-images 20"),
        ("train --epochs 2 --out runs/rot -q", "train --out runs/rot -q --n-train 200 --n-val 40 --n-test 40 --epochs 2"),
        ("train --epochs 1", "train --n-train 200 --n-val 40 --n-test 40 --epochs 1"),
        ("reproduce fig2 --preset cpu --out r", "reproduce fig2 --out r --preset smoke"),
        ("reproduce all --preset paper --dry-run", "reproduce all --preset paper --dry-run"),
        ("data build --classes 30", "data build --classes 30"),
        ("score --help", "score --help"),
    ],
)
def test_smaller_sizes_are_explicit_options(command: str, ran: str) -> None:
    """The long sub-commands run smaller by options that a report records; the rest run as written."""
    import shlex

    assert shlex.join(smaller(shlex.split(command))) == shlex.join(shlex.split(ran))


def test_blocks_are_named_by_file_and_heading(tmp_path: Path) -> None:
    from doc_blocks import blocks

    (tmp_path / "t.md").write_text("# Title\n\n```bash\na\n```\n## Sub heading (`x`)\n```python\nb\n```\n```json\n{}\n"
                                   "```\n````python\nc\n````\n```\n# not a heading\n```\n")
    found = [(b.id, b.kind, b.line, b.code) for b in blocks(tmp_path / "t.md", tmp_path)]
    assert found == [("t.md#title", "shell", 4, "a\n"), ("t.md#sub-heading-x", "python", 8, "b\n"),
                     ("t.md#sub-heading-x-2", "python", 14, "c\n")]
    (tmp_path / "open.md").write_text("text\n```bash\nnever closed\n")
    with pytest.raises(ValueError, match="open.md:2: a code fence that is never closed"):
        blocks(tmp_path / "open.md", tmp_path)


def test_blocks_run_as_a_reader_runs_them(tmp_path: Path, docs_env: dict[str, str]) -> None:
    """Python blocks share a namespace and report the document's line; shell blocks stop at the first failing
    command; both are offline and call this repository's command line."""
    prelude = "set -eo pipefail\n"
    document = Document(tmp_path, docs_env, prelude, {"t.md#b": "assert y == 42"}, 60)
    try:
        run = [document.run(Block(f"t.md#{name}", "t.md", line, kind, code)) for name, line, kind, code in [
            ("a", 3, "python", "x = 41\n"),
            ("b", 7, "python", "y = x + 1\n"),
            ("c", 11, "python", "\nraise ValueError('boom')\n"),
            ("d", 15, "shell", "false\necho after\n"),
            ("e", 19, "shell", "invmeter --version && test \"$HF_HUB_OFFLINE\" = 1 && test ! -e ~/.cache/invmeter\n"),
            ("f", 23, "python", "import urllib.request\nurllib.request.urlopen('http://example.com', timeout=10)\n"),
        ]]
    finally:
        document.close()
    assert [o.ok for o in run] == [True, True, False, False, True, False]
    assert 'File "' in run[2].output and "t.md\", line 12" in run[2].output and "ValueError: boom" in run[2].output
    assert "after" not in run[3].output and "[exit status 1]" in run[3].output
    assert "invmeter, version" in run[4].output
    assert "URLError" in run[5].output  # refused by the proxy, at once
