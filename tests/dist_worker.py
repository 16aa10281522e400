"""One rank of the 2-process gloo tests: ``python dist_worker.py RANK WORLD STORE OUT [core|torchmetrics]``.

Rank r streams every WORLD-th sample (as a DistributedSampler would), in batches of 37, with the samples' global
indices; compute() then merges the ranks' states. Rank 0 writes the merged result and reservoir ids to OUT.
The ranks meet through a file store (STORE, a path that does not exist yet): no port to race for, and no TCP store
thread to outlive the process group (with a TCP store, 3 of 150 runs aborted at interpreter exit on 2 loaded cores).
"""

from __future__ import annotations

import json
import sys

import torch
import torch.distributed as dist

from invmeter.streaming.metric import InvarianceMetric


def stream() -> tuple[torch.Tensor, ...]:
    """The whole stream: 1500 samples of 24-d representations, 5 classes, logits."""
    g = torch.Generator().manual_seed(7)
    z = torch.randn(1500, 24, generator=g)
    z_t = z + 0.5 * torch.randn(1500, 24, generator=g)
    labels = torch.randint(0, 5, (1500,), generator=g)
    return z, z_t, labels, z[:, :5], z_t[:, :5]


def single_process() -> InvarianceMetric:
    """The whole stream in one process: what the ranks' merged result must equal."""
    z, z_t, labels, logits, logits_t = stream()
    single = InvarianceMetric(reservoir=256, seed=3)
    single.update(z, z_t, labels, logits=logits, logits_t=logits_t)
    return single


def finish() -> None:
    """Leave together: both ranks reach the barrier before either tears its process group down."""
    dist.barrier()
    dist.destroy_process_group()


def main() -> None:
    rank, world, store, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    z, z_t, labels, logits, logits_t = stream()
    mine = torch.arange(rank, len(z), world)
    if len(sys.argv) > 5 and sys.argv[5] == "torchmetrics":
        from torchmetrics import MetricCollection

        from invmeter.integrations.torchmetrics import Consistency, Invariance, L2Ratio, PairedDistanceRatio

        metrics = MetricCollection({"invariance": Invariance(reservoir=256, seed=3),
                                    "paired_distance_ratio": PairedDistanceRatio(reservoir=256, seed=3),
                                    "l2_ratio": L2Ratio(reservoir=256, seed=3),
                                    "consistency": Consistency(reservoir=256, seed=3)})
        for chunk in mine.split(37):
            metrics.update(z=z[chunk], z_t=z_t[chunk], labels=labels[chunk], logits=logits[chunk],
                           logits_t=logits_t[chunk], index=chunk)
        result = {k: float(v) for k, v in metrics.compute().items()}  # torchmetrics syncs the states across ranks
        local_n = float(metrics["invariance"].sums[0])  # compute() restored the local state after the sync
        if rank == 0:
            with open(out, "w") as f:
                json.dump({"result": result, "local_n": local_n, "groups": len(metrics.compute_groups)}, f)
        finish()
        return
    metric = InvarianceMetric(reservoir=256, seed=3)
    for chunk in mine.split(37):
        metric.update(z[chunk], z_t[chunk], labels[chunk], logits=logits[chunk], logits_t=logits_t[chunk], index=chunk)
    local_n = metric.sums["n"]
    result = metric.compute()  # syncs: torch.distributed is initialised with 2 processes
    assert metric.sums["n"] == local_n  # compute() leaves the local state alone
    merged = metric.gathered()  # every process's samples, merged in rank order
    if rank == 0:
        with open(out, "w") as f:
            json.dump({"result": result, "ids": merged.reservoir.ids.tolist(), "local_n": local_n}, f)
    finish()


if __name__ == "__main__":
    main()
