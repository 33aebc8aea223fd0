"""Measure data-parallel training on this machine for docs/distributed.md; writes a JSON file that
scripts/distributed_table.py renders.

    python scripts/distributed_bench.py --out artifacts/distributed.json [--repeat 3] [--epochs 5] [--append]

With --append the runs add to those already in the file (so that the repeats can be spread over time, each
invocation short); the summary is the median of all of them.

Runs, each `--repeat` times and interleaved (the machine is shared: medians, not best runs):
- Fashion-MNIST 784-100-10, SGD, batch 32, learning rate 0.2, `--epochs` epochs on all 60,000 training
  images: one process on two threads, and two MPI ranks (mpiexec -n 2) of one thread each with
  sync_every 1, 4, 16 and 64; the job's samples/s and the test accuracy;
- with --cache, the first fit and prediction in a fresh Dask worker with an empty kernel cache and with a
  filled one;
- for the cost model: the time of one SGD step at batches 32, 128 and 512 on one thread and on two, for
  784-100-10 and the ten times larger 784-1000-10, and the time of averaging each parameter vector over two
  ranks (one Allreduce, as a fit does).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SYNC_EVERY = (1, 4, 16, 64)
NETWORKS = {"784-100-10": [784, 100, 10], "784-1000-10": [784, 1000, 10]}
BATCHES = (32, 128, 512)
SETTINGS = dict(batch_size=32, learning_rate=0.2)


# ------------------------------------------------------------------------------------------ workers
def _train(args) -> None:
    """One training run; rank 0 prints a JSON line."""
    import numba

    from fastmlp import MLP
    from fastmlp.datasets import load_fashion_mnist

    comm = None
    if args.ranks > 1:
        from mpi4py import MPI

        from fastmlp import distributed

        comm = MPI.COMM_WORLD
        (X, y), (X_test, y_test) = distributed.load_split("fashion-mnist", comm)
    else:
        (X, y), (X_test, y_test) = load_fashion_mnist()
    threads = args.threads
    parallel = dict(comm=comm, sync_every=args.sync_every) if comm is not None else {}
    MLP([784, 100, 10], random_state=1).fit(X[:512], y[:512], epochs=1, n_threads=threads, **SETTINGS,
                                            **parallel)  # compile or load the kernels, connect the ranks
    epochs = []
    net = MLP([784, 100, 10], random_state=0)
    seen = [0]

    def record(model, seconds):
        epochs.append((model.t_ - seen[0], seconds, numba.get_num_threads()))
        seen[0] = model.t_

    net.fit(X, y, epochs=args.epochs, n_threads=threads, callback=record, **SETTINGS, **parallel)
    if comm is None or comm.rank == 0:
        samples = sum(n for n, _, _ in epochs)
        seconds = sum(s for _, s, _ in epochs)
        print(json.dumps({"samples_per_s": samples / seconds, "test_accuracy": net.score(X_test, y_test),
                          "final_loss": net.loss_curve_[-1], "epoch_seconds": [s for _, s, _ in epochs],
                          "threads_per_rank": epochs[0][2], "load_average": os.getloadavg()[0]}), flush=True)


def _steps(args) -> None:
    """Seconds per SGD step, by network, batch and thread count; prints a JSON line."""
    import numpy as np

    from fastmlp import MLP

    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (4096, 784), dtype=np.uint8)
    y = rng.integers(0, 10, 4096)
    out = {}
    for name, sizes in NETWORKS.items():
        for batch in BATCHES:
            for threads in (1, 2):
                n = min(4096, batch * (64 if name == "784-100-10" else 16))
                net = MLP(sizes, random_state=0)
                net.fit(X[:batch], y[:batch], epochs=1, batch_size=batch, n_threads=threads)  # warm
                times = []
                for _ in range(5):
                    began = time.perf_counter()
                    net.fit(X[:n], y[:n], epochs=1, batch_size=batch, learning_rate=0.01, n_threads=threads)
                    times.append((time.perf_counter() - began) / (n // batch))
                out[f"{name} {batch} {threads}"] = statistics.median(times)
    print(json.dumps(out), flush=True)


def _allreduce(args) -> None:
    """Seconds to average each network's parameter vector over the ranks (one Allreduce); rank 0 prints."""
    import numpy as np
    from mpi4py import MPI

    from fastmlp._layout import build_layout, n_stored
    from fastmlp._ranks import Group

    group = Group(MPI.COMM_WORLD)
    out = {}
    for name, sizes in NETWORKS.items():
        params = np.ones(n_stored(build_layout(sizes, 4)[0]), np.float32)  # as a float32 model holds them
        for _ in range(20):
            group.average([params])
        times = []
        for _ in range(200):
            MPI.COMM_WORLD.Barrier()
            began = time.perf_counter()
            group.average([params])
            times.append(time.perf_counter() - began)
        out[name] = {"n_params": int(params.size), "seconds": statistics.median(times)}
    group.close()
    if MPI.COMM_WORLD.rank == 0:
        print(json.dumps(out), flush=True)


