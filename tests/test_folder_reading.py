"""Reading image folders (issue 29): files are read in as many threads as the process has spare cores, each a batch
ahead, without changing the order or the representations; a long folder run shows a progress bar with an ETA."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import invmeter.pipeline.extract as extraction
from invmeter.api import ScoreSettings
from invmeter.pipeline.extract import extract, reading_threads
from invmeter.pipeline.measure import make_pairs
from invmeter.pipeline.prepare import prepare


def test_reading_threads_are_the_cores_torch_leaves_free_and_at_least_one(monkeypatch: pytest.MonkeyPatch) -> None:
    torch_threads = torch.get_num_threads()
    for cores, expected in ((torch_threads + 3, 3), (torch_threads + 1, 1), (torch_threads, 1), (1, 1)):
        monkeypatch.setattr(extraction, "available_cores", lambda cores=cores: cores)
        assert reading_threads() == expected
    assert torch.get_num_threads() == torch_threads  # read, never set


class _SlowPairs:
    """An io-bound pair source whose first three batches wait for each other (a barrier of 3: they must be read at
    once) and finish in reverse order; every batch's pixels are its own index."""

    io_bound = True

    def __init__(self, n_batches: int) -> None:
        self.barrier = threading.Barrier(3, timeout=20)
        self.threads: set[int] = set()
        self.n_batches = n_batches

    def render(self, index: slice) -> tuple[torch.Tensor, torch.Tensor]:
        k = index.start
        self.threads.add(threading.get_ident())
        if k < 3:
            self.barrier.wait()  # raises BrokenBarrierError unless three batches are being read at the same time
            time.sleep(0.05 * (3 - k))  # batch 0 finishes last
        clean = torch.full((1, 1, 2, 2), float(k))
        return clean, clean + 0.5


def test_three_reading_threads_read_three_batches_at_once_and_yield_them_in_order() -> None:
    pairs = _SlowPairs(7)
    batches = [(slice(k, k + 1), None) for k in range(7)]
    out = list(extraction._prefetched(pairs, batches, lambda x: x * 2, True, threads=3))  # type: ignore[arg-type]
    assert [index.start for index, _ref, _b, _x in out] == list(range(7))
    for k, (_index, _ref, b, x) in enumerate(out):
        assert b == 1 and torch.equal(x, torch.tensor([k, k + 0.5]).reshape(2, 1, 1, 1).expand(2, 1, 2, 2) * 2)
    assert len(pairs.threads) == 3 and threading.get_ident() not in pairs.threads


@pytest.fixture(scope="module")
def jpeg_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes x 7 smooth JPEGs of several sizes."""
    root = tmp_path_factory.mktemp("jpegs")
    rng = np.random.default_rng(0)
    for c in range(3):
        (root / f"class{c}").mkdir()
        for k in range(7):
            coarse = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
            image = Image.fromarray(coarse).resize((40 + 3 * k, 36 + 2 * c), Image.BICUBIC)
            image.save(root / f"class{c}" / f"{k}.jpg", quality=90)
    return root


def test_one_and_three_reading_threads_give_the_same_representations(jpeg_folder: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                          nn.Linear(32, 3))
    settings = ScoreSettings.create(image_size=32, mean=(0.5,), std=(0.25,), n_images=None, batch_size=2)
    plan = next(prepare(model, "rotation", data=str(jpeg_folder), settings=settings).plans())
    runs = {}
    for threads in (1, 3):
        monkeypatch.setattr(extraction, "available_cores", lambda threads=threads: torch.get_num_threads() + threads)
        assert reading_threads() == threads
        pairs = make_pairs(plan, plan.transforms[0].transform, 0)
        runs[threads] = extract(plan.handle, pairs, batch_size=2, device="cpu")
    one, three = runs[1], runs[3]
    assert one.clean.shape == (21, 32) and torch.equal(one.labels, torch.arange(21) // 7)
    for name in ("clean", "transformed", "logits_clean", "logits_transformed"):
        assert torch.equal(getattr(one, name), getattr(three, name)), name
        assert not getattr(one, name).is_inference()  # ordinary tensors: the caller may change them in place


SLOW_MODEL = '''
import time

from torch import nn


class Slow(nn.Module):
    """A small CNN that takes 0.15 s per batch: a run of several batches outlasts tqdm's 0.2 s refresh interval."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        time.sleep(0.15)
        return self.head(self.body(x))


def factory():
    return Slow()
'''


def test_the_cli_draws_a_progress_bar_with_an_eta_on_a_terminal(jpeg_folder: Path, tmp_path: Path) -> None:
    """``invmeter score`` on a folder, its output a pseudo-terminal: tqdm's bar counts the images against their
    total with the time left (``[elapsed<remaining, rate]``) once the rate is known."""
    import fcntl
    import os
    import pty
    import re
    import struct
    import subprocess
    import sys
    import termios

    (tmp_path / "slow_model.py").write_text(SLOW_MODEL)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "invmeter", "score", "-m", "slow_model:factory",
               "--image-size", "16", "--mean", "0.5,0.5,0.5", "--std", "0.25,0.25,0.25", "--data", str(jpeg_folder),
               "--metrics", "invariance", "--bootstrap", "0", "--batch-size", "4", "-t", "rotation"]
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a 120-column terminal
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the terminal closed: the child has exited
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert child.wait(timeout=120) == 0, b"".join(chunks).decode(errors="replace")[-2000:]
    screen = b"".join(chunks).decode(errors="replace")
    assert re.search(r"extracting features: +0%\|[^|]*\| 0/21 \[00:00<\?", screen), screen[-2000:]
    frames = re.findall(r"extracting features: +\d+%\|[^|]*\| (\d+)/21 \[(\d\d:\d\d)<(\d\d:\d\d), +[\d.]+img/s\]",
                        screen)
    assert frames and all(0 < int(done) < 21 for done, _elapsed, _left in frames), screen[-2000:]  # with an ETA
    assert "invariance" in screen  # and the table after it
