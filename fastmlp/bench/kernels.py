"""``fastmlp bench --kernels``: the GEMM microkernels on one thread against a same-run one-thread BLAS gemm.

Two uses are timed, as the training step makes them: the forward pass (rows samples, columns units, t inputs;
A rows of an activation buffer, B the k-major weights) and the weight gradient (rows inputs, columns units,
t samples; A read down the columns of the activation buffer through gemm_packed's copy, B the deltas).
Medians of repeats, the microkernel and BLAS timed in alternation; the share is the median of the paired
ratios.
"""

from __future__ import annotations

import time

import numpy as np

#: The sizes the report uses: 784 inputs, 100 units, 512 samples.
SIZES = dict(n_samples=512, n_in=784, n_out=100)
#: Units of the layer after the timed one (784-100-10's output layer): the training step's rows of
#: activations and deltas hold every layer's units, so the timed layer's are not the last in a row.
NEXT_UNITS = 10


def _seconds(call, min_time: float) -> float:
    """Time per call of ``call``, repeated for at least ``min_time`` seconds."""
    count, start = 0, time.perf_counter()
    while True:
        call()
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / count


def _paired(ours, theirs, repeat: int, min_time: float) -> tuple[float, float, float]:
    """Median seconds of ``ours`` and of ``theirs`` and the median of their ratios, timed in alternation so
    that both see the same load on a shared machine."""
    ours()
    theirs()
    pairs = [(_seconds(ours, min_time), _seconds(theirs, min_time)) for _ in range(repeat)]
    mine, blas = (float(np.median([p[n] for p in pairs])) for n in (0, 1))
    return mine, blas, float(np.median([b / m for m, b in pairs]))


def problems(dtype, n_samples: int, n_in: int, n_out: int, seed: int = 0):
    """Buffers laid out as the training step keeps them (_layout: aligned rows, the stored transpose's rows
    ``lead`` apart), and for each use the gemm call, its BLAS twin, and a call that runs ours once and returns
    (our product, NumPy's) for checking."""
    from .._layout import aligned_empty, aligned_rows, build_layout
    from ..kernels import LEAD
    from ..kernels.microkernel import ADD, STORE, gemm, gemm_packed, pack_size

    rng = np.random.default_rng(seed)
    itemsize = np.dtype(dtype).itemsize
    layout, _ = build_layout((n_in, n_out, NEXT_UNITS), itemsize)
    # A row of activations or deltas: inputs, the layer's units, then the NEXT_UNITS of the layer after it
    acts, deltas = aligned_rows(n_samples, layout, dtype), aligned_rows(n_samples, layout, dtype)
    acts[:] = rng.random(acts.shape)
    deltas[:] = rng.standard_normal(deltas.shape)  # the layer's in columns [n_in, n_in + n_out)
    row = acts.shape[1]
    # the stored transpose: n_in + 1 rows (bias last) of n_out weights, ``lead`` apart (_layout.lead_width)
    lead = int(layout[0, LEAD])
    weights = aligned_empty((n_in + 1) * lead, dtype).reshape(n_in + 1, lead)
    weights[:] = rng.standard_normal(weights.shape)
    grads = aligned_empty((n_in + 1) * lead, dtype).reshape(n_in + 1, lead)
    pack = np.empty(pack_size(itemsize), dtype)
    one = dtype(1.0)
    x = np.ascontiguousarray(acts[:, :n_in])
    w = np.ascontiguousarray(weights[:n_in, :n_out])
    d = np.ascontiguousarray(deltas[:, n_in : n_in + n_out])
    z = np.empty((n_samples, n_out), dtype)
    g = np.empty((n_in, n_out), dtype)

    def forward():
        gemm(acts, 0, row, 1, weights, 0, lead, acts, n_in, row, n_samples, n_out, n_in, one, ADD)

    def gradient():
        gemm_packed(acts, 0, row, deltas, n_in, row, grads, 0, lead, n_in, n_out, n_samples, one, STORE, pack)

    def forward_product():
        before = acts[:, n_in : n_in + n_out].copy()
        forward()
        return acts[:, n_in : n_in + n_out] - before, x @ w

    def gradient_product():
        gradient()
        return grads[:n_in, :n_out].copy(), x.T @ d

    return {
        "forward": (forward, lambda: np.matmul(x, w, out=z), forward_product),
        "gradient": (gradient, lambda: np.matmul(x.T, d, out=g), gradient_product),
    }


def measure(dtypes=("float32", "float64"), repeat: int = 5, min_time: float = 0.05, **sizes) -> dict:
    """GFLOP/s of the microkernels and of a one-thread BLAS gemm of the same shapes, with the target line.

    Returns ``{"target": {...}, "sizes": {...}, "results": [{"dtype", "use", "kernel_gflops", "blas_gflops",
    "share"}, ...]}``.
    """
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:  # BLAS is held to one thread with it
        raise ImportError("fastmlp bench --kernels needs threadpoolctl: pip install threadpoolctl "
                          "(or fastmlp[bench])") from None

    from ..kernels import microkernel
    from ..kernels.target import TARGET

    sizes = dict(SIZES, **sizes)
    flops = 2.0 * sizes["n_samples"] * sizes["n_in"] * sizes["n_out"]
    results = []
    with threadpool_limits(1):
        for name in dtypes:
            for use, (ours, blas, _) in problems(np.dtype(name).type, **sizes).items():
                kernel_time, blas_time, share = _paired(ours, blas, repeat, min_time)
                results.append(dict(dtype=name, use=use, kernel_gflops=flops / kernel_time / 1e9,
                                    blas_gflops=flops / blas_time / 1e9, share=share))
    blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')})" for i in threadpool_info()
            if i.get("user_api") == "blas"]
    target = dict(TARGET._asdict(), tiles={
        "float32": "x".join(map(str, (microkernel.MR32, microkernel.NV32 * microkernel.VW32))),
        "float64": "x".join(map(str, (microkernel.MR64, microkernel.NV64 * microkernel.VW64))),
        "kc": microkernel.KC,
        "kc_down": {"float32": microkernel.KC_DOWN32, "float64": microkernel.KC_DOWN64}}, blas=blas)
    return {"target": target, "sizes": sizes, "results": results}


def text(result: dict) -> str:
    """The report of :func:`measure` as lines of text."""
    t, s = result["target"], result["sizes"]
    lines = [f"target: {t['cpu']} ({t['isa']}, {t['vector_bytes'] * 8}-bit vectors, {t['registers']} registers), "
             f"tiles rows x columns: float32 {t['tiles']['float32']}, float64 {t['tiles']['float64']}, "
             f"KC {t['tiles']['kc']} (gradient: "
             f"{t['tiles']['kc_down']['float32']} / {t['tiles']['kc_down']['float64']}); BLAS: {', '.join(t['blas'])}",
             f"one thread, {s['n_samples']} samples x {s['n_in']} inputs x {s['n_out']} units, GFLOP/s (medians):",
             f"{'dtype':8} {'use':9} {'microkernel':>11} {'BLAS gemm':>10} {'share':>6}"]
    for r in result["results"]:
        lines.append(f"{r['dtype']:8} {r['use']:9} {r['kernel_gflops']:11.1f} {r['blas_gflops']:10.1f} "
                     f"{r['share']:6.2f}")
    return "\n".join(lines)
