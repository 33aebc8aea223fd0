"""``fastmlp train``: load a dataset, train epoch by epoch with progress, report test accuracy and speed."""

from __future__ import annotations

import argparse
import contextlib
import re
import time
from pathlib import Path

import numpy as np

from .. import MLP, distributed, io
from .._settings import FIELDS
from .._validation import ACTIVATIONS, LOSS_OUTPUTS
from ..progress import Progress
from . import common

#: Settings per dataset for options left out; "default" covers IDX directories and user files.
PRESETS = {
    "default": dict(hidden="100", epochs=10, batch_size=32, learning_rate=0.2, momentum=0.0, validation=0.1),
    "digits": dict(hidden="64", epochs=30, batch_size=32, learning_rate=0.5, momentum=0.0, validation=0.1),
    # Four rows: no validation split; momentum gets the sigmoid units out of XOR's flat start quickly.
    "truth-table": dict(hidden="4", epochs=500, batch_size=4, learning_rate=1.0, momentum=0.9, validation=0.0),
}


_USAGE = """\
Train an MLP (sigmoid hidden units by default) by minibatch SGD or Adam. Prints one line per epoch
(training loss, validation accuracy, samples/s), then the test accuracy and the training speed.
Options left out take the dataset's preset (listed below); for Fashion-MNIST that is 784-100-10,
10 epochs, batch 32, learning rate 0.2.

examples:
  fastmlp train                                   Fashion-MNIST, the default settings
  fastmlp train fashion-mnist --hidden 256,128 --epochs 20 --momentum 0.9 --learning-rate 0.05
  fastmlp train mnist --data-dir ~/data/mnist --save mnist.npz --plot curves.png
  fastmlp train digits --plot-weights weights.png --plot-predictions predictions.png
  fastmlp train xor --hidden 2 --plot-regions xor.png
  fastmlp train my_data.csv --label-column species --validation 0.2
  mpiexec -n 4 fastmlp train fashion-mnist --distributed --sync-every 16
"""


def _describe_presets() -> str:
    groups = {"default": "fashion-mnist, mnist, IDX directories, files", "digits": "digits",
              "truth-table": "xor, and, or"}
    lines = ["presets (for options left out):"]
    for key, names in groups.items():
        p = PRESETS[key]
        lines.append(f"  {names}:\n    --hidden {p['hidden']} --epochs {p['epochs']} --batch-size {p['batch_size']} "
                     f"--lr {p['learning_rate']:g} --momentum {p['momentum']:g} --validation {p['validation']:g}")
    return "\n".join(lines) + "\n"


DESCRIPTION = _USAGE + "\n" + _describe_presets()


def preset_for(name: str) -> dict:
    key = name.strip().lower()
    if key in ("xor", "and", "or"):
        return PRESETS["truth-table"]
    return PRESETS.get(key, PRESETS["default"])


def parse_hidden(text: str) -> list[int]:
    """``"100"`` -> [100], ``"256,128"`` -> [256, 128], ``""`` or ``"none"`` -> [] (no hidden layer)."""
    text = text.strip().lower()
    if text in ("", "none", "0"):
        return []
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"--hidden takes layer sizes like 100 or 256,128, got {text!r}") from None
    if any(size < 1 for size in sizes):
        raise ValueError(f"--hidden sizes must be >= 1, got {text!r}")
    return sizes


