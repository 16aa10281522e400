"""The whole default metric set on N = 1k to 200k synthetic representations: time, peak memory, growth exponent.

Limits: N = 50,000 at D = 2,048 in <= 60 s and <= 4 GiB (the process's peak resident memory, representations
included), on 2 cores; time growing no faster than N^1.2 past N = 10,000 (the exponent of a least-squares fit of
log time on log N over the sizes >= 10,000, per D).

Each (N, D) runs in a fresh process (its peak resident memory, ``VmHWM``, is its own): synthetic class-structured
representations (100 classes, ``z = centre[class] + noise``, ``z' = z + 0.5 noise``, float32, seeded), then
``MetricContext(...).evaluate(default_metrics())`` with 1,000-resample intervals and the probe solver ``auto``
resolves for that many training images, as ``invmeter score`` computes them after its forward passes. Each metric's
seconds are printed (a shared intermediate result, the probe split or a fitted probe, is charged to the first metric
that needs it), with how each pairwise metric was computed (exact, or on a seeded sample: the registry's
``PairSample``). CKA (not a default metric, exact with two N x N float64 Gram matrices) is timed beside it up to
N = 20,000 (6 GiB); above, its memory (16·N² bytes) is printed instead of run.

    python benchmarks/bench_scale.py                       # --sizes 1000,10000,50000,200000 --dims 512,2048
    python benchmarks/bench_scale.py --quick               # 1,000 and 2,000 images of 64 dimensions: seconds
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

from timing import vm_hwm_mib

TIME_LIMIT_S = 60.0
MEMORY_LIMIT_GIB = 4.0
GROWTH_LIMIT = 1.2
LIMIT_AT = (50_000, 2048)  # the (N, D) the time and memory limits apply to
GROWTH_FROM = 10_000
CKA_MAX_N = 20_000  # two N x N float64 Gram matrices: 6 GiB here, 37 GiB at 50k
CLASSES = 100


def child(n: int, dim: int, cka: bool) -> dict:
    import torch

    from invmeter.metrics import MetricContext, default_metrics, get_metric
    from invmeter.metrics.probe import resolve_solver
    from invmeter.types import Representations

    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % CLASSES
    clean = torch.randn(CLASSES, dim, generator=g)[labels] + torch.randn(n, dim, generator=g)
    transformed = clean + 0.5 * torch.randn(n, dim, generator=g)
    reps = Representations(clean, transformed, labels, None, None, layer="synthetic")
    data_mib = vm_hwm_mib()
    solver = resolve_solver("auto", n // 2)
    ctx = MetricContext(reps, seed=0, n_boot=1000, probe=solver)
    seconds: dict[str, float] = {}
    wall0, cpu0 = time.perf_counter(), time.process_time()
    ctx.evaluate(())  # the checks every evaluation runs first (finite values, a constant model)
    seconds["checks"] = time.perf_counter() - wall0
    values = {}
    for name in default_metrics():
        start = time.perf_counter()
        values[name] = ctx.evaluate((name,))[name]
        seconds[name] = time.perf_counter() - start
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    out = {"n": n, "dim": dim, "seconds": wall, "cpu_seconds": cpu, "per_metric": seconds, "solver": solver,
           "peak_mib": vm_hwm_mib(), "data_mib": data_mib, "sampling": dict(getattr(ctx, "sampling", {})),
           "values": {k: [v.value, *v.ci95] for k, v in values.items()}}
    if cka:
        start = time.perf_counter()
        value = get_metric("cka").compute(ctx)
        out["cka_seconds"] = time.perf_counter() - start
        out["cka"] = [value.value, *value.ci95]
        out["peak_mib"] = vm_hwm_mib()
    return out


def growth_exponent(rows: list[dict]) -> float:
    """Slope of log(seconds) on log(N) (least squares) over the rows given."""
    xs = [math.log(r["n"]) for r in rows]
    ys = [math.log(r["seconds"]) for r in rows]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,50000,200000")
    parser.add_argument("--dims", default="512,2048")
    parser.add_argument("--no-cka", action="store_true", help="skip timing CKA (not a default metric)")
    parser.add_argument("--quick", action="store_true", help="1,000 and 2,000 images of 64 dimensions (seconds)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        n, dim = (int(v) for v in args.child.split(","))
        print(json.dumps(child(n, dim, not args.no_cka)))
        return
    sizes = [1000, 2000] if args.quick else [int(s) for s in args.sizes.split(",")]
    dims = [64] if args.quick else [int(d) for d in args.dims.split(",")]
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start; each (N, D) in a fresh process")
    rows: dict[int, list[dict]] = {}
    for dim in dims:
        for n in sizes:
            cka = not args.no_cka and n <= CKA_MAX_N
            command = [sys.executable, __file__, "--child", f"{n},{dim}"] + ([] if cka else ["--no-cka"])
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            rows.setdefault(dim, []).append(r)
            slowest = sorted(r["per_metric"].items(), key=lambda kv: -kv[1])[:3]
            cka = (f", CKA {r['cka_seconds']:.2f} s" if "cka_seconds" in r else "" if args.no_cka else
                   f", CKA not run (its Gram matrices: {16 * n * n / 2**30:.0f} GiB)")
            print(f"N {n:>7,} D {dim:>5}: {r['seconds']:7.2f} s wall ({r['cpu_seconds']:.2f} s CPU), peak "
                  f"{r['peak_mib']:7.0f} MiB (representations and start-up {r['data_mib']:.0f} MiB), probe "
                  f"{r['solver']}; slowest: {', '.join(f'{k} {v:.2f} s' for k, v in slowest)}{cka}", flush=True)
            for metric, how in r["sampling"].items():
                print(f"    {metric}: {how}")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    for dim, rs in rows.items():
        at = {r["n"]: r for r in rs}
        if (LIMIT_AT[0], dim) == LIMIT_AT and LIMIT_AT[0] in at:
            r = at[LIMIT_AT[0]]
            print(f"N {LIMIT_AT[0]:,}, D {dim}: time {r['seconds']:.1f} s {'<=' if r['seconds'] <= TIME_LIMIT_S else '>'}"
                  f" limit {TIME_LIMIT_S:.0f} s; peak memory {r['peak_mib'] / 1024:.2f} GiB "
                  f"{'<=' if r['peak_mib'] / 1024 <= MEMORY_LIMIT_GIB else '>'} limit {MEMORY_LIMIT_GIB:.0f} GiB")
        past = [r for r in rs if r["n"] >= GROWTH_FROM] if not args.quick else rs
        if len(past) >= 2:
            k = growth_exponent(past)
            ckas = [r for r in past if "cka_seconds" in r]
            extra = ""
            if len(ckas) >= 2:
                k_cka = growth_exponent([{"n": r["n"], "seconds": r["cka_seconds"]} for r in ckas])
                extra = f" (CKA alone: N^{k_cka:.2f})"
            print(f"D {dim}: time grows as N^{k:.2f} from N = {past[0]['n']:,} to {past[-1]['n']:,} "
                  f"{'<=' if k <= GROWTH_LIMIT else '>'} limit N^{GROWTH_LIMIT}{extra}")


if __name__ == "__main__":
    main()
