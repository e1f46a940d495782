#!/usr/bin/env python3
"""XLA:CPU (jax.jit) on the workloads of bench_cpu, with the same sizes.

bench_cpu --jax runs this script and prints its times in an "xla" column
beside tilejit's; it can also run alone:

    bench_jax.py [--quick] [--json FILE] [--lines] [FILTER...]

Each workload is a jax.jit function; the first call (tracing and XLA's
compile) is reported as "first", then the calls are repeated for about the
time bench_cpu spends on a row and the median is reported. Inputs are
device arrays made before timing; every call ends with block_until_ready().
trace_op times ops dispatched one at a time without jit (JAX's eager mode),
loop50 one call of a jitted 50-op function on 1K elements.

--lines prints one line per workload for bench_cpu:

    xla <name> <median seconds per unit> <first seconds per unit> <max abs diff vs NumPy f64>

Exits 0 with a "skip:" line when jax cannot be imported; the build and the
tests never need this script.
"""

import argparse
import json
import os
import statistics
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="bench_cpu --quick sizes, fewer runs")
    p.add_argument("--json", help="write the results here as JSON")
    p.add_argument("--lines", action="store_true", help="the line format bench_cpu reads")
    p.add_argument("filters", nargs="*", help="workloads whose name contains one of these")
    return p.parse_args()


def selected(args, name):
    return not args.filters or any(f in name for f in args.filters)


def rand(np, seed, shape, lo, hi):
    return np.random.default_rng(seed).uniform(lo, hi, size=shape).astype(np.float32)


def workloads(args, jax, jnp, np):
    """(name, size, jitted fn, inputs, numpy f64 reference fn, units per call)."""
    q = args.quick
    out = []
    if selected(args, "chain8"):
        n = (1 << 20) if q else (4 << 20)

        def chain8(x):
            t = x * 1.5 + 0.25
            t = t * jax.nn.sigmoid(t)
            t = jnp.tanh(t)
            return t * x + x * x

        def chain8_ref(x):
            t = x * 1.5 + 0.25
            t = t / (1 + np.exp(-t))
            t = np.tanh(t)
            return t * x + x * x

        out.append(("chain8", str(n), chain8, [rand(np, 1, (n,), -2, 2)], chain8_ref, 1))
    rows, cols = (256 if q else 1024), 4096
    if selected(args, "softmax"):

        def softmax_ref(x):
            e = np.exp(x - x.max(-1, keepdims=True))
            return e / e.sum(-1, keepdims=True)

        out.append(("softmax", f"{rows}x{cols}", lambda x: jax.nn.softmax(x, axis=-1),
                    [rand(np, 2, (rows, cols), -4, 4)], softmax_ref, 1))
    if selected(args, "layer_norm"):

        def layer_norm(x, w, b):
            m = jnp.mean(x, -1, keepdims=True)
            v = jnp.mean(jnp.square(x - m), -1, keepdims=True)
            return (x - m) * jax.lax.rsqrt(v + 1e-5) * w + b

        def layer_norm_ref(x, w, b):
            m = x.mean(-1, keepdims=True)
            v = ((x - m) ** 2).mean(-1, keepdims=True)
            return (x - m) / np.sqrt(v + 1e-5) * w + b

        out.append(("layer_norm", f"{rows}x{cols} +w,b", layer_norm,
                    [rand(np, 3, (rows, cols), -3, 5), rand(np, 4, (cols,), 0.5, 1.5),
                     rand(np, 5, (cols,), -0.5, 0.5)], layer_norm_ref, 1))
    if selected(args, "sum"):
        n = (4 << 20) if q else (16 << 20)
        out.append(("sum", f"{n} -> 1", jnp.sum, [rand(np, 6, (n,), -2, 2)], np.sum, 1))
    if selected(args, "bias_gelu"):
        r, c = (1024 if q else 4096), 1024

        def gelu_ref(x, b):
            v = x + b
            return 0.5 * v * (1 + np.tanh(np.sqrt(2 / np.pi) * (v + 0.044715 * v**3)))

        out.append(("bias_gelu", f"{r}x{c} +b[{c}]",
                    lambda x, b: jax.nn.gelu(x + b, approximate=True),
                    [rand(np, 7, (r, c), -3, 3), rand(np, 8, (c,), -1, 1)], gelu_ref, 1))
    if selected(args, "mlp"):
        m, k, n = (128 if q else 512), 1024, 1024
        out.append(("mlp", f"{m}x{k} @ {n}x{k}^T +b relu",
                    lambda x, w, b: jax.nn.relu(x @ w.T + b),
                    [rand(np, 9, (m, k), -1, 1), rand(np, 10, (n, k), -0.05, 0.05),
                     rand(np, 11, (n,), -0.1, 0.1)],
                    lambda x, w, b: np.maximum(x @ w.T + b, 0), 1))
    if selected(args, "conv2d"):
        nb = 2 if q else 8

        def conv(x, w, b):
            y = jax.lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)))
            return y + b[None, :, None, None]

        def conv_ref(x, w, b):
            xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
            win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))
            return np.einsum("nchwij,ocij->nohw", win, w, optimize=True) + b[None, :, None, None]

        out.append(("conv2d", f"{nb}x64x56x56 * 64x64x3x3 +b", conv,
                    [rand(np, 12, (nb, 64, 56, 56), -1, 1), rand(np, 13, (64, 64, 3, 3), -0.05, 0.05),
                     rand(np, 14, (64,), -0.1, 0.1)], conv_ref, 1))
    if selected(args, "attention"):
        h, n, e = 8, (256 if q else 1024), 64

        def attention(q_, k_, v_):
            s = (q_ @ jnp.swapaxes(k_, -1, -2)) / np.sqrt(e)
            s = jnp.where(jnp.tril(jnp.ones((n, n), bool)), s, -jnp.inf)
            return jax.nn.softmax(s, axis=-1) @ v_

        def attention_ref(q_, k_, v_):
            s = (q_ @ np.swapaxes(k_, -1, -2)) / np.sqrt(e)
            s = np.where(np.tril(np.ones((n, n), bool)), s, -np.inf)
            p = np.exp(s - s.max(-1, keepdims=True))
            return (p / p.sum(-1, keepdims=True)) @ v_

        out.append(("attention", f"{h}x{n}x{e} causal", attention,
                    [rand(np, 15, (h, n, e), -1, 1), rand(np, 16, (h, n, e), -1, 1),
                     rand(np, 17, (h, n, e), -1, 1)], attention_ref, 1))
    return out