def add_arguments(parser) -> None:
    parser.add_argument("dataset", nargs="?", default="fashion-mnist",
                        help="dataset name, IDX directory, .npz or .csv file (default: fashion-mnist)")
    net = parser.add_argument_group("network")
    net.add_argument("--hidden", metavar="SIZES",
                     help="hidden layer sizes, e.g. 100 or 256,128; none (or 0) for no hidden layer "
                          "(default: preset)")
    net.add_argument("--activation", choices=ACTIVATIONS, default="logistic",
                     help="hidden-layer activation (default: logistic, the sigmoid)")
    net.add_argument("--loss", choices=sorted(LOSS_OUTPUTS), default="softmax_cross_entropy",
                     help="per-sample loss (default: softmax_cross_entropy)")
    net.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                     help="precision of parameters and arithmetic (default: float32)")
    training = parser.add_argument_group("training (fastmlp.TrainingSettings)")
    for name, field in FIELDS.items():
        _add_setting(training, name, field)
    training.add_argument("--class-weight", choices=("balanced",),
                          help="weight each class by n_samples / (n_classes * its count)")
    training.add_argument("--validation", type=float, metavar="F",
                          help="share of the training data held out for validation accuracy each epoch and "
                               "for --early-stopping (default: preset, 0.1; 0 for the truth tables)")
    training.add_argument("--threads", type=int, metavar="N",
                          help="Numba threads (default: all cores, shared among the MPI ranks on a node)")
    # Data-parallel training (fastmlp.distributed, docs/distributed.md): mpiexec starts the ranks.
    training.add_argument("--distributed", action="store_true",
                          help="train data-parallel over MPI: run under mpiexec; each rank trains on its share "
                               "of the training data and rank 0 reports (needs mpi4py)")
    training.add_argument("--sync-every", type=int, metavar="K",
                          help="with --distributed, average the ranks' weights every K steps (default: 16)")
    training.add_argument("--seed", type=int, default=0,
                          help="seed of the weights, the shuffling and the validation split (default: 0)")
    common.add_data_arguments(parser)
    out = parser.add_argument_group("output")
    out.add_argument("--save", metavar="MODEL.npz", help="write the trained model here")
    out.add_argument("--plot", metavar="CURVES.png", help="plot training loss and validation accuracy per epoch")
    out.add_argument("--plot-weights", metavar="PNG", help="first-layer weights as images (image datasets)")
    out.add_argument("--plot-predictions", metavar="PNG", help="test images with predicted and true labels")
    out.add_argument("--plot-regions", metavar="PNG", help="decision regions and data points (2-input data)")
    out.add_argument("--progress", choices=("auto", "bar", "lines"), default="auto",
                     help="a progress bar on a terminal, plain lines otherwise (default: auto)")
    out.add_argument("--log-every", type=int, metavar="N",
                     help="a line every N epochs (default: every epoch up to 100 epochs, about 25 lines beyond)")
    out.add_argument("--quiet", "-q", action="store_true", help="print only the final result")


def _add_setting(group, name: str, field) -> None:
    """One option per training setting, from the settings table (default: the dataset's preset)."""
    flags = ["--" + name.replace("_", "-")] + (["--lr"] if name == "learning_rate" else [])
    # The presets differ (digits trains 30 epochs, the truth tables 500): the list below the examples gives them.
    default = "preset" if name in PRESETS["default"] else field.default
    text = f"{field.metadata['help']} (default: {default})"
    if name == "validation_fraction":  # the command always holds out its --validation split
        text = "the same as --validation, by the name of the fit setting"
    if field.type == "bool":
        group.add_argument(*flags, action=argparse.BooleanOptionalAction, default=None, help=text)
    elif field.type == "str":
        group.add_argument(*flags, choices=field.metadata["choices"], default=None, help=text)
    else:
        kind = int if field.type == "int" else float
        group.add_argument(*flags, type=kind, default=None, metavar="N" if kind is int else "X", help=text)


