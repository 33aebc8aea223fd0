"""``fastmlp bench``: fastmlp against NumPy, PyTorch, scikit-learn and ONNX Runtime on the same work, in the same run.

``add_arguments(parser)`` and ``run(args)`` are what ``fastmlp.cli`` registers; ``python -m fastmlp.bench``
calls :func:`main`. Submodules are imported inside :func:`run` so that importing this package stays cheap.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

#: --quick: a smoke run that finishes in seconds (used by the tests).
QUICK = dict(networks=["784-100-10"], dtypes=["float32"], batch_sizes=[32], samples=512, repeat=1, matmul_size=512)


def _list(kind):
    def parse(text):
        values = [value.strip() for value in text.split(",") if value.strip()]
        if not values:  # else an empty run: no rows, only the start-up part
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
        if kind is int:
            try:
                return [int(v) for v in values]
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None
        return values

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the bench options to ``parser`` (a subcommand's parser or a fresh one)."""
    parser.add_argument("--networks", type=_list(str), default=None,
                        help="comma-separated: 784-100-10, 784-15-10, 784-256-128-10 (default: all)")
    parser.add_argument("--dtypes", type=_list(str), default=None, help="float32,float64 (default: both)")
    parser.add_argument("--batch-sizes", type=_list(int), default=None, help="default: 1,10,32,128,512")
    parser.add_argument("--peers", type=_list(str), default=None,
                        help="numpy,pytorch,scikit-learn,onnxruntime (default: every one installed; numpy always "
                             "is; onnxruntime only predicts, with fastmlp's exported model)")
    parser.add_argument("--samples", type=int, default=None,
                        help="training samples per timed run (default by batch size 1, 10, 32, 128, 512: 5000, 20000, "
                             "60000, 60000, 60000, scaled down for costlier networks, at least 1000)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="timed runs per contender, medians reported (3); with --time-to-accuracy: races, the "
                             "median race reported (3; with --quick 1)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="SGD step size for every contender (0.1; 0.05 with --time-to-accuracy)")
    parser.add_argument("--json", metavar="PATH", default=None, help="also write every measurement as JSON")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 784-100-10 float32 batch 32, 512 samples, one repeat, no start-up part")
    startup = parser.add_mutually_exclusive_group()
    startup.add_argument("--startup", action="store_true",
                         help="measure only memory and start-up (fresh processes, cold and cached kernel cache)")
    startup.add_argument("--no-startup", action="store_true", help="skip the memory and start-up part")
    parser.add_argument("--synthetic", action="store_true", help="random images instead of Fashion-MNIST")
    parser.add_argument("--sklearn", action="store_true",
                        help="instead: fastmlp.sklearn.MLPClassifier beside scikit-learn's MLPClassifier, test "
                             "accuracy on digits, iris, wine, breast_cancer and Fashion-MNIST (3 seeds) and "
                             "training speed on Fashion-MNIST at batch 200 (with --quick: iris, one seed)")
    parser.add_argument("--sklearn-epochs", type=int, default=None, metavar="N",
                        help="with --sklearn: epochs on Fashion-MNIST (default 10)")
    parser.add_argument("--kernels", action="store_true",
                        help="instead: GFLOP/s of the forward and weight-gradient microkernels on one thread beside "
                             "a one-thread BLAS gemm of the same shape, and the CPU and tiles they were compiled for "
                             "(with --quick: tiny sizes, one repeat; --dtypes picks the dtypes)")
    parser.add_argument("--profile", action="store_true",
                        help="instead: the share of a training epoch's cycles in each phase of a step (gather, "
                             "forward, output and loss, hidden deltas, gradient and update, barrier wait) for each "
                             "of two threads, and its cycles per sample beside one thread's, with what sharing adds "
                             "to each phase; 784-100-10 float32 at batch 32, 128 and 512 (--batch-sizes, --networks "
                             "and --dtypes pick others; with --quick: batch 32, 2,000 samples, one epoch)")
    parser.add_argument("--momentum", type=float, default=None, metavar="MU",
                        help="with --profile: the SGD momentum of the profiled epochs (default 0, plain SGD; the "
                             "time-to-accuracy race trains with 0.9)")
    # Time to accuracy and the speed picture.
    parser.add_argument("--time-to-accuracy", action="store_true",
                        help="instead: train 784-256-10 (SGD, momentum 0.9, batch 32) with fastmlp, PyTorch and "
                             "scikit-learn from the same start, test accuracy after every epoch; report the wall time "
                             "to --target-accuracy and the accuracy after --epochs (with --quick: synthetic, 3 epochs)")
    parser.add_argument("--epochs", type=int, default=None, metavar="N",
                        help="with --time-to-accuracy: epochs per contender (default 30)")
    parser.add_argument("--target-accuracy", type=float, default=None, metavar="A",
                        help="with --time-to-accuracy: the test accuracy to time (default 0.88)")
    parser.add_argument("--plot", metavar="PNG", default=None,
                        help="also draw training samples/s against batch size per contender, with the roofline")
    parser.add_argument("--from-json", metavar="PATH", default=None,
                        help="with --plot: draw from a saved --json result instead of measuring")
    return parser


def _settings(args) -> dict:
    from .suite import BATCH_SIZES, DTYPES, NETWORKS

    settings = dict(networks=list(NETWORKS), dtypes=list(DTYPES), batch_sizes=list(BATCH_SIZES), samples=None,
                    repeat=3, matmul_size=2048)
    if args.quick:
        settings.update(QUICK)
    for name in ("networks", "dtypes", "batch_sizes", "samples", "repeat"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    unknown = [n for n in settings["networks"] if n not in NETWORKS]
    unknown += [d for d in settings["dtypes"] if d not in DTYPES]
    if unknown:
        raise ValueError(f"unknown networks or dtypes {unknown}; networks: {list(NETWORKS)}, dtypes: {list(DTYPES)}")
    if any(b < 1 for b in settings["batch_sizes"]) or settings["repeat"] < 1 or (settings["samples"] is not None
                                                                                 and settings["samples"] < 1):
        raise ValueError("batch sizes, --repeat and --samples must be >= 1")
    return settings


#: The modes that replace the speed suite ("instead: ..."), and the options each one reads besides --quick and
#: --json; the speed suite reads the others but --epochs, --target-accuracy and --sklearn-epochs.
MODES = {
    "sklearn": ("sklearn_epochs",),
    "kernels": ("dtypes",),
    "profile": ("networks", "dtypes", "batch_sizes", "synthetic", "momentum"),
    "time_to_accuracy": ("peers", "learning_rate", "epochs", "target_accuracy", "synthetic", "repeat"),
}
#: Every option a mode may read or ignore, as (attribute, as typed).
OPTIONS = {"networks": "--networks", "dtypes": "--dtypes", "batch_sizes": "--batch-sizes", "peers": "--peers",
           "samples": "--samples", "repeat": "--repeat", "learning_rate": "--learning-rate",
           "startup": "--startup", "no_startup": "--no-startup", "synthetic": "--synthetic",
           "sklearn_epochs": "--sklearn-epochs", "epochs": "--epochs", "target_accuracy": "--target-accuracy",
           "momentum": "--momentum"}
#: The options that go with one mode only (the speed suite reads none of them), and that mode.
OWNERS = {"sklearn_epochs": "--sklearn", "epochs": "--time-to-accuracy", "target_accuracy": "--time-to-accuracy",
          "momentum": "--profile"}


def _ignored_error(args) -> str | None:
    """Options that the chosen mode would silently ignore, or two modes at once, said as an error: a run of
    minutes that did not measure what its command line asks for."""
    modes = [mode for mode in MODES if getattr(args, mode, False)]
    if len(modes) > 1:
        return "choose one of " + ", ".join("--" + mode.replace("_", "-") for mode in modes)
    if modes:
        used, mode = MODES[modes[0]], "--" + modes[0].replace("_", "-")
        if getattr(args, "from_json", None):
            return f"{mode} does not use --from-json (which goes with --plot alone)"
    elif getattr(args, "from_json", None):
        used, mode = (), "--from-json"  # draws a saved run: measures nothing, writes no JSON
        if getattr(args, "json", None):
            return "--from-json does not use --json (it draws a saved run and writes no JSON)"
    elif getattr(args, "startup", False):
        used, mode = ("startup", "learning_rate", "synthetic"), "--startup"  # fresh processes, 784-100-10 only
    else:
        used, mode = tuple(o for o in OPTIONS if o not in OWNERS), None
    ignored = [flag for name, flag in OPTIONS.items() if name not in used and getattr(args, name, None)
               not in (None, False)]
    if not ignored:
        return None
    if mode is None:
        return "; ".join(f"{OPTIONS[name]} goes with {owner}" for name, owner in OWNERS.items()
                         if OPTIONS[name] in ignored)
    return f"{mode} does not use {', '.join(ignored)}"


def _mode_error(args) -> str | None:
    """What is wrong with the options of --sklearn, --kernels or --profile, if anything (they pick dtypes and a
    network their own way, and draw no --plot)."""
    from .suite import DTYPES

    modes = [mode for mode in ("sklearn", "kernels", "profile") if getattr(args, mode, False)]
    if not modes:
        return None
    mode = f"--{modes[0]}"  # the one run() takes
    if getattr(args, "plot", None):
        return f"--plot draws the speed suite's measurements, not {mode}"
    if mode == "--sklearn":  # checked before the bundled datasets' minutes, not at Fashion-MNIST after them
        epochs = args.sklearn_epochs
        return None if epochs is None or epochs >= 1 else f"--sklearn-epochs must be >= 1, got {epochs}"
    unknown = [d for d in args.dtypes or () if d not in DTYPES]
    if unknown:
        return f"unknown dtypes {unknown}; dtypes: {list(DTYPES)}"
    if mode == "--profile":
        if len(args.dtypes or ()) > 1 or len(args.networks or ()) > 1:
            return "--profile measures one network and one dtype: give one of each"
        if args.networks:
            sizes = args.networks[0].split("-")
            if len(sizes) < 2 or not all(size.isdigit() and int(size) > 0 for size in sizes) or sizes[0] != "784":
                return f"--profile: expected a network of 784 inputs such as 784-100-10, got {args.networks[0]!r}"
        if any(b < 1 for b in args.batch_sizes or ()):
            return "batch sizes must be >= 1"
        momentum = args.momentum
        if momentum is not None and not 0 <= momentum <= 1:  # as fastmlp's own momentum setting
            return f"--momentum must be >= 0 and <= 1, got {momentum}"
    return None


def _output_error(args) -> str | None:
    """What keeps --plot or --json from being written, if anything: said before a run of minutes, not after."""
    plot, saved = getattr(args, "plot", None), getattr(args, "json", None)
    if plot:
        if not plot.lower().endswith(".png"):
            return f"the speed plot is written as PNG: {plot} must end in .png"
        if not os.path.isdir(os.path.dirname(os.path.abspath(plot))):
            return f"--plot {plot}: its directory does not exist"
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            return "--plot needs matplotlib: pip install matplotlib (or fastmlp[plot])"
    for option, path in (("--plot", plot), ("--json", saved)):
        if path and os.path.isdir(path):
            return f"{option} {path}: is a directory"
    if saved:  # write_json creates its directory: made now, so that a path no file can take fails first
        try:
            os.makedirs(os.path.dirname(os.path.abspath(saved)), exist_ok=True)
        except OSError as error:
            return f"--json {saved}: cannot make its directory ({error.strerror or error})"
    return None


def run(args) -> int:
    """Run the benchmark the parsed ``args`` describe, print the report; returns the exit status."""
    from . import report
    from .startup import measure_startup
    from .suite import run_suite

    rate = getattr(args, "learning_rate", None)
    problem = _ignored_error(args) or _mode_error(args) or _output_error(args) or (
        None if rate is None or 0 < rate < float("inf") else f"--learning-rate must be > 0 and finite, got {rate}")
    if problem:
        print(f"fastmlp bench: {problem}", file=sys.stderr)
        return 2
    from .machine import remember_source_commit

    remember_source_commit()  # the source about to be timed, whatever is committed while it runs
    if getattr(args, "sklearn", False):
        from .sklearn_compare import run as run_sklearn

        return run_sklearn(args)
    if getattr(args, "kernels", False):
        from . import kernels

        sizes = dict(repeat=1, min_time=0.0, n_samples=13, n_in=40, n_out=11) if args.quick else {}
        measured = kernels.measure(dtypes=args.dtypes or ("float32", "float64"), **sizes)
        print(kernels.text(measured))
        write_json(measured, args.json)
        return 0
    if getattr(args, "profile", False):
        return _profile(args)
    if getattr(args, "time_to_accuracy", False) or getattr(args, "from_json", None):
        from .edges import run_edges

        return run_edges(args)
    learning_rate = 0.1 if args.learning_rate is None else args.learning_rate
    try:
        settings = _settings(args)
    except ValueError as error:
        print(f"fastmlp bench: {error}", file=sys.stderr)
        return 2
    result: dict = {"peers": [], "settings": {}}
    if not args.startup:
        result = run_suite(peer_names=args.peers, learning_rate=learning_rate, synthetic=args.synthetic,
                           **settings)
    if args.startup or not (args.no_startup or args.quick):
        print("measuring memory and start-up in fresh processes ...", file=sys.stderr, flush=True)
        try:
            result["startup"] = measure_startup(learning_rate=learning_rate, synthetic=args.synthetic)
        except (RuntimeError, OSError, ValueError) as error:  # keep the speed results of a long run
            print(f"fastmlp bench: memory and start-up not measured: {error}", file=sys.stderr)
            result["startup"] = {"error": str(error)}
    result["machine"] = report.machine()
    result["targets"] = report.targets(result)
    result["settings"]["quick"] = bool(args.quick)
    print(report.text_report(result))
    if args.json:
        write_json(result, args.json)
        print(f"\nwrote {args.json}")
    if getattr(args, "plot", None):
        from .speed_plot import plot_speed

        print(f"wrote {plot_speed(result, args.plot)}")
    return 0


def write_json(result: dict, path: str | None) -> None:
    """Write ``result`` to ``path`` as JSON, creating its directory; nothing when ``path`` is None."""
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as out:
            json.dump(result, out, indent=1)


def _profile(args) -> int:
    from . import profile
    from .peers import Fastmlp

    n_threads = Fastmlp.team_threads()  # the team that training uses by default
    if n_threads < 2:
        raise ValueError("--profile compares a team of threads with one thread, and training here runs on one "
                         "(one CPU to run on, or NUMBA_NUM_THREADS=1)")
    options = dict(batch_sizes=args.batch_sizes or ([32] if args.quick else [32, 128, 512]),
                   dtype=(args.dtypes or ["float32"])[0], synthetic=args.synthetic, n_threads=n_threads,
                   momentum=args.momentum or 0.0)
    if args.networks:
        options["layer_sizes"] = tuple(int(n) for n in args.networks[0].split("-"))
    if args.quick:
        options.update(n_samples=2000, repeat=1)
    measured = profile.measure(**options)
    print(profile.text(measured))
    write_json(measured, args.json)
    return 0


def main(argv=None) -> int:
    """``python -m fastmlp.bench``: as ``fastmlp bench``, errors included (one line, exit 1; fastmlp.cli.main)."""
    parser = argparse.ArgumentParser(prog="fastmlp bench", description=__doc__.splitlines()[0])
    args = add_arguments(parser).parse_args(argv)
    try:
        return run(args)
    except (ValueError, TypeError, OSError, ImportError) as error:
        message = f"{error.filename}: {error.strerror}" if isinstance(error, OSError) and error.strerror \
            and error.filename else str(error) or type(error).__name__
        print(f"fastmlp bench: error: {message}", file=sys.stderr)
        return 1
