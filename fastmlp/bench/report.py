"""The machine a run measured, the project's speed targets judged on a run, and the tables printed for people."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
import sys

from .machine import SHARED_CORE_NS, SLOW_LINK_FACTOR, describe_target
from .peers import TWO_THREADS_LABEL


def machine() -> dict:
    """CPU, the kernels' compile target, cores, threading layer, BLAS and library versions, all read in this run;
    call after a parallel kernel and a NumPy matrix product have run (so both thread pools exist)."""
    import numba

    from .. import __version__
    from .._compile import threading_layer
    from . import machine as measured

    versions = {"python": platform.python_version(), "fastmlp": __version__}
    for package in ("numpy", "numba", "torch", "scikit-learn", "onnxruntime"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    libraries = measured.blas()
    torch = sys.modules.get("torch")  # read only if a peer loaded it
    return {
        "cpu": measured.cpu_model(),
        "cpu_flags": measured.cpu_flags(),
        "kernel_target": measured.kernel_target(),
        "cores": os.cpu_count(),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "threading_layer": threading_layer(),
        "numpy_blas": measured.describe_blas(libraries) or None,
        "blas": libraries,
        "versions": versions,
        "source_commit": measured.run_source_commit(),  # read when the run began
        "platform": platform.platform(),
        # ATen's elementwise kernels; ATEN_CPU_CAPABILITY=avx2 caps them (its MKL matmuls pick their own)
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability() if torch is not None else None,
        # its matrix products' code (MKL_ENABLE_INSTRUCTIONS=AVX2 caps it)
        "torch_mkl": measured.torch_mkl_isa() if torch is not None else None,
    }


def machine_line(info: dict) -> str:
    versions = info["versions"]
    commit = info.get("source_commit")  # runs before it was recorded have none
    libraries = ", ".join(f"{name} {version}" + (f" at commit {commit}" if name == "fastmlp" and commit else "")
                          for name, version in versions.items())
    flags = "+".join(info.get("cpu_flags", [])) or "?"
    target = info.get("kernel_target")
    compiled = f"kernels compiled for {describe_target(target)}, " if target else ""
    return (f"{info['cpu']} (host {flags}), {info['cores']} cores, {compiled}training on fastmlp's own thread team, "
            f"prediction on Numba's {info['threading_layer']} threading layer, "
            f"{libraries}; NumPy BLAS: {info.get('numpy_blas') or '?'}"
            + (f"; PyTorch's ATen kernels: {info['torch_cpu_capability']}" if info.get("torch_cpu_capability") else "")
            + (f", its MKL: {info['torch_mkl']}" if info.get("torch_mkl") else ""))


# -------------------------------------------------------------------------------------------- targets
#: The speed targets for 784-100-10 float32: batch -> least ratio to the best peer.
MAIN_TARGETS = {1: 15.0, 10: 3.0, 32: 2.5, 128: 1.3, 512: 1.3}
#: Least speed-up of two threads over one, by batch size (784-100-10 float32).
THREAD_TARGETS = {32: 1.8, 128: 1.8, 512: 1.8}
#: How the names of those targets end.
THREAD_SCALING = "2 threads vs 1 thread"
#: Least share of a one-thread matmul's FLOP/s (same run) that a one-thread training step reaches, by batch
#: size (784-100-10 float32).
STEP_SHARE_TARGETS = {32: 0.65, 128: 0.65, 512: 0.65}
#: Prediction of the 10,000 test images (784-100-10 float32): least ratio to NumPy.
PREDICTION_VS_NUMPY = 1.15
#: Networks and dtypes that must be ahead of every peer (ratio > 1) at every batch size and in prediction.
AHEAD_EVERYWHERE = (("784-100-10", "float64"), ("784-15-10", "float32"), ("784-256-128-10", "float32"),
                    ("784-15-10", "float64"), ("784-256-128-10", "float64"))


def _find(rows, network, dtype, batch_size=None):
    for row in rows:
        if row["network"] == network and row["dtype"] == dtype and row.get("batch_size") == batch_size:
            return row
    return None


def _link(row, peer, who="fastmlp"):
    """A ratio target's notes on the way between the cores in ``row``'s rounds: their round trips and, where some
    were slow, ``who``'s samples/s over ``peer``'s in the others (over all of the peer's runs if it was timed in
    none of them)."""
    trip = row and row.get("core_round_trip")
    if not trip:
        return {}
    rates = trip.get("quick_samples_per_s", {})
    baseline = rates.get(peer) or row["results"].get(peer, {}).get("samples_per_s")
    return {"core_round_trip": trip, "quick_measured": rates[who] / baseline if who in rates and baseline else None}


def _target(name, measured, required, unit="x", **context):
    met = None if measured is None else bool(measured >= required)
    return {"target": name, "required": required, "measured": measured, "unit": unit, "met": met, **context}


def targets(result: dict) -> list[dict]:
    """Each speed target with what this run measured and whether it is met (None: not measured)."""
    training, prediction, out = result.get("training", []), result.get("prediction", []), []
    for batch_size, ratio in MAIN_TARGETS.items():
        row = _find(training, "784-100-10", "float32", batch_size)
        out.append(_target(f"784-100-10 float32 batch {batch_size}: vs best peer", row and row["ratio"], ratio,
                           **_link(row, row and row["best_peer"])))
    for batch_size, scaling in THREAD_TARGETS.items():
        row = _find(training, "784-100-10", "float32", batch_size)
        two = TWO_THREADS_LABEL if row and row.get("fastmlp_threads", 2) > 2 else "fastmlp"  # its two threads
        link = _link(row, "fastmlp 1 thread", two) if row and row.get("thread_scaling") else {}  # none on one core
        out.append(_target(f"784-100-10 float32 batch {batch_size}: {THREAD_SCALING}",
                           row and row.get("thread_scaling"), scaling,
                           two_at_once_scaling=row and row.get("two_at_once_scaling"),
                           matmul_thread_scaling=row and row.get("matmul_thread_scaling"),
                           host_steal=row and row.get("host_steal"), **link))
    for batch_size, share in STEP_SHARE_TARGETS.items():
        row = _find(training, "784-100-10", "float32", batch_size)
        out.append(_target(f"784-100-10 float32 batch {batch_size}: one-thread step vs one-thread matmul",
                           row and row.get("one_thread_share"), share, unit="%",
                           matmul_flops=row and row.get("one_thread_matmul", {}).get("flops")))
    row = _find(prediction, "784-100-10", "float32")
    numpy = row and row["results"].get("numpy", {}).get("samples_per_s")
    out.append(_target("784-100-10 float32 prediction (10,000 test images): vs NumPy",
                       numpy and row["fastmlp_samples_per_s"] / numpy, PREDICTION_VS_NUMPY, **_link(row, "numpy"),
                       matmul_over_numpy=row and row.get("matmul_over_numpy"),
                       fastmlp_over_matmul=row and row.get("fastmlp_over_matmul")))
    for network, dtype in AHEAD_EVERYWHERE:
        rows = [r for r in training + prediction if (r["network"], r["dtype"]) == (network, dtype)]
        worst = min((r["ratio"] for r in rows if r.get("ratio")), default=None)
        out.append(_target(f"{network} {dtype}: vs best peer, lowest of every batch size and prediction", worst,
                           1.0))
    startup = result.get("startup") or {}
    memory = startup.get("peak_rss_above_loaded_mb")
    if memory is not None:
        out.append({"target": "peak RSS of a Fashion-MNIST fit above the loaded data", "required": 100.0,
                    "measured": memory, "unit": "MB", "met": bool(memory <= 100.0)})
    if "cached" in startup:
        misses = startup["cached"].get("cache_misses")
        out.append({"target": "cached first fit: no recompilation", "required": 0, "measured": misses,
                    "unit": "cache misses", "met": None if misses is None else misses == 0})
    return out


# --------------------------------------------------------------------------------------------- tables
def _rate(value) -> str:
    if not value:
        return "-"
    return f"{value / 1e6:.2f}M" if value >= 1e6 else f"{value / 1e3:.1f}k" if value >= 1e3 else f"{value:.0f}"


def _digits(value, required, met, decimals) -> str:
    """``value`` with ``decimals`` decimals, more where those would round a miss up to ``required``."""
    while met is False and decimals < 4 and float(f"{value:.{decimals}f}") >= required:
        decimals += 1
    return f"{value:.{decimals}f}"


def _measured(entry) -> str:
    if entry["measured"] is None:
        return "not measured"
    if entry["unit"] == "%":
        shown = f"{_digits(100 * entry['measured'], 100 * entry['required'], entry['met'], 0)}%"
        if entry.get("matmul_flops"):  # timed in the row's rounds (runs saved before: between the rows)
            shown += f" (of {entry['matmul_flops'] / 1e9:.0f} GFLOP/s, the matmul's in the same rounds)"
        return shown
    if entry["unit"] == "x":
        notes = []
        if entry.get("two_at_once_scaling"):
            notes.append(f"two 1-thread runs at once {entry['two_at_once_scaling']:.2f}x")
        if entry.get("matmul_thread_scaling"):
            notes.append(f"matmul {entry['matmul_thread_scaling']:.2f}x")
        if entry.get("host_steal") is not None:
            notes.append(f"host steal {100 * entry['host_steal']:.0f}%")
        trip = entry.get("core_round_trip")
        if trip:
            notes.append(f"core round trip {trip['lowest_ns']:.0f}-{trip['highest_ns']:.0f} ns")
            if entry.get("quick_measured"):
                notes.append(f"{entry['quick_measured']:.2f}x in the {trip['quick_rounds']} rounds at "
                             f"{SHARED_CORE_NS:.0f}-{trip['quick_bound_ns']:.0f} ns")
        if entry.get("matmul_over_numpy"):
            notes.append(f"a prediction as fast as BLAS's first-layer matmul alone: {entry['matmul_over_numpy']:.2f}x, "
                         f"fastmlp's at {entry['fastmlp_over_matmul']:.2f}x that matmul's samples/s")
        shown = _digits(entry["measured"], entry["required"], entry["met"], 2)
        return f"{shown}x" + (f" ({', '.join(notes)})" if notes else "")
    return f"{entry['measured']:g} {entry['unit']}"


def _required(entry) -> str:
    if entry["unit"] == "%":
        return f">= {100 * entry['required']:.0f}%"
    if entry["unit"] == "x":
        return f">= {entry['required']:g}x"
    if entry["unit"] == "MB":
        return f"<= {entry['required']:g} MB"
    return f"{entry['required']} {entry['unit']}"


def training_table(result: dict) -> list[list[str]]:
    """Header and rows: samples/s per contender, the ratio to the best peer, roofline share, thread scaling, the
    thread scaling of a large BLAS matmul measured just before the row, and the quickest and slowest round trip
    between two cores in the row's rounds."""
    peers = result["peers"]
    header = ["network", "dtype", "batch", "samples", "fastmlp", *peers, "vs best peer", "roofline", "2 thr / 1 thr",
              "matmul 2 thr / 1 thr", "core round trip"]
    rows = [header]
    for row in result["training"]:
        results = row["results"]
        cells = [row["network"], row["dtype"], str(row["batch_size"]), f"{row['samples']:,}",
                 _rate(row["fastmlp_samples_per_s"])]
        for peer in peers:
            record = results.get(peer)
            if record is None:
                cells.append("-")
            else:  # mark the peers that were fastest on one thread
                one = " (1t)" if record["variant"] == "1 thread" else ""
                cells.append(_rate(record["samples_per_s"]) + one)
        cells.append(f"{row['ratio']:.2f}x" if row.get("ratio") else "-")
        cells.append(f"{100 * row['roofline_share']:.0f}%" if row.get("roofline_share") is not None else "-")
        for key in ("thread_scaling", "matmul_thread_scaling"):
            cells.append(f"{row[key]:.2f}x" if row.get(key) else "-")
        cells.append(_round_trips(row))
        rows.append(cells)
    return rows