def _settings(args) -> tuple[dict, dict]:
    """The CLI's own settings (hidden, validation) and the training settings, presets filled in."""
    preset = dict(preset_for(args.dataset))
    own = {"hidden": args.hidden if args.hidden is not None else preset.pop("hidden"),
           "validation": args.validation if args.validation is not None else preset.pop("validation")}
    preset.pop("hidden", None)
    preset.pop("validation", None)
    training = {name: getattr(args, name) for name in FIELDS if getattr(args, name) is not None}
    training = {**preset, **training}
    # fit's validation_fraction is the share it holds out when given no validation data; this command always
    # gives it the --validation split, so --validation-fraction is that share under fit's name.
    share = "--validation"
    fraction = training.pop("validation_fraction", None)
    if fraction is not None:
        if args.validation is not None and args.validation != fraction:
            raise ValueError("--validation and --validation-fraction both set the share held out; give one")
        own["validation"], share = fraction, "--validation-fraction"
    if training["epochs"] < 1:
        raise ValueError(f"--epochs must be >= 1, got {training['epochs']}")
    if not 0 <= own["validation"] < 1:
        raise ValueError(f"{share} must be in [0, 1), got {own['validation']}")
    if training.get("early_stopping") and own["validation"] == 0:
        raise ValueError("--early-stopping needs a validation split: --validation above 0"
                         + (f" ({args.dataset} has none by default)" if args.validation is None else ""))
    if training.get("optimizer") == "adam" and args.momentum is None:
        training.pop("momentum", None)  # the preset's SGD momentum does not apply to Adam
    return own, training


def _hold_out(X, y, fraction: float, seed: int):
    """Split off ``fraction`` of the training data (a seeded permutation) for validation."""
    if fraction == 0:
        return (X, y), None
    n_valid = int(round(X.shape[0] * fraction))
    if n_valid < 1 or n_valid >= X.shape[0]:
        raise ValueError(f"--validation {fraction} leaves no validation or no training samples of {X.shape[0]}")
    order = np.random.default_rng(seed).permutation(X.shape[0])
    return (X[order[n_valid:]], y[order[n_valid:]]), (X[order[:n_valid]], y[order[:n_valid]])


def _warm_up(sizes, args, training, X, y) -> float:
    """Compile (or load from the cache) the kernels outside the timed epochs; checks every setting too."""
    began = time.perf_counter()
    scratch = MLP(sizes, loss=args.loss, activation=args.activation, dtype=args.dtype, random_state=0)
    scratch.fit(X[:2], y[:2], **dict(training, epochs=1, early_stopping=False), n_threads=args.threads)
    scratch.predict(X[:2])
    return time.perf_counter() - began


