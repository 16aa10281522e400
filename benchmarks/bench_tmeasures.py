"""tmeasures' NormalizedVarianceInvariance ÷ invmeter's whole metric set, on equal work (limit: ratio >= 5.0).

tmeasures 1.2.11 (AGPL-3.0, the benchmark-only ``bench`` extra: ``pip install -e '.[bench]'``) is used only as an
installed library; nothing of it is copied into invmeter.

Equal work
----------
* **Model**: ``cifar:resnet18?width=0.5`` with seeded random weights at 32x32 (the speed of a forward pass does
  not depend on the weights). tmeasures gets a deep copy taken before invmeter touches the model, so it runs the
  model as loaded (default memory format); invmeter converts its copy to channels-last, as it always does.
* **Images**: the same N images for both, held in memory: clean Transforms-2D renders (10 classes, seed 0),
  quantised to 8 bits. invmeter additionally reads them from a PNG folder in the ``score()`` line below.
* **Transformation**: a rotation of the whole image by +ANGLE degrees, computed by invmeter's own kernel
  (``invmeter.apply_transforms``, bilinear, zero fill) on both sides: invmeter applies it per batch; tmeasures
  gets it wrapped as a custom ``PyTorchTransformation`` (applied per image, as tmeasures does). tmeasures'
  own ``AffineGenerator``/``RotationTransformation`` is not used: its angle parameter is read as ``p * 180``
  radians (peers.md §1.7), so it cannot express a given angle in degrees without a conversion trick, and its
  border padding differs from invmeter's zero fill.
* **Design**: invmeter's unit of work is N controlled pairs (x_i, t(x_i)) -> 2N forward passes. tmeasures gets
  the S x T matrix with S = the same N images and T = {identity, t} (T = 2), which holds exactly the same 2N
  views. Its ``NormalizedVarianceInvariance`` is ``TransformationVariance / SampleVariance``, each evaluated
  by its own pass over the matrix (rows = samples, then rows = transformations), so it runs 4N forward passes;
  this is tmeasures' design, not a benchmark choice.
* **Layer**: the penultimate representation (the input of the final ``linear`` layer, after global average
  pooling). The CIFAR ResNet pools functionally, so no module outputs it; tmeasures is given a small
  ``ActivationsModule`` (its documented extension point) that returns exactly that tensor, one activation,
  hence one worker thread. As a second line, tmeasures' default ``AutoActivationsModule(model)``, which hooks
  every leaf module (46 here: one thread each), as its examples run it.
* **Batch, device, threads**: the same number of images per forward call for both (``--batch``, default 64:
  invmeter ``batch_size = batch / 2`` pairs, i.e. both views of 32 images per call; tmeasures
  ``batch_size = batch``), CPU, ``torch.set_num_threads(--threads)``. tmeasures' transformation-variance pass
  iterates one sample (row) at a time over its T = 2 columns, so those calls hold 2 images whatever the batch
  size: again its design.
* **What is timed**: tmeasures: ``NormalizedVarianceInvariance().eval(dataset, transformations, model,
  options)``. invmeter: ``extract`` + ``compute_metrics`` on an in-memory PairSource over the same tensors (every
  metric: invariance, l2_ratio, the five probe metrics and equivariance, each with a 1000-resample bootstrap CI),
  and, as the end-to-end user path, ``invmeter.score(handle, "rotation at ANGLE", data=<PNG folder of the same
  images>)`` (PNG decoding, report assembly; its fixed-magnitude sampler draws the sign of the angle per image,
  so half of its pairs rotate by -ANGLE: the same work, different pixels). Every timed path first runs once,
  untimed, on 4 images per class (lazy imports, kernel selection); repeats alternate the order of the runs, and
  the fastest repeat of each line is reported (the least disturbed by other jobs; each repeat is printed too).
* **Check**: tmeasures' per-unit NV is recomputed from invmeter's representations (sample std, ddof = 1, as
  tmeasures' Welford computes it; 0/0 -> 1) and the two must agree, which shows
  that both sides saw the same model, images, transformation and layer.

The ratio printed is tmeasures' time ÷ invmeter's time; the verdict pairs the penultimate-layer tmeasures run
with the slower of invmeter's two lines (the most conservative pairing).

    python benchmarks/bench_tmeasures.py [--n 1000] [--batch 64] [--threads 2] [--angle 45] [--repeats 3]
                                          [--skip-all-layers]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

import invmeter
from invmeter.api import make_transforms2d
from invmeter.data import Transforms2DPairs
from invmeter.metrics import METRICS, get_metric
from invmeter.transforms import parse_transform
from invmeter.transforms.spec import SampledTransforms

LIMIT = 5.0
MODEL = "cifar:resnet18?width=0.5"
WARM_UP = 4  # images per class of the untimed warm-up runs

try:
    import tmeasures as tm
    from tmeasures.pytorch.transformations import (
        IdentityTransformation,
        PyTorchTransformation,
        PyTorchTransformationSet,
    )
except ImportError as exc:  # pragma: no cover - benchmark-only dependency
    raise SystemExit(f"tmeasures is not installed ({exc}); run: pip install -e '.[bench]'") from None


# --------------------------------------------------------------------------------------------- the same images


class MemoryPairs:
    """invmeter PairSource over in-memory images: (x_i, rotate(x_i, +angle)) with invmeter's kernel."""

    def __init__(self, images: Tensor, labels: Tensor, sampled: SampledTransforms) -> None:
        self.images, self.labels, self.sampled = images, labels, sampled
        self.class_names = [f"c{k}" for k in range(int(labels.max()) + 1)]
        self.reference = None  # a seeded random other image, as for a user's images

    def __len__(self) -> int:
        return len(self.images)

    def batches(self, batch_size: int) -> list[tuple[slice, Tensor | None]]:
        return [(slice(s, min(s + batch_size, len(self))), None) for s in range(0, len(self), batch_size)]

    def render(self, index: slice) -> tuple[Tensor, Tensor]:
        clean = self.images[index]
        return clean, invmeter.apply_transforms(clean, self.sampled[index])

    def describe(self) -> dict[str, object]:
        return {"name": "memory", "n_images": len(self), "level": "image"}