def _round_trips(row) -> str:
    """The quickest and slowest round trip between the cores in ``row``'s rounds, or "-"."""
    trip = row.get("core_round_trip")
    return f"{trip['lowest_ns']:.0f}-{trip['highest_ns']:.0f} ns" if trip else "-"


#: The header of prediction's column of the first layer's product alone (suite.derive_prediction), and what it is,
#: for the captions of the printed report and of the generated tables.
FIRST_LAYER_MATMUL_COLUMN = "first-layer matmul"
FIRST_LAYER_MATMUL = ("not a peer, the pre-scaled images times the first layer's weights alone through NumPy's BLAS on "
                      "all cores, timed in the same rounds, the most NumPy's prediction could run at")

#: How the prediction table marks a peer that ran wider vector code than fastmlp's kernels (suite.host_isa_peers).
HOST_ISA = "host's ISA, not counted"


def host_isa_note(result: dict) -> str:
    """What the HOST_ISA mark means, naming the peers it marks; "" when the run marks none."""
    uncapped = result.get("host_isa_peers", [])
    if not uncapped:
        return ""
    return (f"{', '.join(uncapped)} ({HOST_ISA}): picks its kernels from the CPU's flags and has no setting to "
            "cap them, so in this run, whose kernels were compiled for narrower vectors than the host has (such as an "
            "AVX2 run on an AVX-512 machine), it ran the host's wider code. It is shown, but not counted as the best "
            "peer.")


