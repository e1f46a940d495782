#!/usr/bin/env python3
"""XLA:CPU (jax.jit) on bench_dynamic's batch-size loop: one line for bench_dynamic.

softmax(gelu(x @ w.T + b)) for x of shape [7n, 256], n = 1..N (argument,
default 20), each call ending in block_until_ready(); jax.jit compiles once
per new shape. Prints `xla total_ms=... compiles=N`, or `skip: why`.
"""
import sys
import time


def main():
    sizes = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    try:
        import jax
        import jax.numpy as jnp
    except Exception as e:  # noqa: BLE001 - any import failure is a skip
        print(f"skip: jax is not importable ({type(e).__name__}: {e}); pip install 'jax[cpu]'")
        return
    jax.config.update("jax_platforms", "cpu")
    key = jax.random.PRNGKey(0)
    kw, kb, kx = jax.random.split(key, 3)
    w = jax.random.normal(kw, (256, 256), jnp.float32) * 0.06
    b = jax.random.normal(kb, (256,), jnp.float32)
    w.block_until_ready()

    @jax.jit
    def f(x, w, b):
        return jax.nn.softmax(jax.nn.gelu(x @ w.T + b, approximate=False), axis=-1)

    t0 = time.perf_counter()
    for n in range(1, sizes + 1):
        x = jax.random.normal(jax.random.fold_in(kx, n), (7 * n, 256), jnp.float32)
        f(x, w, b).block_until_ready()
    total = time.perf_counter() - t0
    print(f"xla total_ms={total * 1e3:.1f} compiles={sizes} jax={jax.__version__}")


if __name__ == "__main__":
    main()