def fixed_rotation(angle: float, n: int) -> SampledTransforms:
    """invmeter's rotation family with the same +angle for every image (no random sign)."""
    return SampledTransforms(parse_transform("rotation"), (torch.full((n, 1), float(angle), dtype=torch.float64),))


def make_images(n: int, image_size: int = 32) -> tuple[Tensor, Tensor]:
    """N clean Transforms-2D renders (10 classes, seed 0), quantised to 8 bits so a PNG round trip is exact."""
    pairs = Transforms2DPairs(make_transforms2d(n_classes=10, image_size=image_size), parse_transform("rotation"), n,
                              seed=0)
    clean, _ = pairs.render(slice(0, n))
    return (clean * 255).round() / 255, pairs.labels.clone()


def write_folder(images: Tensor, labels: Tensor, root: Path) -> None:
    for i, (x, y) in enumerate(zip(images, labels.tolist())):
        (root / f"c{y}").mkdir(parents=True, exist_ok=True)
        array = (x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(array).save(root / f"c{y}" / f"{i:05d}.png")


# ------------------------------------------------------------------------------------------------ tmeasures side


class ImagesDataset(torch.utils.data.Dataset):
    """Map-style dataset returning the image only, as tmeasures requires."""

    def __init__(self, images: Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> Tensor:
        return self.images[i]


class InvmeterRotation(PyTorchTransformation):
    """A tmeasures transformation applying invmeter's rotation kernel to one (C, H, W) image."""

    def __init__(self, angle: float) -> None:
        super().__init__()
        self.angle = angle
        self.sampled = fixed_rotation(angle, 1)

    def __call__(self, x: Tensor) -> Tensor:
        return invmeter.apply_transforms(x.unsqueeze(0), self.sampled)[0]

    def parameters(self) -> Tensor:  # type: ignore[override]
        return torch.tensor([self.angle])


class IdentityAndRotation(PyTorchTransformationSet):
    def __init__(self, angle: float) -> None:
        super().__init__([IdentityTransformation(), InvmeterRotation(angle)])
        self.angle = angle

    def id(self) -> str:
        return f"identity+rotation({self.angle:g})"

    def valid_input(self, shape: tuple[int, ...]) -> bool:
        return len(shape) == 3

    def copy(self) -> IdentityAndRotation:
        return IdentityAndRotation(self.angle)


class NamedActivations(tm.pytorch.ActivationsModule):
    """The outputs of named modules of ``model`` (``inputs=True``: their inputs), normalisation applied first; stored
    by reference, as tmeasures' own ``AutoActivationsModule`` stores them. ``["linear"], inputs=True``: one
    activation, the penultimate representation of invmeter's CIFAR ResNet."""

    def __init__(self, model: nn.Module, mean: tuple[float, ...], std: tuple[float, ...], names: list[str],
                 inputs: bool = False) -> None:
        super().__init__()
        self.model, self.norm, self.names = model, Normalize(mean, std), list(names)
        self.store: dict[str, Tensor] = {}
        modules = dict(model.named_modules())
        for name in self.names:
            if inputs:
                modules[name].register_forward_pre_hook(lambda _m, a, n=name: self.store.__setitem__(n, a[0].detach()))
            else:
                modules[name].register_forward_hook(lambda _m, _a, out, n=name: self.store.__setitem__(n, out.detach()))

    def activation_names(self) -> list[str]:
        return self.names

    def forward_activations(self, x: Tensor) -> list[Tensor]:
        self.model(self.norm(x))
        return [self.store.pop(name) for name in self.names]


class Normalize(nn.Module):
    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).reshape(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).reshape(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


class Timed:
    """Wall and process-CPU seconds (all threads) of a block; CPU time is less disturbed by other jobs."""

    def __enter__(self) -> Timed:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def run_tmeasures(activations: tm.pytorch.ActivationsModule, images: Tensor, angle: float, batch: int) -> tuple[Timed, dict[str, float], object]:
    """NormalizedVarianceInvariance().eval, timed; also the wall time of its two passes (TV then SV)."""
    dataset, transformations = ImagesDataset(images), IdentityAndRotation(angle)
    options = tm.pytorch.PyTorchMeasureOptions(batch_size=batch, num_workers=0, verbose=False, model_device="cpu",
                                               measure_device="cpu", data_device="cpu")
    activations.eval()
    measure = tm.pytorch.NormalizedVarianceInvariance()
    passes: dict[str, float] = {}
    for name in ("numerator_measure", "denominator_measure"):  # time each pass without changing what runs
        inner = getattr(measure, name)
        inner.eval = _stopwatch(inner.eval, passes, name)
    with Timed() as timed:
        result = measure.eval(dataset, transformations, activations, options)
    return timed, passes, result


def _stopwatch(fn, store: dict[str, float], key: str):  # noqa: ANN001, ANN202
    def wrapped(*a, **k):  # noqa: ANN002, ANN003, ANN202
        start = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            store[key] = time.perf_counter() - start
    return wrapped


# ------------------------------------------------------------------------------------------------- invmeter side

# every metric computed from these representations (lie_derivative runs the model again; paired_distance_ratio needs
# a second draw of the transform; the learned gains need the architecture's random-init baseline)
FROM_REPRESENTATIONS = tuple(m for m in METRICS if not get_metric(m).needs & {"model", "redraw", "baseline"})


def run_invmeter_pairs(handle: invmeter.ModelHandle, pairs: MemoryPairs, batch: int) -> tuple[Timed, invmeter.Representations]:
    with Timed() as timed:
        reps = invmeter.extract(handle, pairs, batch_size=batch // 2, device="cpu")
        invmeter.compute_metrics(reps, metrics=FROM_REPRESENTATIONS, seed=0, n_boot=1000,
                                 groups=np.zeros(len(pairs), dtype=np.int64))
    return timed, reps


def run_invmeter_score(handle: invmeter.ModelHandle, folder: Path, angle: float, batch: int) -> tuple[Timed, invmeter.Report]:
    spec = parse_transform("rotation").at_magnitude(angle)
    with Timed() as timed:
        report = invmeter.score(handle, spec, data=folder, batch_size=batch // 2, device="cpu", seed=0, n_boot=1000)
    return timed, report


def nv_from_representations(reps: invmeter.Representations) -> np.ndarray:
    """tmeasures' NV definition (per unit, ddof=1 std, 0/0 -> 1) from invmeter's two views."""
    z = torch.stack([reps.clean, reps.transformed]).double()  # (T=2, N, D)
    tv = z.std(dim=0, correction=1).mean(dim=0)  # std over transformations per image, mean over images
    sv = z.std(dim=1, correction=1).mean(dim=0)  # std over images per transformation, mean over transformations
    nv = torch.where(sv > 0, tv / sv.clamp_min(1e-300), torch.where(tv > 0, torch.inf, 1.0))
    return nv.numpy()


# ----------------------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="images (controlled pairs)")
    parser.add_argument("--batch", type=int, default=64, help="images per forward call, both tools")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--angle", type=float, default=45.0, help="rotation in degrees")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-all-layers", action="store_true", help="skip tmeasures' every-layer run")
    args = parser.parse_args()
    if args.batch % 2:
        parser.error("--batch must be even (invmeter puts both views of batch/2 images in one call)")
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message=".*pin_memory.*")  # tmeasures' DataLoaders ask for pinned memory
    print(f"torch {torch.__version__}, tmeasures {version('tmeasures')}, invmeter {invmeter.__version__}, "
          f"threads {torch.get_num_threads()}, device cpu")
    print(f"{MODEL} (random weights) @ 32 px, N = {args.n} images, T = {{identity, rotation +{args.angle:g} deg}}, "
          f"{args.batch} images per forward call")

    handle = invmeter.load_model(MODEL, weights="random")
    tm_model = copy.deepcopy(handle.model).eval()  # before invmeter converts its copy to channels-last
    images, labels = make_images(args.n)
    pairs = MemoryPairs(images, labels, fixed_rotation(args.angle, args.n))

    penultimate = NamedActivations(tm_model, handle.mean, handle.std, ["linear"], inputs=True)
    all_layers = tm.pytorch.AutoActivationsModule(nn.Sequential(Normalize(handle.mean, handle.std), copy.deepcopy(tm_model)))
    runs = ["tm", "pairs", "score"] + ([] if args.skip_all_layers else ["tm_all"])
    times: dict[str, list[Timed]] = {k: [] for k in runs}
    passes: dict[str, list[dict[str, float]]] = {"tm": [], "tm_all": []}
    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder, warm_folder = Path(tmp) / "all", Path(tmp) / "warm-up"
        write_folder(images, labels, folder)
        # Warm-up: one untimed run of every timed path on a few images per class (lazy imports, kernel selection).
        few = torch.cat([torch.nonzero(labels == k).squeeze(1)[:WARM_UP] for k in labels.unique()])
        write_folder(images[few], labels[few], warm_folder)
        warm = MemoryPairs(images[few], labels[few], fixed_rotation(args.angle, len(few)))

        def run(what: str, small: bool = False) -> None:
            if what in ("tm", "tm_all"):
                model = penultimate if what == "tm" else all_layers
                timed, split, out[what] = run_tmeasures(model, warm.images if small else images, args.angle, args.batch)
                if not small:
                    passes[what].append(split)
            elif what == "pairs":
                timed, out[what] = run_invmeter_pairs(handle, warm if small else pairs, args.batch)
            else:
                timed, out[what] = run_invmeter_score(handle, warm_folder if small else folder, args.angle, args.batch)
            if not small:
                times[what].append(timed)
                print(f"  repeat {len(times[what])}: {what:<6} {timed.wall:6.2f} s wall, {timed.cpu:6.2f} s CPU", flush=True)

        for what in runs:
            run(what, small=True)
        for r in range(args.repeats):
            for what in runs if r % 2 == 0 else runs[::-1]:  # alternate the order between repeats
                run(what)

    reps, report = out["pairs"], out["score"]
    ours = nv_from_representations(reps)  # type: ignore[arg-type]
    theirs = np.asarray(out["tm"].layers[0].cpu().numpy(), dtype=np.float64)  # type: ignore[attr-defined]
    finite = np.isfinite(ours) & np.isfinite(theirs)
    gap = float(np.max(np.abs(ours[finite] - theirs[finite]))) if finite.any() else float("nan")
    same = bool(np.array_equal(np.isfinite(ours), np.isfinite(theirs)) and gap < 1e-3)
    print(f"check: tmeasures NV (mean over {theirs.size} units) {np.nanmean(theirs[finite]):.5f}, recomputed from "
          f"invmeter's representations {np.nanmean(ours[finite]):.5f}, max |diff| {gap:.2e} -> "
          f"{'same work' if same else 'MISMATCH'}")
    if not same:
        raise SystemExit("tmeasures and invmeter did not see the same model, images, transformation and layer")

    best = min  # the fastest repeat: the one least disturbed by other jobs on a shared machine
    wall = {k: best(t.wall for t in v) for k, v in times.items()}
    cpu = {k: best(t.cpu for t in v) for k, v in times.items()}
    n = args.n
    calls = f"{n} calls of 2 images + {2 * -(-n // args.batch)} calls of <= {args.batch}"
    for key, label in (("tm", "penultimate layer, 1 activation"), ("tm_all", None)):
        if key not in wall:
            continue
        label = label or f"every layer, {len(out[key].layer_names)} activations (tmeasures' default)"  # type: ignore[attr-defined]
        tv, sv = best(p["numerator_measure"] for p in passes[key]), best(p["denominator_measure"] for p in passes[key])
        print(f"tmeasures NormalizedVarianceInvariance, {label}: {wall[key]:.2f} s wall ({cpu[key]:.2f} s CPU); "
              f"{4 * n} forward passes ({calls}): transformation-variance pass {tv:.2f} s, sample-variance pass {sv:.2f} s")
    print(f"invmeter extract + compute_metrics, all {len(FROM_REPRESENTATIONS)} metrics from the representations, 95% CIs (same tensors): {wall['pairs']:.2f} s "
          f"wall ({cpu['pairs']:.2f} s CPU); {2 * n} forward passes ({-(-n // (args.batch // 2))} calls of <= {args.batch}); last repeat: "
          f"render {reps.seconds['render']:.2f} s, forward {reps.seconds['forward']:.2f} s")  # type: ignore[attr-defined]
    t = report.provenance["timings"]  # type: ignore[attr-defined]
    print(f"invmeter.score from a PNG folder of the same images ({len(report.metrics)} metrics): {wall['score']:.2f} s "  # type: ignore[attr-defined]
          f"wall ({cpu['score']:.2f} s CPU); {report.provenance['forward_passes']} forward passes; last repeat: "  # type: ignore[attr-defined]
          f"render {t['render_s']:.2f} s, forward {t['forward_s']:.2f} s, metrics {t['metrics_s']:.2f} s")
    for key in [k for k in ("tm", "tm_all") if k in wall]:
        for ours_key, name in (("pairs", "extract+compute_metrics"), ("score", "score")):
            print(f"ratio tmeasures({'penultimate' if key == 'tm' else 'every layer'}) / invmeter {name}: "
                  f"{wall[key] / wall[ours_key]:.2f} wall, {cpu[key] / cpu[ours_key]:.2f} CPU")
    ratio = wall["tm"] / max(wall["pairs"], wall["score"])
    print(f"ratio {ratio:.2f} {'>=' if ratio >= LIMIT else '<'} limit {LIMIT} (wall time, tmeasures' single measure on "
          f"the penultimate layer vs the slower invmeter line)")


if __name__ == "__main__":
    main()
