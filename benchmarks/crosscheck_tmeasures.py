"""invmeter's per-unit measures (``UnitStats``) vs tmeasures 1.2.11 on equal work: every per-unit value agrees.

tmeasures (AGPL-3.0, the benchmark-only ``bench`` extra) is called as an installed library, never copied.

Equal work
----------
* **Model**: timm ``resnet18`` with seeded random weights (seed 0), eval mode, the model's normalisation as a first
  module; every leaf module is a layer (tmeasures' ``AutoActivationsModule`` default: 78 activations here, from the normalisation to ``fc``).
* **Images and transformation**: ``bench_tmeasures.py``'s: N clean Transforms-2D renders at 32x32 and a +ANGLE
  rotation by invmeter's kernel, handed to tmeasures as T = {identity, rotation}; invmeter sees the same N pairs.
* **tmeasures**: ``NormalizedVarianceInvariance`` (its TV and SV results too) and ``GoodfellowInvariance``
  (default: ``NormalPValueThreshold(alpha=0.99)`` over the identity column, local rate over both columns), through
  a subclass of ``AutoActivationsModule`` whose hooks store a *copy* of each output. Its own hooks store the
  output tensor itself, which a later in-place operation overwrites before tmeasures reads it (timm's
  ``ReLU(inplace=True)`` after a BatchNorm, and ``x += shortcut`` after a block's second BatchNorm); the script
  also runs the unmodified module and lists the layers that aliasing changes. tmeasures 1.2.11 has no PyTorch
  path for its NumPy ``ANOVAFInvariance``; it reads the same activations through its ``ActivationsIterator``
  interface, in float64 (given float32 arrays it also accumulates in float32, which alone moves F by ~2e-5).
* **invmeter**: one pass over the pairs, both views of each batch in one forward call, ``feed_pairs`` feeding a
  ``UnitStats`` per layer. Goodfellow's thresholds need the clean statistics first, so, as tmeasures does, they
  come from a first pass and firing is counted in a second (``UnitStats(thresholds=...)``).
* **Agreement**: per unit ``|ours - theirs| <= 1e-5 · max(1, |theirs|)`` and the same NaN/inf pattern.

    python benchmarks/crosscheck_tmeasures.py [--n 64] [--angle 30] [--batch 32]
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable

import bench_tmeasures as bt
import numpy as np
import timm
import torch
from torch import nn

from tmeasures_compat import feed_pairs, goodfellow_tmeasures

import invmeter
from invmeter.metrics.unit_measures import UnitStats
from invmeter.transforms.generators import GENERATORS  # noqa: F401  (loads forward-AD decompositions quietly)

tm = bt.tm
ActivationsIterator = tm.np.activations_iterator.ActivationsIterator
TOL = 1e-5


class CopyingActivations(tm.pytorch.AutoActivationsModule):
    """tmeasures' default activations module, storing a copy of each output instead of the tensor itself."""

    def register_hooks(self, activations: list[nn.Module]) -> None:
        def store(index: int) -> Callable[..., None]:
            def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
                self.values[index] = output.detach().clone()
            return hook

        for i, module in enumerate(activations):
            module.register_forward_hook(store(i))


class StoredActivations(ActivationsIterator):
    """tmeasures' NumPy iterator interface over stored activations: column v = view v, one batch of all samples."""

    def __init__(self, names: list[str], views: list[list[np.ndarray]]) -> None:
        self.names, self.views = names, views

    def layer_names(self) -> list[str]:
        return self.names

    def transformations_first(self):  # noqa: ANN201
        for v, layers in enumerate(self.views):
            yield v, iter([(np.zeros((len(layers[0]), 1)), layers)])

    def samples_first(self):  # noqa: ANN201
        raise NotImplementedError

    def get_transformations(self):  # noqa: ANN201
        raise NotImplementedError

    def get_inverted_activations_iterator(self):  # noqa: ANN201
        raise NotImplementedError

    def get_both_iterator(self):  # noqa: ANN201
        raise NotImplementedError

    def get_normal_activations_iterator(self):  # noqa: ANN201
        raise NotImplementedError


