"""Evidence for the ``invariant`` verdict threshold on Transforms-2D, where ``invariance`` uses the object-swap reference:
how invariant are models to a transform they were trained on, and to ones they were not?

Trains a width-1/4 CIFAR ResNet-18 on each single transform (translation, rotation, scale, color jitter, hflip) and one
on none (fig6's cpu settings: 10 objects, 1,500 images, 8 epochs, batch 64, seed 0), then scores every model, and
three random initialisations, on every transform: ``invariance`` (object-swap reference, 400 pairs) and the paper's
paired-distance ratio (random-image reference, 600 redrawn test pairs; fig6's cells). About 13 minutes on one core.

    INVMETER_THREADS=1 python benchmarks/verdict_threshold.py [--out /tmp/thr]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import invmeter
import invmeter.experiments  # registers the cell tasks
from invmeter.data.design import make_dataset, sample_object_sets
from invmeter.data.transforms2d import Transforms2D
from invmeter.experiments.common import Context, Scale, pair_cell, train_cell
from invmeter.experiments.fig2 import object_pool
from invmeter.models.cifar import CIFAR_MEAN, CIFAR_STD, create_cifar_model
from invmeter.models.modules import wrap_module
from invmeter.runner import run_cells
from invmeter.transforms import parse_transform

FAMILIES = ("translation", "rotation", "scale", "color_jitter", "hflip")
SCALE = Scale(n_classes=10, n_train=1500, n_val=300, n_test=500, n_ft_train=600, n_ft_test=600, epochs=8,
              batch_size=64, width=0.25, seeds=(0,), archs=("cifar:resnet18",), families=FAMILIES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/thr", help="Folder for the cells and result.json.")
    args = parser.parse_args()
    out = Path(args.out)
    ctx, base = Context(), Transforms2D(image_size=32)
    (objects,) = sample_object_sets((10,), seed=0, pool=object_pool(ctx))
    targets = {f: ctx.dataset(make_dataset(base, objects, parse_transform(f))) for f in FAMILIES}
    cells, models = [], {}
    for trained in (*FAMILIES, "none"):
        spec = None if trained == "none" else parse_transform(trained)
        model = train_cell(SCALE, "cifar:resnet18", ctx.dataset(make_dataset(base, objects, spec)), 0,
                           f"train {trained}", trained_on=trained)
        models[trained] = model
        cells += [pair_cell(SCALE, model, "cifar:resnet18", d, 0, f"{trained} pd {g}", trained_on=trained, target=g)
                  for g, d in targets.items()]
    for s in (0, 1, 2):
        cells += [pair_cell(SCALE, None, "cifar:resnet18", d, s, f"random{s} pd {g}", trained_on=f"random{s}",
                            target=g) for g, d in targets.items()]
    records = run_cells(cells, out / "out", jobs=1, log=lambda line: print(line, flush=True))
    result: dict = {"pdr": {}, "invariance": {}, "train_acc": {}}
    for c in cells:
        result["pdr"][f"{c.meta['trained_on']}|{c.meta['target']}"] = records[c.id]["result"]["paired_distance_ratio"]
    for name, model in models.items():
        result["train_acc"][name] = records[model.id]["result"]["test_accuracy"]
    handles: dict = {k: str(out / "out" / "work" / m.id / "model.safetensors") for k, m in models.items()}
    for s in (0, 1, 2):
        torch.manual_seed(s)
        handles[f"random{s}"] = wrap_module(create_cifar_model("resnet18", num_classes=10, width=0.25), image_size=32,
                                            mean=CIFAR_MEAN, std=CIFAR_STD)
    ds = Transforms2D(objects=objects, image_size=32)
    for name, handle in handles.items():
        for g in FAMILIES:
            report = invmeter.score(handle, g, data=ds, n_images=400, metrics=["invariance"], n_boot=0, seed=1)
            result["invariance"][f"{name}|{g}"] = report["invariance"]
    (out / "result.json").write_text(json.dumps(result, indent=1))
    inv, pdr = result["invariance"], result["pdr"]
    own = [inv[f"{g}|{g}"] for g in FAMILIES]
    other = [inv[f"{f}|{g}"] for f in FAMILIES for g in FAMILIES if f != g]
    print(f"invariance (object swap): own {np.mean(own):.3f} (min {min(own):.3f}); other models "
          f"{np.mean(other):.3f} (max {max(other):.3f}); trained without transforms max "
          f"{max(inv[f'none|{g}'] for g in FAMILIES):.3f}; random init max "
          f"{max(inv[f'random{s}|{g}'] for s in range(3) for g in FAMILIES):.3f}")
    print(f"paired-distance ratio: own {np.mean([pdr[f'{g}|{g}'] for g in FAMILIES]):.3f}, other "
          f"{np.mean([pdr[f'{f}|{g}'] for f in FAMILIES for g in FAMILIES if f != g]):.3f}, none "
          f"{np.mean([pdr[f'none|{g}'] for g in FAMILIES]):.3f}, random init "
          f"{np.mean([pdr[f'random{s}|{g}'] for s in range(3) for g in FAMILIES]):.3f}")


if __name__ == "__main__":
    main()
