"""Linear-probe fit time and accuracy on 50k x 512 features, 30 classes: invmeter's fast default vs the paper's
protocol (a linear layer trained with Adam, lr 1e-3, 25 epochs, batch 512). Limits: the default fits in <= 3 s
and is within 1 accuracy point of the paper protocol.

Features: a fixed random convolutional network (seeded; 512-d after global pooling) applied to a Transforms-2D
split of 30 objects under rotation+scale+blur (50k train and 10k test images, built and cached by build_split),
rescaled to unit standard deviation like the batch-normalised penultimate layer of a trained network (the paper
protocol trains on raw features, so their scale matters to it). Random convolutional features are a standard
stand-in for a backbone's penultimate layer; the probe sees only the 512-d vectors. ``--logistic`` adds the
fully converged L-BFGS logistic regression for reference (slow at this size).

    python benchmarks/bench_probe.py [--n-train 50000] [--n-test 10000] [--logistic]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from invmeter import LinearProbe, Transforms2D, parse_transform
from invmeter.data import build_split

TIME_LIMIT_S = 3.0
ACCURACY_GAP_LIMIT = 0.01


def random_features(images, batch: int = 1000) -> torch.Tensor:  # noqa: ANN001 - uint8 array (N, 3, 32, 32)
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 64, 5, stride=2, padding=2), nn.ReLU(),
        nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(128, 512, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    ).eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            x = torch.from_numpy(images[start : start + batch].copy()).float().div_(255.0)
            out.append(net((x - 0.5) / 0.5))
    features = torch.cat(out)
    return features / features.std()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=50_000)
    parser.add_argument("--n-test", type=int, default=10_000)
    parser.add_argument("--logistic", action="store_true", help="also fit the converged logistic regression")
    args = parser.parse_args()
    dataset = Transforms2D(objects=tuple(range(30)), transforms=parse_transform("rotation+scale+blur"), image_size=32)
    train = build_split(dataset, "train", args.n_train, seed=0, progress=True)
    test = build_split(dataset, "test", args.n_test, seed=0, progress=True)
    start = time.perf_counter()
    x_train, x_test = random_features(train.images), random_features(test.images)
    y_train, y_test = torch.from_numpy(train.labels), test.labels
    print(f"features {tuple(x_train.shape)} train, {tuple(x_test.shape)} test ({time.perf_counter() - start:.1f} s)")
    results = {}
    probes = [("default (auto)", LinearProbe()), ("paper (adam, 25 epochs)", LinearProbe(solver="adam"))]
    if args.logistic:
        probes.append(("lbfgs (logistic, C=1)", LinearProbe(solver="lbfgs")))
    for name, probe in probes:
        start = time.perf_counter()
        probe.fit(x_train, y_train)
        seconds = time.perf_counter() - start
        results[name] = (seconds, probe.score(x_test, y_test))
        print(f"{name:<26} solver {probe.solver_:<6} fit {seconds:6.2f} s   test accuracy {results[name][1]:.4f}")
    fast_s, fast_acc = results["default (auto)"]
    paper_s, paper_acc = results["paper (adam, 25 epochs)"]
    print(f"default fit time {fast_s:.2f} s / limit {TIME_LIMIT_S} s = {fast_s / TIME_LIMIT_S:.2f} "
          f"({'ok' if fast_s <= TIME_LIMIT_S else 'OVER'}); paper protocol {paper_s:.2f} s")
    gap = fast_acc - paper_acc
    print(f"accuracy default - paper = {gap:+.4f} (limit >= -{ACCURACY_GAP_LIMIT}) "
          f"{'ok' if gap >= -ACCURACY_GAP_LIMIT else 'BELOW'}")


if __name__ == "__main__":
    main()