def prediction_table(result: dict) -> list[list[str]]:
    """Header and rows: samples/s per contender, the ratio to the best peer, the samples/s of the first layer's
    product alone through BLAS (suite.derive_prediction; runs without it have no such column) and the quickest and
    slowest round trip between two cores in the row's rounds."""
    peers = result["peers"] + result.get("prediction_peers", [])
    uncapped = result.get("host_isa_peers", [])
    yardstick = any("first_layer_matmul_samples_per_s" in row for row in result["prediction"])
    rows = [["network", "dtype", "samples", "fastmlp", *[f"{p} ({HOST_ISA})" if p in uncapped else p for p in peers],
             "vs best peer",
             *([FIRST_LAYER_MATMUL_COLUMN] if yardstick else []), "core round trip"]]
    for row in result["prediction"]:
        results = row["results"]
        matmul = row.get("first_layer_matmul_samples_per_s")
        rows.append([row["network"], row["dtype"], f"{row['samples']:,}", _rate(row["fastmlp_samples_per_s"]),
                     *[_rate(results[p]["samples_per_s"]) if p in results else "-" for p in peers],
                     f"{row['ratio']:.2f}x" if row.get("ratio") else "-",
                     *([_rate(matmul) if matmul else "-"] if yardstick else []), _round_trips(row)])
    return rows


