"""invmeter against what a user would run instead, on the same model, images and transforms, in one run.

a. **timm's own evaluation loop** (limit: invmeter <= 1.0x): ``timm.data.create_dataset`` + ``create_loader`` with
   the model's data config (resize, crop, interpolation), the same number of workers as invmeter uses (0: it reads
   in its own process), run once for the clean views and once per transform (the transform applied to each batch
   of [0, 1] images before normalisation, as invmeter does: the loop rotates a batch by 30°, invmeter each image by
   its own θ ~ U[-30°, 30°], the same work per image), the model's penultimate representation under
   ``inference_mode``: the same (1 + T)·N forward passes. invmeter: ``score_many(handle, transforms, data=folder)``
   (invmeter.api) with its default metric set and intervals, end to end. Images: JPEG photos (``bench_score.photo_folder``).
b. **tmeasures on the same layers** (limit: invmeter >= 5x faster on every leaf module): tmeasures'
   ``NormalizedVarianceInvariance`` on every leaf module (its default ``AutoActivationsModule``, 77 layers of the
   ResNet-18 from the stem's convolution to ``fc``; the normalisation wrapper it needs is filtered out) and on the 5
   blocks (``block_names``: tmeasures' ``ActivationsModule`` extension point, outputs stored by reference as its
   default does), against invmeter's normalized variance unit measure on the same layers: ``extract(..., profile=
   layers, reducers=[its UnitProfile])`` (which also counts ANOVA and Goodfellow in the same pass). The same model
   (random weights; tmeasures runs a copy as loaded, invmeter its own channels-last), the same N Transforms-2D
   renders at the model's input size held in memory, the same +30° rotation by invmeter's kernel
   (``bench_tmeasures.py``: T = {identity, rotation}; tmeasures runs 4N forward passes by its design, invmeter 2N),
   the same images per forward call (``--batch`` pairs = 2 x ``--batch`` images). **Check first**: each layer's
   NV, the mean over its finite units, from tmeasures equals invmeter's (relative gap <= 1e-4); a layer whose
   stored output a later in-place operation overwrites (timm's ``ReLU(inplace=True)`` after a BatchNorm, ``x +=
   shortcut``) is compared with invmeter's value of the last layer that returns that memory (what tmeasures reads).
   Also printed: invmeter ÷ the bare forward passes (the same 2N pre-rendered images through invmeter's forward
   under ``inference_mode``), with no layers, the blocks and every leaf.
c. **A plain** ``torch.func.jvp`` **loop** for the Lie derivative (limit: invmeter <= 1.1x): per batch,
   ``jvp(forward, (x,), (path_tangent("rotation", x),))`` and the per-image mean square of the output tangent,
   against ``invmeter.metrics.lie.lie_derivative(forward, x, "rotation")``, same forward, same batches.

Times are medians over ``--repeats`` alternating runs (wall seconds: run it on a quiet machine; the load average is
printed at the start and the end).

    python benchmarks/peers.py                     # 128 photos, ResNet-18 (a1 config), rotation + hflip, 3 repeats
    python benchmarks/peers.py --parts b           # only b. (tmeasures, the bench extra; skipped without it)
    python benchmarks/peers.py --smoke             # 8 photos, 20 images at 64 px for b., 1 repeat: checks it runs
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import math
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import timm
import torch
import torchvision.transforms.v2.functional as TF
from bench_measures import prepare_model
from bench_score import photo_folder
from torch import Tensor, nn

import invmeter
from invmeter.api import score_many
from invmeter.metrics import get_metric
from invmeter.metrics.lie import lie_derivative
from invmeter.models.layers import block_names
from invmeter.models.representation import representation
from invmeter.transforms.generators import path_tangent

TIMM_LIMIT = 1.0
TMEASURES_LIMIT = 5.0
JVP_LIMIT = 1.1
ANGLE = 30.0  # b.: the rotation, degrees
WARM_UP = 8  # b.: images of the untimed first run of each line
MODEL = "timm:resnet18.a1_in1k"
PEER_TRANSFORMS: dict[str, Callable[[Tensor], Tensor]] = {  # what the user's loop applies: same work per image
    "rotation:30": lambda x: TF.rotate(x, 30.0, interpolation=TF.InterpolationMode.BILINEAR),
    "hflip": TF.horizontal_flip,
}


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timm_loop(model: torch.nn.Module, folder: Path, batch: int, workers: int) -> int:
    """timm's evaluation loop over the folder once for the clean views and once per transform: forward passes."""
    config = timm.data.resolve_data_config({}, model=model)
    dataset = timm.data.create_dataset("", root=str(folder))
    loader = timm.data.create_loader(dataset, input_size=config["input_size"], batch_size=batch, use_prefetcher=False,
                                     interpolation=config["interpolation"], mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
                                     crop_pct=config["crop_pct"], crop_mode=config.get("crop_mode", "center"),
                                     num_workers=workers)
    mean = torch.tensor(config["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(config["std"]).view(1, 3, 1, 1)
    passes = 0
    with torch.inference_mode():
        for view in (None, *PEER_TRANSFORMS.values()):
            for x, _ in loader:
                x = view(x) if view is not None else x
                model.forward_head(model.forward_features((x - mean) / std), pre_logits=True)
                passes += len(x)
    return passes


def jvp_case(handle: invmeter.ModelHandle, images: Tensor, batch: int, repeats: int) -> tuple[float, float]:
    """Median seconds of invmeter's lie_derivative and of the plain torch.func.jvp loop on the same batches."""
    model = handle.model

    def forward(x: Tensor) -> Tensor:
        return model.forward_head(model.forward_features(handle.preprocessing.normalize(x)), pre_logits=True)

    batches = [images[s : s + batch] for s in range(0, len(images), batch)]

    def ours() -> list[Tensor]:
        return [lie_derivative(forward, x, "rotation")["output"] for x in batches]

    def plain() -> list[Tensor]:
        out = []
        for x in batches:
            _, tangent = torch.func.jvp(forward, (x,), (path_tangent("rotation", x),))
            out.append(tangent.flatten(1).pow(2).mean(dim=1))
        return out

    torch.testing.assert_close(torch.cat(ours()).double(), torch.cat(plain()).double(), rtol=1e-3, atol=1e-9)  # same
    ours(), plain()  # warm-up
    ours_s, plain_s = [], []
    for _ in range(repeats):  # alternating, so both see the same machine
        ours_s.append(median_seconds(ours, 1))
        plain_s.append(median_seconds(plain, 1))
    return statistics.median(ours_s), statistics.median(plain_s)


def last_writer(handle: invmeter.ModelHandle, names: list[str], x: Tensor) -> dict[str, str]:
    """For each named module, the last of ``names`` (in call order) that returns the same memory (storage, shape and
    strides): what a hook that stores the output by reference reads after the pass (a later in-place ReLU or ``+=``
    overwrites it); itself when no later module does. Found on one forward pass of ``x``."""
    modules = dict(handle.model.named_modules())
    seen: list[tuple[str, Tensor]] = []  # the outputs stay referenced, so no memory is reused during the pass
    hooks = [modules[n].register_forward_hook(lambda _m, _a, out, n=n: seen.append((n, out))) for n in names]
    try:
        with torch.inference_mode():
            representation(handle, x)
    finally:
        for hook in hooks:
            hook.remove()
    last = {(out.data_ptr(), out.shape, out.stride()): name for name, out in seen}
    return {name: last[(out.data_ptr(), out.shape, out.stride())] for name, out in seen}


def tmeasures_case(handle: invmeter.ModelHandle, n: int, batch: int, repeats: int) -> None:
    """b.: tmeasures' NV and invmeter's unit-measure profile on every leaf module and on the blocks (docstring)."""
    if importlib.util.find_spec("tmeasures") is None:
        print("b. not run: tmeasures is not installed (the bench extra: pip install -e '.[bench]')")
        return
    import bench_tmeasures as bt  # tmeasures and what bench_tmeasures.py hands it
    from crosscheck_tmeasures import leaf_names

    warnings.filterwarnings("ignore", message=".*pin_memory.*")  # tmeasures' DataLoaders ask for pinned memory

    layer_sets = {"every leaf": leaf_names(handle.model), "blocks": block_names(handle)}
    tm_models = {key: copy.deepcopy(handle.model).eval() for key in layer_sets}  # as loaded, one per activations module
    tm_inputs = {
        "every leaf": bt.tm.pytorch.AutoActivationsModule(nn.Sequential(bt.Normalize(handle.mean, handle.std),
                                                                        tm_models["every leaf"]),
                                                          filter=lambda m: not isinstance(m, bt.Normalize)),
        "blocks": bt.NamedActivations(tm_models["blocks"], handle.mean, handle.std, layer_sets["blocks"]),
    }
    ids = {id(m): name for name, m in tm_models["every leaf"].named_modules()}
    assert [ids[id(m)] for m in tm_inputs["every leaf"].activations] == layer_sets["every leaf"]
    memory_format = prepare_model(handle)  # invmeter's copy: eval, channels-last (as extraction runs it)
    images, labels = bt.make_images(n, handle.input_size[0])
    sources = {full: bt.MemoryPairs(images[: n if full else WARM_UP], labels[: n if full else WARM_UP],
                                    bt.fixed_rotation(ANGLE, n if full else WARM_UP)) for full in (False, True)}
    prepared = {full: [handle.preprocessing.normalize(torch.cat(src.render(index))).contiguous(
        memory_format=memory_format) for index, _ in src.batches(batch)] for full, src in sources.items()}

    def bare(full: bool) -> None:
        with torch.inference_mode():
            for x in prepared[full]:
                representation(handle, x)

    def ours(names: list[str]) -> Callable[[bool], object]:
        def run(full: bool) -> object:
            reducer = get_metric("normalized_variance").profile(0, 0, len(sources[full]))
            reps = invmeter.extract(handle, sources[full], profile=names, reducers=[reducer], batch_size=batch,
                                    device="cpu")
            return reps.profile.get(reducer.name)  # what extract computed at the end of its pass
        return run

    def theirs(key: str) -> Callable[[bool], object]:
        return lambda full: bt.run_tmeasures(tm_inputs[key], sources[full].images, ANGLE, 2 * batch)[2]

    runs = {"forward": bare, "invmeter, no layers": ours([]),
            **{f"invmeter, {k}": ours(v) for k, v in layer_sets.items()},
            **{f"tmeasures, {k}": theirs(k) for k in layer_sets}}
    out = {name: run(False) for name, run in runs.items()}  # warm-up: lazy initialisation, kernel selection
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(repeats):
        for name in list(runs) if r % 2 == 0 else list(runs)[::-1]:
            start = time.perf_counter()
            out[name] = runs[name](True)
            seconds[name].append(time.perf_counter() - start)
            print(f"  b. repeat {r + 1}: {name:<22} {seconds[name][-1]:7.2f} s, load {os.getloadavg()[0]:.2f}",
                  flush=True)
    t = {name: statistics.median(v) for name, v in seconds.items()}
    print(f"b. {handle.name} (random weights) @ {handle.input_size[0]} px, N = {n} Transforms-2D images, T = "
          f"{{identity, rotation +{ANGLE:g}°}}, {2 * batch} images per forward call; invmeter {2 * n} forward passes, "
          f"tmeasures {4 * n} ({n} calls of 2 images + {2 * -(-n // (2 * batch))} calls of <= {2 * batch})")
    for key, names in layer_sets.items():
        alias = last_writer(handle, names, prepared[True][0][:2])
        gaps = []
        for name, values in zip(names, out[f"tmeasures, {key}"].layers):
            values = torch.as_tensor(values).double()
            tm_nv = float(values[torch.isfinite(values)].mean())
            our_nv = out[f"invmeter, {key}"][alias[name]]["normalized_variance"].value
            same = tm_nv == our_nv or (math.isnan(tm_nv) and math.isnan(our_nv))  # NaN: no finite unit in either
            gaps.append(0.0 if same else abs(tm_nv - our_nv) / max(abs(tm_nv), 1e-12))
        units = sum(torch.as_tensor(v).numel() for v in out[f"tmeasures, {key}"].layers)
        moved = [name for name in names if alias[name] != name]
        examples = ", ".join(f"{a} -> {alias[a]}" for a in moved[:3]) + (", ..." if len(moved) > 3 else "")
        print(f"  check, {key} ({len(names)} layers, {units:,} units): per-layer NV (mean over finite units) tmeasures "
              f"vs invmeter, max relative gap {max(gaps):.1e}; {len(moved)} of them compared with the last layer "
              f"returning the same memory, which tmeasures' stored reference shows ({examples or 'none'})")
        if not max(gaps) <= 1e-4:
            raise SystemExit(f"b.: tmeasures and invmeter disagree on {key}: they did not do the same work")
    for key in layer_sets:
        ratio = t[f"tmeasures, {key}"] / t[f"invmeter, {key}"]
        verdict = f" {'>=' if ratio >= TMEASURES_LIMIT else '<'} limit {TMEASURES_LIMIT}" if key == "every leaf" else ""
        print(f"b. {key}: tmeasures NV {t[f'tmeasures, {key}']:.2f} s, invmeter unit measures "
              f"{t[f'invmeter, {key}']:.2f} s -> ratio tmeasures / invmeter {ratio:.2f}{verdict}")
    print(f"b. invmeter ÷ the bare forward passes ({2 * n} images, {t['forward']:.2f} s): " + ", ".join(
        f"{name.split(', ')[1]} {t[name] / t['forward']:.2f}" for name in runs if name.startswith("invmeter")))


def timm_case(handle: invmeter.ModelHandle, n_photos: int, batch: int, repeats: int) -> None:
    """a.: score_many on a JPEG photo folder against timm's evaluation loop over it (docstring)."""
    model = handle.model.eval()
    transforms = list(PEER_TRANSFORMS)
    with tempfile.TemporaryDirectory() as tmp:
        folder = photo_folder(Path(tmp) / "photos", n_photos // 4)
        n = sum(1 for _ in folder.rglob("*.jpg"))

        def ours() -> None:
            score_many(handle, transforms, data=str(folder), n_images=n, batch_size=batch)

        def peer() -> None:
            assert timm_loop(model, folder, 2 * batch, 0) == (1 + len(transforms)) * n

        ours(), peer()  # warm-up: imports, kernels, the page cache
        ours_s, peer_s = [], []
        for _ in range(repeats):
            ours_s.append(median_seconds(ours, 1))
            peer_s.append(median_seconds(peer, 1))
    ratio = statistics.median(ours_s) / statistics.median(peer_s)
    print(f"a. {MODEL} on {n} JPEG photos, transforms {', '.join(transforms)}: invmeter score "
          f"{statistics.median(ours_s):.2f} s, timm's loop {statistics.median(peer_s):.2f} s "
          f"((1 + {len(transforms)})·{n} forward passes, 0 workers) -> ratio {ratio:.3f} "
          f"{'<=' if ratio <= TIMM_LIMIT else '>'} limit {TIMM_LIMIT}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="a,b,c", help="which comparisons: a (timm's loop), b (tmeasures), c (jvp)")
    parser.add_argument("--n", type=int, default=128, help="a.: photos (4 classes)")
    parser.add_argument("--batch", type=int, default=32, help="pairs per invmeter forward call (2 x images)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--leaves-n", type=int, default=64, help="b.: images (>= 20: 10 classes)")
    parser.add_argument("--leaves-size", type=int, default=None, help="b.: input size (default: the model's, 224)")
    parser.add_argument("--lee-images", type=int, default=32, help="c.: images")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, 1 repeat: checks it runs")
    args = parser.parse_args()
    parts = {p.strip() for p in args.parts.split(",")}
    if not parts or parts - {"a", "b", "c"}:
        parser.error(f"--parts takes a comma-separated subset of a,b,c; got {args.parts!r}")
    if args.smoke:
        args.n, args.batch, args.repeats, args.lee_images, args.leaves_n, args.leaves_size = 8, 4, 1, 2, 20, 64
    print(f"torch {torch.__version__}, timm {timm.__version__}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.2f} at start")
    handle = invmeter.load_model(MODEL, weights="random")
    if "a" in parts:
        timm_case(handle, args.n, args.batch, args.repeats)
    if "b" in parts:  # its own copy of the model, as it runs it (channels-last), at its own size
        tmeasures_case(invmeter.load_model(MODEL, weights="random", image_size=args.leaves_size), args.leaves_n,
                       args.batch, args.repeats)
    if "c" in parts:
        images = torch.rand(args.lee_images, 3, *handle.input_size, generator=torch.Generator().manual_seed(0))
        ours_lee, plain_lee = jvp_case(handle, images, min(args.batch, args.lee_images), args.repeats)
        ratio = ours_lee / plain_lee
        print(f"c. {MODEL} Lie derivative (rotation), {args.lee_images} images: invmeter {ours_lee:.2f} s, plain "
              f"torch.func.jvp loop {plain_lee:.2f} s -> ratio {ratio:.3f} {'<=' if ratio <= JVP_LIMIT else '>'} "
              f"limit {JVP_LIMIT}")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")

if __name__ == "__main__":
    main()
