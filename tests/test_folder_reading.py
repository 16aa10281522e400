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