def _epochs(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def _describe(training: dict) -> str:
    """``SGD: 10 epochs, batch 32, learning rate 0.2`` and any other setting that is not the default."""
    shown = ("optimizer", "epochs", "batch_size", "learning_rate")

    def setting(key: str, value) -> str:  # "momentum 0.9", "early stopping", "no shuffle", "schedule adaptive"
        words = key.replace("_", " ")
        if isinstance(value, bool):
            return words if value else f"no {words}"
        return f"{words} {value:g}" if isinstance(value, float) else f"{words} {value}"

    others = ", ".join(setting(key, value) for key, value in training.items()
                       if key not in shown and value != FIELDS[key].default)
    optimizer = {"sgd": "SGD", "adam": "Adam"}.get(training.get("optimizer", "sgd"), training.get("optimizer"))
    text = (f"{optimizer}: {_epochs(training['epochs'])}, batch {training['batch_size']}, "
            f"learning rate {training['learning_rate']:g}")
    return f"{text}, {others}" if others else text


def run(args) -> int:
    own, training = _settings(args)
    hidden = parse_hidden(own["hidden"])
    comm, sync_every = _communicator(args)
    root = comm is None or comm.rank == 0  # rank 0 reports, evaluates and writes files
    if comm is None:
        data = common.load_data(args, args.dataset)
    else:  # this rank's rows of the training data; the test split on rank 0 only
        data = distributed.load_split(args.dataset, comm, directory=args.data_dir, label_column=args.label_column,
                                      test_fraction=args.test_fraction)
    if data.n_classes < 2:
        only = data.class_names[0] if data.class_names else 0
        raise ValueError(f"{data.name}: every label is {only!r}; a classifier needs at least two classes")
    _check_outputs(args, data, hidden)
    (X_train, y_train), (X_test, y_test) = data
    (X_fit, y_fit), valid = _hold_out(X_train, y_train, own["validation"], args.seed)
    sizes = [data.n_features, *hidden, data.n_classes]
    net = MLP(sizes, loss=args.loss, activation=args.activation, dtype=args.dtype, random_state=args.seed)
    net.class_names = common.names_worth_keeping(data.class_names)  # saved: evaluate and predict use them
    show = not args.quiet and root

    def say(text: str) -> None:
        if show:
            print(text, flush=True)

    with _named_as_options():
        compile_seconds = _warm_up(sizes, args, training, X_fit, y_fit)
    n_fit = X_fit.shape[0] if comm is None else comm.allreduce(X_fit.shape[0])
    split = f"{common.count(n_fit)} train" + (f" on {comm.size} ranks" if comm is not None else "")
    if valid is not None:
        n_valid = valid[0].shape[0] if comm is None else comm.allreduce(valid[0].shape[0])
        split += f", {common.count(n_valid)} validation"
    say(f"{data.name}: {split}, {common.count(X_test.shape[0])} test samples, {data.n_classes} classes")
    threads = f"{args.threads} threads" if args.threads else "all cores"
    if comm is not None:
        per_rank = args.threads or distributed.thread_budget()[0]
        threads = f"{comm.size} ranks averaged every {sync_every} steps, {per_rank} thread{'s' * (per_rank > 1)} each"
    say(f"network {'-'.join(map(str, sizes))} ({common.count(net.n_params)} parameters), {net.loss}, "
        f"{net.dtype.name}, {net.activation} hidden units; {_describe(training)}; {threads}")
    if compile_seconds > 1.0:
        say(f"compiled the kernels in {compile_seconds:.1f} s (cached on disk for the next runs)")

    progress = Progress(training["epochs"], every=args.log_every,
                        mode="quiet" if args.quiet or not root else args.progress)
    seen = [net.t_]

    def report(model, seconds: float) -> None:
        epoch = len(model.loss_curve_)
        # The samples this epoch trained on: on every rank, when distributed (a job's samples/s).
        n_samples, seen[0] = model.t_ - seen[0], model.t_
        progress.update(epoch, loss=model.loss_curve_[-1], seconds=seconds, n_samples=n_samples,
                        val_accuracy=model.validation_scores_[-1] if valid is not None else None)

    try:
        with _named_as_options():
            net.fit(X_fit, y_fit, validation_data=valid, class_weight=args.class_weight, n_threads=args.threads,
                    callback=report, comm=comm, sync_every=sync_every, **training)
    finally:
        progress.close()
    if not root:  # the other ranks hold the same weights: rank 0 evaluates them
        return 0

    test_accuracy = net.score(X_test, y_test)
    epochs = len(net.loss_curve_)
    print(f"test accuracy {test_accuracy:.4f} on {common.count(X_test.shape[0])} samples; "
          f"{common.rate(progress.samples_per_second)} samples/s "
          f"({_epochs(epochs)} in {progress.train_seconds:.1f} s)", flush=True)
    if epochs < training["epochs"]:
        say(f"stopped early after {_epochs(epochs)}: {_stop_reason(training)}")
    if args.save:
        net.save(args.save)
        say(f"saved the model to {args.save}")
    _plots(args, net, data, net.validation_scores_, say)
    return 0


def _option(name: str) -> str:
    return "--threads" if name == "n_threads" else "--" + name.replace("_", "-")


_NAMES = "|".join(sorted([*FIELDS, "n_threads"], key=len, reverse=True))
#: A setting's name where a message names it as a setting: any name with an underscore, a name that begins the
#: message, or one compared or assigned (plain words such as "epochs" or "momentum" elsewhere stay as they are).
_SETTING = re.compile(rf"\b(?:(?P<id>\w+_\w+)\b|(?P<name>{_NAMES})(?P<value>=True\b|='[^']*')?(?=[ =<>]|$))")


def _as_options(message: str) -> str:
    """``message`` with the training settings it names written as this command's options: "learning_rate must be
    > 0" -> "--learning-rate must be > 0", "nesterov=True needs optimizer='sgd'" -> "--nesterov needs --optimizer
    sgd"."""
    def option(match: re.Match) -> str:
        name = match["id"] or match["name"]
        if name not in FIELDS and name != "n_threads":
            return match[0]
        if match["id"] is None and match.start() > 0 and not match["value"] \
                and not re.match(r" *[<>=]", message[match.end():]):
            return match[0]
        value = match["value"] or "=True"
        return _option(name) if value == "=True" else f"{_option(name)} {value[2:-1]}"

    return _SETTING.sub(option, message)


@contextlib.contextmanager
def _named_as_options():
    """Rewrites the message of a ValueError or TypeError raised inside it with :func:`_as_options`; the exception
    (a DivergenceError's fields included) stays the same object."""
    try:
        yield
    except (ValueError, TypeError) as error:
        if error.args and isinstance(error.args[0], str):
            error.args = (_as_options(error.args[0]), *error.args[1:])
        raise


def _stop_reason(training: dict) -> str:
    """Why a run ended before its epochs: early stopping judges the validation score (and may restore the best
    weights), --convergence alone the training loss."""
    if training.get("early_stopping"):
        restored = "; restored the best weights" if training.get("restore_best_weights", True) else ""
        return f"the validation score stopped improving{restored}"
    return "the training loss stopped improving (--convergence)"


def _communicator(args):
    """MPI.COMM_WORLD and the steps between averages with --distributed, else (None, 1)."""
    if not args.distributed:
        if args.sync_every is not None:
            raise ValueError("--sync-every needs --distributed")
        return None, 1
    try:
        from mpi4py import MPI
    except ImportError:
        raise ImportError("--distributed needs mpi4py and an MPI: pip install mpi4py mpich (or fastmlp[mpi])") \
            from None
    return MPI.COMM_WORLD, 16 if args.sync_every is None else args.sync_every


def _check_outputs(args, data, hidden) -> None:
    """Fail before training, not after, when the model or a requested picture cannot be written."""
    paths = [args.plot, args.plot_weights, args.plot_predictions, args.plot_regions]
    for path in filter(None, paths + [args.save]):
        if not Path(path).resolve().parent.is_dir():
            raise FileNotFoundError(f"{path}: its directory does not exist")
        io.check_writable(path)
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    if args.log_every is not None and args.log_every < 1:
        raise ValueError(f"--log-every must be >= 1, got {args.log_every}")
    if not any(paths):
        return
    for path in filter(None, paths):
        if not path.lower().endswith(".png"):
            raise ValueError(f"plots are written as PNG: {path} must end in .png")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError("plots need matplotlib: pip install matplotlib (or fastmlp[plot])") from None
    if (args.plot_weights or args.plot_predictions) and data.image_shape is None:
        raise ValueError(f"--plot-weights and --plot-predictions need image data; {data.name} is not")
    if args.plot_weights and not hidden:
        raise ValueError("--plot-weights needs a hidden layer")
    if args.plot_regions and data.n_features != 2:
        raise ValueError(f"--plot-regions needs 2 input features; {data.name} has {data.n_features}")


def _plots(args, net, data, val_accuracy, say) -> None:
    if not (args.plot or args.plot_weights or args.plot_predictions or args.plot_regions):
        return
    from .. import plots

    (X_train, y_train), (X_test, y_test) = data
    if args.plot:
        say(f"wrote {plots.plot_curves(args.plot, net.loss_curve_, val_accuracy or None)}")
    if args.plot_weights:
        say(f"wrote {plots.plot_weights(args.plot_weights, net, data.image_shape)}")
    if args.plot_predictions:
        path = plots.plot_predictions(args.plot_predictions, net, X_test, y_test, image_shape=data.image_shape,
                                      class_names=data.class_names)
        say(f"wrote {path}")
    if args.plot_regions:
        title = f"{data.name}: {'-'.join(map(str, net.layer_sizes))} network"
        say(f"wrote {plots.plot_decision_regions(args.plot_regions, net, X_train, y_train, title=title)}")