def cycle(jnp, t, a, b, k):
    """The 5-op cycle of bench_cpu's host-overhead rows."""
    i = k % 5
    if i == 0:
        return t * b
    if i == 1:
        return t + a
    if i == 2:
        return t * 0.9
    if i == 3:
        return jnp.tanh(t)
    return t + 0.1


def cycle_ref(np, a, b, ops):
    t = a.astype(np.float64)
    for k in range(ops):
        i = k % 5
        t = [lambda: t * b, lambda: t + a, lambda: t * 0.9, lambda: np.tanh(t), lambda: t + 0.1][i]()
    return t


def timed(fn, budget_s, max_reps):
    """(first seconds, median seconds) of fn(), which blocks until done."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-9)
    reps = max(1, min(max_reps, int(budget_s / one)))
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return first, statistics.median(samples)


def main():
    args = parse_args()
    try:
        import numpy as np
        import jax
        import jax.numpy as jnp
    except Exception as e:  # noqa: BLE001 - any import failure means "no peer"
        print(f"skip: XLA column: jax is not importable ({type(e).__name__}: {e}); "
              "pip install 'jax[cpu]' to compare", flush=True)
        return 0
    jax.config.update("jax_platforms", "cpu")
    budget, max_reps = (0.8, 50) if args.quick else (3.0, 200)
    results = []

    for name, size, fn, inputs, ref, _ in workloads(args, jax, jnp, np):
        f = jax.jit(fn)
        dev = [jax.device_put(x) for x in inputs]
        holder = {}

        def call():
            holder["y"] = f(*dev).block_until_ready()

        first, med = timed(call, budget, max_reps)
        want = ref(*[x.astype(np.float64) for x in inputs])
        diff = float(np.max(np.abs(np.asarray(holder["y"], dtype=np.float64) - want)))
        results.append({"name": name, "size": size, "unit_seconds": med, "first_seconds": first,
                        "max_abs_diff_vs_numpy": diff})

    n = 1024
    a = rand(np, 12, (n,), -1, 1)
    b = rand(np, 13, (n,), -1, 1)
    if selected(args, "trace_op"):
        ops = 50 if args.quick else 200
        da, db = jax.device_put(a), jax.device_put(b)

        def eager():
            t = da
            for k in range(ops):
                t = cycle(jnp, t, da, db, k)
            holder["y"] = t.block_until_ready()

        first, med = timed(eager, budget, max_reps)
        diff = float(np.max(np.abs(np.asarray(holder["y"], np.float64) - cycle_ref(np, a, b, ops))))
        results.append({"name": "trace_op", "size": f"{ops} eager ops on {n}",
                        "unit_seconds": med / ops, "first_seconds": first / ops,
                        "max_abs_diff_vs_numpy": diff})
    if selected(args, "loop50"):
        a2 = rand(np, 14, (n,), -1, 1)
        b2 = rand(np, 15, (n,), -1, 1)

        def loop(x, y):
            t = x
            for k in range(50):
                t = cycle(jnp, t, x, y, k)
            return t

        f = jax.jit(loop)
        da, db = jax.device_put(a2), jax.device_put(b2)
        holder = {}

        def batch():  # calls per sample so that one sample takes ~50 ms
            for _ in range(holder.setdefault("iters", 1)):
                holder["y"] = f(da, db).block_until_ready()

        t0 = time.perf_counter()
        batch()  # compile
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        batch()
        holder["iters"] = max(1, int(0.05 / max(time.perf_counter() - t0, 1e-7)))
        _, med = timed(batch, budget, 30)
        diff = float(np.max(np.abs(np.asarray(holder["y"], np.float64) - cycle_ref(np, a2, b2, 50))))
        results.append({"name": "loop50", "size": f"50 ops on {n}, jitted",
                        "unit_seconds": med / holder["iters"], "first_seconds": first,
                        "max_abs_diff_vs_numpy": diff})

    if selected(args, "train_step"):
        bsz = 64 if args.quick else 256
        shapes = [(512, 784), (512,), (512, 512), (512,), (10, 512), (10,)]
        params = [jax.device_put(rand(np, 30 + i, s, -0.05, 0.05)) for i, s in enumerate(shapes)]
        xb = jax.device_put(rand(np, 18, (bsz, 784), -1, 1))
        yb = jax.device_put(np.floor(rand(np, 24, (bsz,), 0, 10)).astype(np.int32))

        def loss_fn(p, x, y):
            h = jax.nn.relu(x @ p[0].T + p[1])
            h = jax.nn.relu(h @ p[2].T + p[3])
            logits = h @ p[4].T + p[5]
            logp = jax.nn.log_softmax(logits, axis=-1)
            return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

        def step(p, m, v, t, x, y):  # AdamW as torch's: lr 1e-3, betas (0.9, 0.999), wd 1e-2
            loss, g = jax.value_and_grad(loss_fn)(p, x, y)
            t = t + 1
            out_p, out_m, out_v = [], [], []
            for pi, gi, mi, vi in zip(p, g, m, v):
                pi = pi * (1 - 1e-3 * 1e-2)
                mi = 0.9 * mi + 0.1 * gi
                vi = 0.999 * vi + 0.001 * gi * gi
                mh = mi / (1 - 0.9 ** t)
                vh = vi / (1 - 0.999 ** t)
                out_p.append(pi - 1e-3 * mh / (jnp.sqrt(vh) + 1e-8))
                out_m.append(mi)
                out_v.append(vi)
            return out_p, out_m, out_v, t, loss

        f = jax.jit(step)
        state = {"p": params, "m": [jnp.zeros_like(q) for q in params],
                 "v": [jnp.zeros_like(q) for q in params], "t": jnp.float32(0)}

        def train():
            s2 = state
            s2["p"], s2["m"], s2["v"], s2["t"], loss = f(s2["p"], s2["m"], s2["v"], s2["t"], xb, yb)
            loss.block_until_ready()

        first, med = timed(train, budget, max_reps)
        results.append({"name": "train_step", "size": f"MLP {bsz}x784-512-512-10, AdamW",
                        "unit_seconds": med, "first_seconds": first,
                        "max_abs_diff_vs_numpy": float("nan")})

    meta = {"jax": jax.__version__, "device": str(jax.devices()[0]), "cores": os.cpu_count(),
            "quick": args.quick}
    if args.json:
        with open(args.json, "w") as fp:
            json.dump({"_meta": meta, "workloads": results}, fp, indent=1)
    if args.lines:
        print(f"meta jax {jax.__version__}", flush=True)
        for r in results:
            print(f"xla {r['name']} {r['unit_seconds']:.9g} {r['first_seconds']:.9g} "
                  f"{r['max_abs_diff_vs_numpy']:.6g}", flush=True)
    else:
        print(f"XLA:CPU (jax {jax.__version__}, {meta['cores']} cores), medians:")
        for r in results:
            print(f"  {r['name']:<11} {r['unit_seconds'] * 1e3:10.4f} ms  first "
                  f"{r['first_seconds'] * 1e3:9.2f} ms  diff {r['max_abs_diff_vs_numpy']:.3g}  "
                  f"{r['size']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