def _first_fit() -> None:
    """A first fit and prediction, as a task in a fresh Dask worker would run them."""
    import numpy as np

    from fastmlp import MLP

    X = np.random.default_rng(0).integers(0, 256, (256, 784), dtype=np.uint8)
    y = np.arange(256) % 10
    MLP([784, 100, 10], random_state=0).fit(X, y, epochs=1).predict(X)


def _cache(args) -> None:
    """Seconds of the first fit in a fresh Dask worker with an empty NUMBA_CACHE_DIR, then in another fresh
    worker with the cache the first one filled; prints a JSON line."""
    import tempfile

    from distributed import Client, LocalCluster

    out = {}
    with tempfile.TemporaryDirectory() as cache:
        for name in ("cold_seconds", "warm_seconds"):
            with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None,
                              env={"NUMBA_CACHE_DIR": cache}) as cluster, Client(cluster) as client:
                client.submit(int, 0).result()  # the worker is up
                began = time.perf_counter()
                client.submit(_first_fit, pure=False).result()
                out[name] = time.perf_counter() - began
    print(json.dumps(out), flush=True)


# ------------------------------------------------------------------------------------------- driver
def _run(command: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    env.pop("NUMBA_DISABLE_JIT", None)
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])


def _machine() -> dict:
    import numba
    import numpy
    from mpi4py import MPI

    import fastmlp

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)), "python": platform.python_version(),
            "mpi": MPI.Get_library_version().splitlines()[0].strip(), "fastmlp": fastmlp.__version__,
            "numba": numba.__version__, "numpy": numpy.__version__,
            "date": time.strftime("%Y-%m-%d")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "artifacts" / "distributed.json"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--append", action="store_true", help="add to the runs already in --out")
    parser.add_argument("--busy", action="store_true",
                        help="train while another process spins on one core (a shared node), as separate rows")
    parser.add_argument("--cache", action="store_true",
                        help="also time the first fit in a fresh Dask worker, with and without a filled kernel cache")
    parser.add_argument("--worker", choices=("train", "steps", "allreduce", "cache"), help=argparse.SUPPRESS)
    parser.add_argument("--ranks", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sync-every", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        {"train": _train, "steps": _steps, "allreduce": _allreduce, "cache": _cache}[args.worker](args)
        return 0

    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable))
    if mpiexec is None:
        sys.exit("needs mpiexec: pip install mpich mpi4py")
    me = [sys.executable, str(Path(__file__).resolve())]
    two_ranks = [mpiexec, "-n", "2", *me]
    configs = {"1 rank x 2 threads": me + ["--threads", "2"]}
    configs.update({f"2 ranks x 1 thread, sync_every {k}": two_ranks + ["--ranks", "2", "--sync-every", str(k)]
                    for k in SYNC_EVERY})
    busy = " (another process busy on a core)" if args.busy else ""
    raw = {"training": {name: [] for name in configs}, "steps": [], "allreduce": [], "cache": None}
    if args.append and Path(args.out).is_file():
        raw = json.loads(Path(args.out).read_text())["raw"]
    runs, steps, allreduce = raw["training"], raw["steps"], raw["allreduce"]
    for name in configs:
        runs.setdefault(name + busy, [])
    if args.cache:
        raw["cache"] = _run(me + ["--worker", "cache"])
        print(f"first fit in a fresh Dask worker: {raw['cache']}", flush=True)
    for repeat in range(args.repeat):
        for name, command in configs.items():
            hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
            try:
                runs[name + busy].append(_run(command + ["--worker", "train", "--epochs", str(args.epochs)]))
            finally:
                if hog is not None:
                    hog.kill()
                    hog.wait()
            print(f"[{repeat + 1}/{args.repeat}] {name}{busy}: {runs[name + busy][-1]['samples_per_s']:,.0f} "
                  f"samples/s, test accuracy {runs[name + busy][-1]['test_accuracy']:.4f}", flush=True)
        if not busy:  # the cost model's ingredients, on a machine as quiet as it gets
            steps.append(_run(me + ["--worker", "steps"]))
            allreduce.append(_run(two_ranks + ["--worker", "allreduce"]))

    def median(values):
        return statistics.median(values)

    result = {
        "machine": _machine(),
        "settings": {"network": "784-100-10", "data": "Fashion-MNIST, 60,000 training images", "epochs": args.epochs,
                     "optimizer": "sgd", **SETTINGS},
        "training": [{"config": name, "samples_per_s": median([r["samples_per_s"] for r in found]),
                      "samples_per_s_runs": [r["samples_per_s"] for r in found],
                      "load_averages": [r.get("load_average") for r in found],
                      "test_accuracy": median([r["test_accuracy"] for r in found]),
                      "test_accuracy_runs": [r["test_accuracy"] for r in found]}
                     for name, found in runs.items() if found],
        "step_seconds": {key: median([s[key] for s in steps]) for key in steps[0]},
        "allreduce": {name: {"n_params": allreduce[0][name]["n_params"],
                             "seconds": median([a[name]["seconds"] for a in allreduce])} for name in NETWORKS},
        "cache": raw.get("cache"),
        "raw": raw,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
