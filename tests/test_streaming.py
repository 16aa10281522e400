"""InvarianceMetric: known answers, batching independence, bounded memory, merging, 2 gloo processes, model path."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from dist_worker import single_process
from test_guard import _assert_same, _model_with_grads, _snapshot
from torch import nn

from conftest import CountingModel, HFlipInvariant, PixelModel
from invmeter import functional as F
from invmeter.errors import DataError, InvalidParameterError, UndefinedMetricWarning
from invmeter.streaming.metric import InvarianceMetric, _draws
from invmeter.transforms import apply_transforms, parse_transform

REL = 1e-12  # documented tolerance of batching independence: float64 rounding of the running sums


def _data(n: int = 3000, d: int = 32, k: int = 6, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    centres = 3 * torch.randn(k, d, generator=g)
    labels = torch.randint(0, k, (n,), generator=g)
    z = centres[labels] + torch.randn(n, d, generator=g)
    z_t = z + 0.4 * torch.randn(n, d, generator=g)
    return z, z_t, labels, z[:, :k], z_t[:, :k]


def _fed(batches: list[torch.Tensor], data: tuple[torch.Tensor, ...], **kwargs: object) -> InvarianceMetric:
    z, z_t, labels, logits, logits_t = data
    metric = InvarianceMetric(**kwargs)  # type: ignore[arg-type]
    for idx in batches:
        metric.update(z[idx], z_t[idx], labels[idx], logits=logits[idx], logits_t=logits_t[idx], index=idx)
    return metric


def _assert_close(a: dict[str, float], b: dict[str, float]) -> None:
    assert a.keys() == b.keys()
    for key, value in a.items():
        assert value == pytest.approx(b[key], rel=REL, abs=0), key


def test_known_answers() -> None:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2000, 64, generator=g)
    metric = InvarianceMetric()
    metric.update(z, z)
    assert metric.compute() == {"invariance": 1.0, "n": 2000}
    metric.reset()
    metric.update(z, torch.randn(2000, 64, generator=g))
    assert abs(metric.compute()["invariance"]) < 0.1


def test_one_batch_or_eight_in_any_order_gives_the_same_numbers() -> None:
    data = _data()
    whole = _fed([torch.arange(3000)], data, reservoir=512)
    uneven = torch.tensor([0, 1, 2, 50, 200, 999, 1000, 2400, 3000])
    eight = _fed([torch.arange(a, b) for a, b in itertools.pairwise(uneven)], data, reservoir=512)
    shuffled = _fed(list(torch.randperm(3000, generator=torch.Generator().manual_seed(1)).split(375)), data,
                    reservoir=512)
    for other in (eight, shuffled):
        _assert_close(whole.compute(), other.compute())
        assert torch.equal(whole.reservoir.by_id().ids, other.reservoir.by_id().ids)  # the same sample, exactly
    # without an index, the running count gives the same ids as the stream's positions
    z, z_t, labels, logits, logits_t = data
    counted = InvarianceMetric(reservoir=512)
    for idx in torch.arange(3000).split(400):
        counted.update(z[idx], z_t[idx], labels[idx], logits=logits[idx], logits_t=logits_t[idx])
    _assert_close(whole.compute(), counted.compute())


def test_memory_stays_bounded_and_the_reservoir_is_a_uniform_sample() -> None:
    z, z_t, labels, *_ = _data(n=20_000, d=8)
    metric = InvarianceMetric(reservoir=1000, seed=5)
    for idx in torch.arange(20_000).split(1000):
        metric.update(z[idx], z_t[idx], labels[idx])
        assert len(metric.reservoir) <= 1000 and metric.reservoir.clean.shape[1] == 8
    ids = metric.reservoir.ids.double()
    assert len(ids) == 1000 and len(torch.unique(ids)) == 1000
    assert abs(ids.mean().item() - 10_000) < 4 * 20_000 / np.sqrt(12 * 1000)  # uniform over the stream (4 sd)
    other = InvarianceMetric(reservoir=1000, seed=6)
    other.update(z[:20_000], z_t[:20_000], labels)
    assert len(np.intersect1d(other.reservoir.ids, metric.reservoir.ids)) < 200  # another seed, another sample


def test_relation_to_the_batch_metrics_when_the_reservoir_holds_the_stream() -> None:
    """Reservoir >= N: l2_ratio equals the batch value exactly, the random reference distance is the exact mean over
    all pairs i != j (what the batch metric's random derangement estimates), explicit references equal the batch."""
    z, z_t, labels, *_ = _data(n=600)
    metric = _fed(list(torch.arange(600).split(100)), _data(n=600), reservoir=600)
    out = metric.compute()
    assert out["l2_ratio"] == F.l2_ratio(z_t, labels)
    pairwise = torch.cdist(z.double(), z.double()).sum() / (600 * 599)
    assert out["invariance"] == pytest.approx(1 - torch.linalg.vector_norm(z.double() - z_t.double(), dim=1).mean().item() / pairwise.item(), rel=1e-10)
    derangements = [F.invariance(z, z_t, generator=s) for s in range(200)]
    assert np.mean(derangements) == pytest.approx(out["invariance"], abs=3 * np.std(derangements) / np.sqrt(200))
    twins = torch.arange(600) ^ 1
    with_ref = InvarianceMetric()
    for idx in torch.arange(600).split(64):
        with_ref.update(z[idx], z_t[idx], z_ref=z[twins][idx])
    assert with_ref.compute()["invariance"] == pytest.approx(F.invariance(z, z_t, z[twins]), rel=REL)


def test_merge_and_state_dict_round_trip(tmp_path: Path) -> None:
    data = _data()
    whole = _fed([torch.arange(3000)], data, reservoir=300)
    a = _fed([torch.arange(0, 3000, 2)], data, reservoir=300)
    b = _fed([torch.arange(1, 3000, 2)], data, reservoir=300)
    torch.save(b.state_dict(), tmp_path / "b.pt")
    a.merge(InvarianceMetric.from_state_dict(torch.load(tmp_path / "b.pt", weights_only=True)))
    _assert_close(whole.compute(), a.compute())
    assert torch.equal(whole.reservoir.by_id().ids, a.reservoir.by_id().ids)
    with pytest.raises(InvalidParameterError, match="same transform"):
        a.merge(InvarianceMetric(reservoir=301))


def run_two_ranks(tmp_path: Path, which: str) -> dict[str, object]:
    """Run tests/dist_worker.py as 2 gloo processes meeting through a file store; rank 0's output."""
    out = tmp_path / f"{which}.json"
    root = str(Path(__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    worker = Path(__file__).with_name("dist_worker.py")
    store = tmp_path / f"{which}.store"
    procs = [subprocess.Popen([sys.executable, str(worker), str(r), "2", str(store), str(out), which], env=env)
             for r in (0, 1)]
    try:
        codes = [p.wait(timeout=180) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:  # a rank stuck waiting for its peer
                p.kill()
    assert codes == [0, 0]
    return json.loads(out.read_text())


@pytest.mark.slow
def test_two_gloo_processes_give_the_single_process_numbers(tmp_path: Path) -> None:
    got = run_two_ranks(tmp_path, "core")
    single = single_process()
    _assert_close(single.compute(), got["result"])  # type: ignore[arg-type]
    assert sorted(got["ids"]) == sorted(single.reservoir.ids.tolist())  # type: ignore[arg-type]
    assert got["local_n"] == 750


def test_bad_input_and_mixed_updates() -> None:
    z = torch.randn(10, 4)
    metric = InvarianceMetric()
    with pytest.raises(DataError, match="no samples"):
        metric.compute()
    with pytest.raises(DataError, match="NaN or Inf"):
        metric.update(z * float("nan"), z)
    metric.update(z, z, torch.arange(10) % 2)
    with pytest.raises(InvalidParameterError, match="'labels' was given in some updates"):
        metric.update(z, z)
    with pytest.raises(InvalidParameterError, match="'z_ref' was given"):
        metric.update(z, z, torch.arange(10) % 2, z_ref=z)
    with pytest.raises(InvalidParameterError, match="dimension"):
        metric.update(z[:, :3], z[:, :3], torch.arange(10) % 2)
    with pytest.raises(InvalidParameterError, match="index"):
        metric.update(z, z, torch.arange(10) % 2, index=torch.arange(3))
    with pytest.raises(InvalidParameterError, match="needs a transform"):
        metric.update(PixelModel(), torch.rand(2, 3, 8, 8))
    constant = InvarianceMetric()
    constant.update(torch.ones(10, 4), z)
    with pytest.warns(UndefinedMetricWarning, match="clean images are identical for every image"):
        assert np.isnan(constant.compute()["invariance"])  # a constant representation: score's reason and NaN


def test_model_path_equals_the_representation_path_with_the_same_draws() -> None:
    images = torch.rand(40, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    by_model = InvarianceMetric("rotation", seed=2, mean=mean, std=std)
    for idx in torch.arange(40).split(16):  # draws keyed by sample id: batching does not change them
        by_model.update(PixelModel(), images[idx])
    ids = torch.arange(40)
    transformed = apply_transforms(images, _draws(parse_transform("rotation"), ids, 2))
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    by_hand = InvarianceMetric(seed=2)
    by_hand.update(((images - m) / s).flatten(1), ((transformed - m) / s).flatten(1))
    _assert_close(by_model.compute(), by_hand.compute())
    assert by_model.compute()["invariance"] < 0.9  # pixels are not rotation invariant


def test_model_path_reads_the_penultimate_layer_and_logits(counting_model: CountingModel) -> None:
    metric = InvarianceMetric("hflip")
    images = (torch.rand(12, 3, 8, 8) * 255).to(torch.uint8)
    metric.update(counting_model, images, torch.arange(12) % 3)
    assert metric.reservoir.clean.shape == (12, 16)  # the input of fc (16), not its 5 logits
    out = metric.compute()
    assert out.keys() == {"invariance", "l2_ratio", "consistency", "n"} and 0 <= out["consistency"] <= 1
    assert counting_model.images_seen == 24  # one forward pass per view
    invariant = InvarianceMetric("hflip")
    invariant.update(HFlipInvariant(), torch.rand(12, 3, 8, 8))
    assert invariant.compute()["invariance"] == pytest.approx(1.0, abs=1e-6)


def test_model_path_leaves_the_model_untouched() -> None:
    model = _model_with_grads()  # TRAIN mode, mixed submodule modes, frozen stem, a user hook, grads, BN stats
    before = _snapshot(model)
    metric = InvarianceMetric("rotation", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    metric.update(model, torch.rand(6, 3, 8, 8), torch.arange(6) % 2)
    _assert_same(before, model)
    assert model.calls == [12]  # its hook saw the one forward pass (6 clean + 6 transformed views)
    assert "consistency" in metric.compute()


def test_model_path_with_rendered_pairs_and_twin_references_equals_score() -> None:
    """Transforms-2D pairs (object-level transform, twin references) fed to the model path: invmeter score's numbers."""
    import invmeter
    from invmeter.data import Transforms2D, Transforms2DPairs

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, 3))
    pairs = Transforms2DPairs(Transforms2D(objects=(0, 1, 2), image_size=16), parse_transform("rotation"), 24, seed=4)
    clean, rotated = pairs.render(slice(0, 24))
    metric = InvarianceMetric()
    for part in (slice(0, 10), slice(10, 24)):  # batches holding whole twins
        local = pairs.reference[part] - part.start
        metric.update(net, clean[part], pairs.labels[part], transformed=rotated[part], reference=local)
    report = invmeter.score(net, "rotation", image_size=16, n_classes=3, n_images=24, seed=4, n_boot=0,
                            metrics=["invariance", "l2_ratio"])
    out = metric.compute()
    assert out["invariance"] == pytest.approx(report["invariance"], rel=1e-6)
    assert out["l2_ratio"] == pytest.approx(report["l2_ratio"], rel=1e-6)
    with pytest.raises(InvalidParameterError, match="another image of the same batch"):
        metric.update(net, clean[:4], pairs.labels[:4], transformed=rotated[:4], reference=torch.arange(4))
    with pytest.raises(InvalidParameterError, match="same shape"):
        metric.update(net, clean[:4], pairs.labels[:4], transformed=rotated[:3], reference=torch.tensor([1, 0, 3, 2]))