def targets_table(entries: list[dict]) -> list[list[str]]:
    rows = [["target", "required", "measured", "met"]]
    for entry in entries:
        met = "-" if entry["met"] is None else "met" if entry["met"] else "NOT met"
        rows.append([entry["target"], _required(entry), _measured(entry), met])
    return rows


def format_table(rows: list[list[str]]) -> str:
    """Plain aligned text: first column left, the others right."""
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    lines = []
    for r, row in enumerate(rows):
        cells = [cell.ljust(widths[c]) if c == 0 else cell.rjust(widths[c]) for c, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if r == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def startup_lines(startup: dict) -> list[str]:
    if not startup:
        return []
    if "error" in startup:
        return [f"not measured: {startup['error'].splitlines()[0]}"]
    lines = []
    for key in ("cold", "cached"):
        run = startup.get(key)
        if run:
            lines.append(f"{key} first fit {run['first_fit_seconds']:.2f} s (second fit in the same process "
                         f"{run['second_fit_seconds']:.2f} s; import {run['import_seconds']:.2f} s); "
                         f"cache hits {run['cache_hits']}, misses {run['cache_misses']}")
    if startup.get("peak_rss_above_loaded_mb") is not None:
        lines.append(f"peak RSS of the fit above the process after loading the data: "
                     f"{startup['peak_rss_above_loaded_mb']:.1f} MB "
                     f"(cold run {startup['cold_peak_rss_above_loaded_mb']:.1f} MB,"
                     f" loaded process {startup['rss_after_load_mb']:.1f} MB)")
    return lines


def runs_of(settings: dict) -> str:
    """What a contender's medians are of (settings.timed_runs; only ``repeat`` in JSON of older runs)."""
    return settings.get("timed_runs") or f"{settings.get('repeat')} runs"


def text_report(result: dict) -> str:
    parts = [f"fastmlp bench on {machine_line(result['machine'])}", ""]
    roof = result.get("roofline", {})
    parts.append("roofline (highest large-matmul FLOP/s through NumPy's BLAS on all cores, measured between the "
                 "rows): " + ", ".join(f"{d} {v['flops'] / 1e9:.0f} GFLOP/s (median {v['median_flops'] / 1e9:.0f})"
                                       for d, v in roof.items()))
    if any("one_thread_flops" in v for v in roof.values()):
        parts.append("on one BLAS thread (measured between the rows of batch 32 and up; fastmlp's one-thread step "
                     "is held to the same matmul timed in the row's own rounds): "
                     + ", ".join(f"{d} {v['one_thread_flops'] / 1e9:.0f} GFLOP/s"
                                 for d, v in roof.items() if "one_thread_flops" in v))
    if result.get("training"):
        parts += ["", "training, samples/s of one pass of plain SGD over the same samples (the samples column; "
                  f"medians of {runs_of(result['settings'])}, alternating, compile time excluded; 2 thr / 1 thr: "
                  "the median of the rounds' ratios; matmul 2 thr / "
                  "1 thr: a large matmul through NumPy's BLAS on two cores over one, measured just before the "
                  "row, what the machine's other cores gave at that moment; core round trip: a cache line's trip "
                  "between two cores and back through the team's barrier, timed just before each of fastmlp's "
                  "runs on all threads, quickest-slowest)",
                  format_table(training_table(result))]
        steals = [row["host_steal"] for row in result["training"] if row.get("host_steal") is not None]
        if steals:
            parts.append("host steal during the training rows (/proc/stat: the CPU time a hypervisor gave this "
                         "machine's virtual CPUs to other guests, which no contender could use): median "
                         f"{100 * statistics.median(steals):.1f}%, highest {100 * max(steals):.1f}%")
        trips = [row["core_round_trip"] for row in result["training"] if row.get("core_round_trip")]
        if trips:
            parts.append(f"core round trip over the rows: quickest {min(t['lowest_ns'] for t in trips):.0f} ns, "
                         f"median {statistics.median(t['median_ns'] for t in trips):.0f} ns, slowest "
                         f"{max(t['highest_ns'] for t in trips):.0f} ns. A trip several times the quickest is a slow "
                         "way between the cores: the team's threads then wait as much longer for every line of sums "
                         "and deltas that the other one wrote, and two-thread rows slow down where one-thread runs "
                         f"do not; one under {SHARED_CORE_NS:.0f} ns means both virtual CPUs ran on one physical "
                         "core, which slows the team too. Where only some of a row's rounds were slow (over "
                         f"{SLOW_LINK_FACTOR:g}x its quickest at {SHARED_CORE_NS:.0f} ns or more) or shared a core, "
                         "the targets also give what fastmlp reached in the others")
    if result.get("prediction"):
        parts += ["", f"prediction, samples/s (forward only; {FIRST_LAYER_MATMUL_COLUMN}: {FIRST_LAYER_MATMUL}; "
                  "core round trip: timed just before each of fastmlp's runs, as in training)",
                  format_table(prediction_table(result))]
        if host_isa_note(result):
            parts.append(host_isa_note(result))
    if result.get("fastmlp_first_call_seconds"):
        parts += ["", "fastmlp first call in this process (compile or cache load + a warm-up run): "
                  + ", ".join(f"{d} {s:.2f} s" for d, s in result["fastmlp_first_call_seconds"].items())]
    lines = startup_lines(result.get("startup"))
    if lines:
        title = "memory and start-up (fresh processes, 784-100-10, one epoch of Fashion-MNIST from uint8)"
        parts += ["", title, *lines]
    # --quick times 512 samples once: a smoke run of seconds, which says nothing about the targets
    title = "targets (a --quick smoke run: too short to judge them)" if result.get("settings", {}).get("quick") \
        else "targets (measured in this run)"
    parts += ["", title, format_table(targets_table(result["targets"]))]
    if any(entry["met"] is False and entry["target"].endswith(THREAD_SCALING) for entry in result["targets"]):
        parts.append("2 threads fell short: `fastmlp bench --profile` shows, phase by phase, what sharing a step "
                     "costs on this machine, whether one thread ran slower than the other in every phase, and the "
                     "most a team of two can gain with what its steps move between the cores")
    return "\n".join(parts)
