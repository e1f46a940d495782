#!/usr/bin/env python3
"""PyTorch eager and torch.compile on the workloads of bench_gpu.

Timed the way bench_gpu times tilejit: CUDA events around every iteration
after warm-up, the median of the samples, inputs rotating over several sets
that together exceed the L2 cache. Writes JSON that bench_gpu reads with
--torch:

    {"_meta": {...}, "softmax/4Kx1K": {"eager_ms": 0.05, "compile_ms": 0.04}, ...}

compile_ms is null where torch.compile failed (its error is kept in
"compile_error"); "copy/256M" also has "memcpy_ms" (dst.copy_(src)).

    bench_torch_gpu.py [--iters N] [--json FILE] [--no-compile] [--compile-budget S] [FILTER...]

Exits 0 with a message when torch or a CUDA device is missing; the build
never needs this script.
"""

import argparse
import json
import math
import statistics
import sys
import time

ROTATE_BYTES = 200e6  # four times an H100's 50 MB L2


def human(n):
    if n % (1 << 20) == 0:
        return f"{n >> 20}M"
    if n % (1 << 10) == 0:
        return f"{n >> 10}K"
    return str(n)


def workloads(torch):
    F = torch.nn.functional
    f32, bf16 = torch.float32, torch.bfloat16

    def randn(*shape, dtype=f32):
        return torch.randn(*shape, device="cuda", dtype=dtype)

    def chain8(x):
        t = x * 1.5 + 0.25
        t = t * torch.sigmoid(t)
        t = torch.tanh(t)
        return t * x + x * x

    w = []  # (key, input bytes, make, fn)
    n = 64 << 20
    w.append((f"chain8/{human(n)}", n * 4, lambda n=n: [randn(n)], chain8))
    for n in (1024, 4096, 16384):
        w.append((f"softmax/4Kx{human(n)}", 4096 * n * 4, lambda n=n: [randn(4096, n)],
                  lambda x: torch.softmax(x, -1)))
    for n in (1024, 4096, 16384):
        w.append((f"layer_norm/4Kx{human(n)}", 4096 * n * 4 + 2 * n * 4,
                  lambda n=n: [randn(4096, n), randn(n), randn(n)],
                  lambda x, g, b: F.layer_norm(x, (x.shape[-1],), g, b)))
    n = 256 << 20
    w.append((f"sum/{human(n)}", n * 4, lambda n=n: [randn(n)], lambda x: x.sum()))
    w.append(("bias_gelu/16Kx4K bf16", 16384 * 4096 * 2 + 4096 * 2,
              lambda: [randn(16384, 4096, dtype=bf16), randn(4096, dtype=bf16)],
              lambda x, b: F.gelu(x + b, approximate="tanh")))
    n = 4096
    w.append(("mlp/4096^3 bf16", 2 * n * n * 2 + n * 2,
              lambda n=n: [randn(n, n, dtype=bf16), randn(n, n, dtype=bf16) / 64,
                           randn(n, dtype=bf16)],
              lambda x, wt, b: F.gelu(F.linear(x, wt, b), approximate="tanh")))
    return w


def time_device(torch, fn, sets, iters, warmup=3):
    for i in range(warmup):
        fn(*sets[i % len(sets)])
    torch.cuda.synchronize()
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
              for _ in range(iters)]
    for i, (start, end) in enumerate(events):
        start.record()
        fn(*sets[i % len(sets)])
        end.record()
    torch.cuda.synchronize()
    return statistics.median(s.elapsed_time(e) for s, e in events)


def launch_overhead_us(torch):
    x = torch.randn(1024, device="cuda")
    for _ in range(20):
        x * 1.5 + 0.5
    torch.cuda.synchronize()
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        x * 1.5 + 0.5
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / n * 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--json", default="bench-torch-gpu.json")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    ap.add_argument("--compile-budget", type=float, default=240,
                    help="seconds after which torch.compile is no longer tried")
    ap.add_argument("filters", nargs="*")
    args = ap.parse_args()

    def write(result):
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)

    try:
        import torch
    except Exception as e:  # ImportError or a broken install
        print(f"bench_torch_gpu: skipped: torch cannot be imported ({e})")
        write({"_meta": {"skipped": f"torch cannot be imported: {e}"}})
        return 0
    if not torch.cuda.is_available():
        print(f"bench_torch_gpu: skipped: torch {torch.__version__} sees no CUDA device")
        write({"_meta": {"skipped": "no CUDA device", "torch": torch.__version__}})
        return 0

    torch.manual_seed(0)
    meta = {"torch": torch.__version__, "cuda": torch.version.cuda,
            "device": torch.cuda.get_device_name(0), "iters": args.iters}
    result = {"_meta": meta}
    print(f"bench_torch_gpu: torch {torch.__version__} (CUDA {torch.version.cuda}), "
          f"{meta['device']}, {args.iters} iterations per row (median)", flush=True)
    meta["launch_us"] = launch_overhead_us(torch)

    # The copy baseline: -x as bench_gpu measures it, and copy_ (a memcpy).
    n = 256 << 20
    sets = [[torch.randn(n, device="cuda")] for _ in range(2)]
    dst = torch.empty(n, device="cuda")
    copy = {"eager_ms": time_device(torch, torch.neg, sets, args.iters), "compile_ms": None,
            "memcpy_ms": time_device(torch, dst.copy_, sets, args.iters)}
    del sets, dst
    result[f"copy/{human(n)}"] = copy
    write(result)

    t_start = time.perf_counter()
    compile_ok = not args.no_compile
    for key, in_bytes, make, fn in workloads(torch):
        if args.filters and not any(f in key for f in args.filters):
            continue
        nsets = min(8, max(2, math.ceil(ROTATE_BYTES / in_bytes)))
        sets = [make() for _ in range(nsets)]
        entry = {"eager_ms": None, "compile_ms": None, "sets": nsets}
        try:
            entry["eager_ms"] = time_device(torch, fn, sets, args.iters)
        except Exception as e:
            entry["eager_error"] = str(e).splitlines()[0] if str(e) else type(e).__name__
        if compile_ok and time.perf_counter() - t_start > args.compile_budget:
            compile_ok = False
            print(f"bench_torch_gpu: torch.compile budget of {args.compile_budget:.0f} s spent; "
                  "later rows have no torch.compile time", flush=True)
        if compile_ok:
            try:
                compiled = torch.compile(fn, dynamic=False)
                entry["compile_ms"] = time_device(torch, compiled, sets, args.iters)
            except Exception as e:
                msg = str(e).strip().splitlines()
                entry["compile_error"] = msg[0] if msg else type(e).__name__
        del sets
        torch.cuda.empty_cache()
        result[key] = entry
        write(result)
        fmt = lambda v: "-" if v is None else f"{v:.3f} ms"
        print(f"  {key:28s} eager {fmt(entry['eager_ms'])}, torch.compile {fmt(entry['compile_ms'])}"
              + (f" ({entry['compile_error']})" if "compile_error" in entry else ""), flush=True)
    print(f"host time per iteration of x * 1.5 + 0.5 on 1K elements: {meta['launch_us']:.1f} us")
    write(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
