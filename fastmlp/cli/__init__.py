"""The ``fastmlp`` command: train, evaluate, predict, export, info and bench subcommands.

Each subcommand lives in its own module with ``add_arguments(parser)`` and ``run(args) -> int``; this
module builds the parser and turns errors a user can cause into one line on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import evaluate, export, info, predict, train

DESCRIPTION = """\
Train and use multilayer perceptrons with fastmlp's compiled, parallel kernels.

examples:
  fastmlp train                                 784-100-10 on Fashion-MNIST with the default settings
  fastmlp train xor --plot-regions xor.png      the lecture's XOR problem, with its decision regions
  fastmlp train digits --hidden 64 --save digits.npz
  fastmlp evaluate digits.npz digits
  fastmlp predict digits.npz images.npy -o labels.csv
  fastmlp export digits.npz digits.onnx         for ONNX Runtime and other ONNX tools
  fastmlp info                                  versions, CPU, threading layer, cores, cache
  fastmlp COMMAND --help                        the options of one command
"""

#: name -> (module, one-line help). bench comes from fastmlp.bench, imported only when it is asked for.
COMMANDS = {
    "train": (train, "train a network on a dataset, print per-epoch progress and the test accuracy"),
    "evaluate": (evaluate, "accuracy and loss of a saved model on a dataset"),
    "predict": (predict, "predict the labels (or probabilities) of new samples with a saved model"),
    "export": (export, "write a saved model as an ONNX file (needs the onnx package)"),
    "info": (info, "versions, CPU and kernel target, threading layer, cores and kernel cache location"),
}
BENCH_HELP = "measure training speed (samples/s) against a matrix-multiply roofline and peers"
BENCH_DESCRIPTION = """\
Measure training speed (samples/s) against a matrix-multiply roofline and peers (fastmlp.bench).

examples:
  fastmlp bench                   the full report
  fastmlp bench --quick           a short run
  fastmlp bench --help            the options of the benchmark (listed when fastmlp.bench is installed)
"""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the layout of the examples in descriptions."""


class _BenchMissing:
    """Stands in for fastmlp.bench when that module cannot be imported."""

    def __init__(self, error: ImportError):
        self.error = error

    def add_arguments(self, parser) -> None:
        parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    def run(self, args) -> int:
        print(f"fastmlp bench: not available in this installation ({self.error})", file=sys.stderr)
        return 1


def _bench_module():
    try:
        from .. import bench
    except ImportError as error:
        return _BenchMissing(error)
    if not (hasattr(bench, "add_arguments") and hasattr(bench, "run")):
        return _BenchMissing(ImportError("fastmlp.bench has no add_arguments/run"))
    return bench


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The full parser; the bench module is imported only when ``command`` is "bench"."""
    parser = argparse.ArgumentParser(prog="fastmlp", description=DESCRIPTION, formatter_class=_Formatter)
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"fastmlp {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=module.DESCRIPTION, formatter_class=_Formatter)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run, parser=sub)
    sub = subparsers.add_parser("bench", help=BENCH_HELP, formatter_class=_Formatter, description=BENCH_DESCRIPTION)
    if command == "bench":
        bench = _bench_module()
        sub.description = getattr(bench, "DESCRIPTION", BENCH_DESCRIPTION)
        bench.add_arguments(sub)
        sub.set_defaults(run=bench.run, parser=sub)
    return parser


def _command(argv) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def _message(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror and error.filename:
        return f"{error.filename}: {error.strerror}"
    return str(error) or type(error).__name__


def main(argv=None) -> int:
    """Run the ``fastmlp`` command with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command(argv))
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # the command's own usage and name, not the top-level ones (exit 2, as argparse does)
        getattr(args, "parser", parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return int(args.run(args) or 0)
    except BrokenPipeError:  # the reader went away (fastmlp predict ... | head): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that flushing stdout at exit cannot fail again
        return 1
    except (ValueError, TypeError, OSError, ImportError) as error:
        print(f"fastmlp {args.command}: error: {_message(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"fastmlp {args.command}: interrupted", file=sys.stderr)
        return 130
