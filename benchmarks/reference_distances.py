"""How far single changes to a Transforms-2D scene move a model's representation: rotating the object, swapping the
object (same background), swapping the background (same object), swapping the whole image.

The evidence behind `invariance`'s reference on Transforms-2D (docs/metrics.md): a network that barely sees the
object looks invariant against a random other image, because that image also has another background.

    python benchmarks/reference_distances.py runs/rot/model.safetensors "cifar:resnet18?width=0.25" [--n 400]

Each MODEL is a spec for ``invmeter.load_model``; a ``cifar:`` spec is scored at random init.
"""

from __future__ import annotations

import argparse

import torch

from invmeter import load_model
from invmeter.data import Transforms2D
from invmeter.data.transforms2d import Scenes
from invmeter.models.representation import extract_images
from invmeter.transforms import parse_transform


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--n", type=int, default=400, help="Scenes (10 classes, balanced).")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    ds = Transforms2D(objects=tuple(range(10)))
    g = torch.Generator().manual_seed(args.seed)
    scenes = ds.sample_scenes(args.n, g, balanced=True)
    rotation = parse_transform("rotation").sample(args.n, g)
    other = torch.randperm(args.n, generator=g)
    other_object = (scenes.labels + torch.randint(1, ds.n_classes, (args.n,), generator=g)) % ds.n_classes
    prototypes = ds.prototypes()
    base = ds.render(scenes, prototypes)
    changes = {
        "rotate the object": ds.render(scenes, prototypes, rotation),
        "swap the object (same background)": ds.render(Scenes(other_object, scenes.backgrounds, None), prototypes),
        "swap the background (same object)": ds.render(Scenes(scenes.labels, scenes.backgrounds[other], None), prototypes),
        "swap the whole image": base[other],
    }
    print(f"| change to the scene | {' | '.join(args.models)} |")
    print(f"| --- |{' --- |' * len(args.models)}")
    rows = {name: [] for name in changes}
    for spec in args.models:
        handle = load_model(spec, weights="random" if spec.startswith("cifar:") else "auto", image_size=32)
        z = extract_images(handle, base).double()
        for name, images in changes.items():
            rows[name].append(float((extract_images(handle, images).double() - z).norm(dim=1).mean()))
    for name, values in rows.items():
        print(f"| {name} | {' | '.join(f'{v:.3f}' for v in values)} |")


if __name__ == "__main__":
    main()