def build_model() -> nn.Module:
    torch.manual_seed(0)
    model = timm.create_model("resnet18", pretrained=False).eval()
    cfg = model.pretrained_cfg
    return nn.Sequential(bt.Normalize(cfg["mean"], cfg["std"]), model).eval()


def leaf_names(model: nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if not list(m.children())]


def invmeter_pass(model: nn.Module, images: torch.Tensor, rotated: torch.Tensor, batch: int,
                  thresholds: dict[str, torch.Tensor] | None = None, keep: bool = False) -> tuple[dict[str, UnitStats], dict]:
    names = leaf_names(model)
    stats = {name: UnitStats(thresholds=None if thresholds is None else thresholds[name], calibration=len(images) + 1) for name in names}
    kept: dict[str, list[list[torch.Tensor]]] = {name: [[], []] for name in names}
    hooks = []
    if keep:  # the activations themselves, for tmeasures' NumPy ANOVA (not part of invmeter's computation)
        modules = dict(model.named_modules())
        for name in names:
            def hook(_m: nn.Module, _i: object, out: torch.Tensor, name: str = name) -> None:
                half = len(out) // 2
                kept[name][0].append(out[:half].detach().clone())
                kept[name][1].append(out[half:].detach().clone())
            hooks.append(modules[name].register_forward_hook(hook))
    with torch.inference_mode(), feed_pairs(model, stats):
        for start in range(0, len(images), batch):
            model(torch.cat([images[start : start + batch], rotated[start : start + batch]]))
    for h in hooks:
        h.remove()
    return stats, kept


def compare(ours: torch.Tensor, theirs: object) -> tuple[float, bool, int]:
    """(max relative gap over finite units, same NaN/inf pattern, units)."""
    a = ours.detach().double().cpu().numpy().ravel()
    b = np.asarray(theirs.cpu().numpy() if isinstance(theirs, torch.Tensor) else theirs, dtype=np.float64).ravel()
    pattern = bool(np.array_equal(np.isnan(a), np.isnan(b)) and np.array_equal(np.isinf(a), np.isinf(b)))
    finite = np.isfinite(a) & np.isfinite(b)
    gap = float(np.max(np.abs(a[finite] - b[finite]) / np.maximum(1.0, np.abs(b[finite])))) if finite.any() else 0.0
    return gap, pattern and a.shape == b.shape, a.size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64, help="images (controlled pairs)")
    parser.add_argument("--angle", type=float, default=30.0, help="rotation in degrees")
    parser.add_argument("--batch", type=int, default=32, help="pairs per invmeter forward call; tmeasures batch size")
    args = parser.parse_args()
    torch.set_num_threads(2)
    images, _ = bt.make_images(args.n)
    rotated = invmeter.apply_transforms(images, bt.fixed_rotation(args.angle, args.n))
    base = build_model()
    names = leaf_names(base)
    options = tm.pytorch.PyTorchMeasureOptions(batch_size=args.batch, num_workers=0, verbose=False, model_device="cpu",
                                               measure_device="cpu", data_device="cpu")
    dataset, transformations = bt.ImagesDataset(images), bt.IdentityAndRotation(args.angle)

    copying = CopyingActivations(copy.deepcopy(base))
    if len(copying.names) != len(names):
        raise SystemExit(f"tmeasures sees {len(copying.names)} activations, invmeter {len(names)} leaf modules")
    with bt.Timed() as tm_time:
        nv = tm.pytorch.NormalizedVarianceInvariance().eval(dataset, transformations, copying, options)
        gf = tm.pytorch.GoodfellowInvariance().eval(dataset, transformations, copying, options)
    aliased = tm.pytorch.NormalizedVarianceInvariance().eval(dataset, transformations, tm.pytorch.AutoActivationsModule(copy.deepcopy(base)), options)

    ours_model = copy.deepcopy(base)
    with bt.Timed() as ours_time:
        first, _ = invmeter_pass(ours_model, images, rotated, args.batch)
        thresholds = {name: s.thresholds() for name, s in first.items()}
        second, _ = invmeter_pass(ours_model, images, rotated, args.batch, thresholds=thresholds)
    _, kept = invmeter_pass(copy.deepcopy(base), images, rotated, args.batch, keep=True)
    views = [[torch.cat(kept[name][v]).double().numpy() for name in names] for v in (0, 1)]
    anova_f = tm.np.ANOVAFInvariance().eval(StoredActivations(names, views))
    anova = tm.np.ANOVAInvariance(alpha=0.99, bonferroni=True).eval(StoredActivations(names, views))

    checks = {
        "transformation variance (TV)": ([s.transformation_variance() for s in first.values()], nv.x_result.layers),
        "sample variance (SV)": ([s.sample_variance() for s in first.values()], nv.y_result.layers),
        "normalized variance (NV)": ([s.normalized_variance() for s in first.values()], nv.layers),
        "Goodfellow thresholds": (list(thresholds.values()), gf.extra_values["thresholds"].layers),
        "Goodfellow (tmeasures' L/G)": ([goodfellow_tmeasures(s) for s in second.values()], gf.layers),
        "ANOVA F (NumPy measure)": ([s.anova_f() for s in first.values()], anova_f.layers),
    }
    ok = True
    n_units = sum(s.units for s in first.values())
    print(f"timm resnet18 (random init, seed 0), {len(names)} leaf layers, {n_units} units; {args.n} Transforms-2D images "
          f"at 32 px, rotation +{args.angle:g} deg; tmeasures {bt.version('tmeasures')}")
    for label, (ours, theirs) in checks.items():
        results = [compare(a, b) for a, b in zip(ours, theirs)]
        gap = max(r[0] for r in results)
        same = all(r[1] for r in results) and gap <= TOL
        ok &= same
        print(f"  {label:<30} max |diff| / max(1, |tmeasures|) = {gap:.1e} over {sum(r[2] for r in results)} units, "
              f"NaN/inf pattern {'same' if all(r[1] for r in results) else 'DIFFERENT'} -> {'agree' if same else 'DISAGREE'}")
    fractions = [float(np.mean(layer)) for layer in anova.layers]
    ours_variant = [float(s.anova_variant(alpha=0.99).double().mean()) for s in first.values()]
    print(f"  ANOVA 'variant' units, Bonferroni at 0.99: tmeasures {np.mean(fractions):.3f} of units per layer "
          f"(critical value f.ppf(alpha/units), a lower-tail quantile), invmeter {np.mean(ours_variant):.3f} "
          f"(upper tail, f.isf((1 - alpha)/units))")
    changed = [name for name, a, b in zip(names, aliased.layers, nv.layers) if compare(a, b)[0] > TOL or not compare(a, b)[1]]
    print(f"  tmeasures' own AutoActivationsModule (stores outputs by reference): {len(changed)} of {len(names)} layers "
          f"change (in-place aliasing): {', '.join(changed)}")
    print(f"  time, every leaf layer: tmeasures NV + Goodfellow {tm_time.wall:.2f} s wall ({tm_time.cpu:.2f} s CPU; "
          f"{8 * args.n} forward passes, one pass in calls of 2 images); invmeter UnitStats, two passes for exact "
          f"Goodfellow thresholds {ours_time.wall:.2f} s wall ({ours_time.cpu:.2f} s CPU; {4 * args.n} forward passes); "
          f"ratio {tm_time.wall / ours_time.wall:.1f} wall ({tm_time.cpu / ours_time.cpu:.1f} CPU)")
    print(f"verdict: {'every per-unit value agrees to ' + format(TOL, 'g') if ok else 'MISMATCH'}")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
