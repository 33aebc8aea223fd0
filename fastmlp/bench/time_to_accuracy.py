"""``fastmlp bench --time-to-accuracy``: wall time until the test accuracy first reaches a target, per contender.

Every contender trains the same network (784-256-10, logistic hidden layer, softmax cross-entropy) by SGD with
momentum 0.9 (torch.optim.SGD's form, not Nesterov) at batch 32 and one learning rate, from the same initial
weights (drawn once, loaded into each), and is scored on the test split after every epoch. The clock covers
shuffling, training and evaluation; compilation and a short warm-up happen before it starts. Epochs of the
contenders alternate, so a busy neighbour slows all of them alike; each one's time is the sum of its own epochs.
The race runs RACES times and the report is the race of the median speed-up.
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

from .peers import glorot
from .roofline import epoch_flops, matmul_flops, predict_flops
from .runner import warm_up
from .trainers import FastmlpTrainer, SklearnTrainer, TorchTrainer, available

__all__ = ["FastmlpTrainer", "SklearnTrainer", "TorchTrainer", "available", "race", "run", "same_maths"]

LAYER_SIZES = (784, 256, 10)
TARGET = 0.88
EPOCHS = 30
LEARNING_RATE = 0.05
MOMENTUM = 0.9
BATCH_SIZE = 32
#: Idle seconds between two contenders' epochs (untimed): BLAS and OpenMP worker threads spin for a while
#: after a peer's epoch and would slow the next contender's start (see runner.SETTLE_SECONDS). Then the
#: contender evaluates its test accuracy again and again for runner.WARM_SECONDS (runner.warm_up; untimed,
#: the weights do not change), so that its timed epoch starts on cores that are awake, as in a run without
#: pauses.
SETTLE_SECONDS = 0.1
#: Minibatches of the trial epochs that pick a peer's thread count (1 or all cores, the faster one counts).
TRIAL_BATCHES = 100
#: The speed-up over the best peer that fastmlp aims at (issue 12); the report says what share of the machine's
#: matmul rate it would take (flops_bound).
AIMED_SPEEDUP = 5.0
#: Races run one after another (the same maths each time, so only the host's timing differs between them); the
#: report is the race of the median speed-up. A slow spell of the host lasts seconds and lands on whichever
#: contender's epochs it meets: on a 2-core Zen 4 guest, single races gave 4.69x and 5.34x (native code), 4.82x and
#: 3.86x (AVX2) against fastmlp's steady median epoch, 3.5-4.1x the fastest peer's.
RACES = 3
#: --quick: a run of seconds on a small learnable synthetic set (the tests use it).
QUICK = dict(n_train=2000, n_test=500, epochs=3)


def settings_for(learning_rate=LEARNING_RATE, epochs=EPOCHS, target=TARGET, batch_size=BATCH_SIZE,
                 momentum=MOMENTUM, layer_sizes=LAYER_SIZES, seed=0) -> dict:
    return dict(learning_rate=learning_rate, epochs=epochs, target=target, batch_size=batch_size,
                momentum=momentum, layer_sizes=list(layer_sizes), seed=seed)


def same_maths(trainers, train, test, settings, n_samples: int = 1024) -> dict:
    """Every contender from the shared start, one unshuffled epoch on ``n_samples``: how far its weights end
    from fastmlp's (largest absolute difference), its start's difference (0 when loaded alike) and accuracies."""
    thetas = glorot(settings["layer_sizes"], "float32", settings["seed"])
    subset = (train[0][:n_samples], train[1][:n_samples])
    out: dict = {"samples": int(subset[1].size), "contenders": {}}
    reference = None
    for trainer_type in trainers:
        trainer = trainer_type(thetas, subset, test, settings)
        start = max(float(np.abs(a - b).max()) for a, b in zip(trainer.thetas(), thetas))
        trainer.epoch(shuffle=False)
        ended = trainer.thetas()
        reference = ended if reference is None else reference
        out["contenders"][trainer.name] = {
            "start_max_abs_diff": start,
            "max_abs_diff_to_fastmlp": max(float(np.abs(a - b).max()) for a, b in zip(ended, reference)),
            "max_abs_weight_change": max(float(np.abs(a - b).max()) for a, b in zip(ended, thetas)),
            "accuracy": trainer.accuracy(),
        }
    return out


def _warm_up(trainer_type, thetas, train, test, settings) -> float:
    """Seconds of a throwaway trainer's epoch on a few samples: compiles (or loads) fastmlp's kernels."""
    few = 4 * settings["batch_size"]
    began = time.perf_counter()
    trainer = trainer_type(thetas, (train[0][:few], train[1][:few]), (test[0][:few], test[1][:few]), settings)
    trainer.epoch()
    trainer.accuracy()
    return time.perf_counter() - began


def pick_threads(trainer_type, thetas, train, test, settings) -> tuple[int | None, dict]:
    """The thread count (of ``trainer_type.thread_options``) whose trial epoch over TRIAL_BATCHES minibatches ran
    fastest (or the contender's fixed ``race_threads``), and every option's samples/s; each trial runs after a
    warm-up epoch, best of two."""
    n = TRIAL_BATCHES * settings["batch_size"]
    rates = {}
    for n_threads in trainer_type.thread_options:
        trainer = trainer_type(thetas, (train[0][:n], train[1][:n]), test, settings)
        with trainer.limit(n_threads):
            trainer.epoch()
            seconds = []
            for _ in range(2):
                time.sleep(SETTLE_SECONDS)
                began = time.perf_counter()
                trainer.epoch()
                seconds.append(time.perf_counter() - began)
        rates[n_threads] = n / min(seconds)
    best = max(rates, key=rates.get)
    return getattr(trainer_type, "race_threads", best), {str(k): v for k, v in rates.items()}


def prepare(trainers, train, test, settings) -> dict:
    """Per contender, before any race: the seconds of its warm-up (compilation) and the thread count it races on
    with its trials' samples/s (pick_threads)."""
    thetas = glorot(settings["layer_sizes"], "float32", settings["seed"])
    warm = {t.name: _warm_up(t, thetas, train, test, settings) for t in trainers}
    return {t.name: (warm[t.name], *pick_threads(t, thetas, train, test, settings)) for t in trainers}


def race(trainers, train, test, settings, prepared, verbose: bool = True, label: str = "") -> dict:
    """Train every contender ``epochs`` epochs from one start, epochs alternating; per contender the time and
    test accuracy after each epoch, the time (and epoch) at which the target was first reached. ``prepared``:
    what prepare() returned; ``label`` starts each printed epoch line."""
    thetas = glorot(settings["layer_sizes"], "float32", settings["seed"])
    running = [t(thetas, train, test, settings) for t in trainers]
    runs = {}
    for r in running:
        warm, threads, trials = prepared[r.name]
        with r.limit(threads):
            runs[r.name] = {"threads": r.threads(), "thread_trials_samples_per_s": trials,
                            "warmup_seconds": warm, "epoch_seconds": [], "seconds": [], "accuracy": []}
    for epoch in range(settings["epochs"]):
        for trainer in running:
            time.sleep(SETTLE_SECONDS)
            with trainer.limit(prepared[trainer.name][1]):
                warm_up(trainer.accuracy)
                began = time.perf_counter()
                trainer.epoch()
                accuracy = trainer.accuracy()
                seconds = time.perf_counter() - began
            run = runs[trainer.name]
            run["epoch_seconds"].append(seconds)
            run["seconds"].append(sum(run["epoch_seconds"]))
            run["accuracy"].append(accuracy)
        if verbose:
            print(f"{label}epoch {epoch + 1:3d}: " + ", ".join(
                f"{name} {run['accuracy'][-1]:.4f} ({run['seconds'][-1]:.1f} s)" for name, run in runs.items()),
                file=sys.stderr, flush=True)
    for run in runs.values():
        reached = [i for i, accuracy in enumerate(run["accuracy"]) if accuracy >= settings["target"]]
        run["epochs_to_target"] = reached[0] + 1 if reached else None
        run["seconds_to_target"] = run["seconds"][reached[0]] if reached else None
        run["final_accuracy"] = run["accuracy"][-1]
        run["best_accuracy"] = max(run["accuracy"])
        run["median_epoch_seconds"] = statistics.median(run["epoch_seconds"])
    return runs


def median_race(summaries: list[dict]) -> int:
    """Index of the race whose fastmlp speed-up is the median of ``summaries`` (summarise()'s, one per race; the
    lower of the middle two for an even count; a race without a speed-up counts as the slowest)."""
    order = sorted(range(len(summaries)), key=lambda i: summaries[i]["speedup"] or 0.0)
    return order[(len(order) - 1) // 2]


def summarise(runs: dict) -> dict:
    """The best peer (fastest to the target) and fastmlp's speed-up over it (None where not defined); and the
    speed-up of fastmlp's median epoch over the fastest peer's, which does not depend on shuffling luck."""
    reached = {name: run["seconds_to_target"] for name, run in runs.items()
               if name != "fastmlp" and run["seconds_to_target"] is not None}
    out = {"best_peer": None, "best_peer_seconds": None, "speedup": None, "epoch_speedup": None}
    epochs = [run["median_epoch_seconds"] for name, run in runs.items()
              if name != "fastmlp" and run.get("median_epoch_seconds")]
    if epochs and runs.get("fastmlp", {}).get("median_epoch_seconds"):
        out["epoch_speedup"] = min(epochs) / runs["fastmlp"]["median_epoch_seconds"]
    if reached:
        name = min(reached, key=reached.get)
        out.update(best_peer=name, best_peer_seconds=reached[name])
        mine = runs.get("fastmlp", {}).get("seconds_to_target")
        if mine:
            out["speedup"] = reached[name] / mine
    return out


def learnable_synthetic(n_train: int, n_test: int, seed: int = 0, n_features: int = 784, n_classes: int = 10):
    """uint8 images: a random prototype per class plus noise; a network learns them within an epoch or two."""
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 256, (n_classes, n_features))

    def make(n):
        labels = rng.integers(0, n_classes, n)
        X = np.clip(prototypes[labels] + rng.normal(0, 60, (n, n_features)), 0, 255).astype(np.uint8)
        return X, labels.astype(np.int64)

    return make(n_train), make(n_test)


def load(quick: bool, synthetic: bool):
    """(train, test, source name): Fashion-MNIST, or the learnable synthetic set (quick, asked, or not installed)."""
    if not (quick or synthetic):
        try:
            from ..datasets import load_fashion_mnist

            train, test = load_fashion_mnist()
            return train, test, "Fashion-MNIST"
        except FileNotFoundError as error:
            print(f"fastmlp bench: {error}; using synthetic images instead", file=sys.stderr)
    n_train, n_test = (QUICK["n_train"], QUICK["n_test"]) if quick else (60000, 10000)
    train, test = learnable_synthetic(n_train, n_test)
    return train, test, "synthetic (class prototypes + noise)"


def run(*, peers=None, learning_rate=None, epochs=None, target=TARGET, races=None, quick=False, synthetic=False,
        verbose=True) -> dict:
    """The whole measurement; returns the JSON-ready dict (without the machine, added by the caller): the median of
    ``races`` races (RACES; 1 with ``quick``) by fastmlp's speed-up, and every race's speed-up."""
    train, test, source = load(quick, synthetic)
    settings = settings_for(learning_rate=LEARNING_RATE if learning_rate is None else learning_rate,
                            epochs=epochs or (QUICK["epochs"] if quick else EPOCHS), target=target)
    races = races or (1 if quick else RACES)
    trainers = available(peers)
    check = same_maths(trainers, train, test, settings)
    prepared = prepare(trainers, train, test, settings)
    all_runs = [race(trainers, train, test, settings, prepared, verbose, f"race {i + 1} of {races}, " * (races > 1))
                for i in range(races)]
    summaries = [summarise(runs) for runs in all_runs]
    median = median_race(summaries)
    runs = all_runs[median]
    result = {"kind": "time to accuracy", "data": source, "n_train": int(train[1].size),
              "n_test": int(test[1].size), "settings": settings, "same_maths": check, "runs": runs,
              **summaries[median], "median_race": median + 1,
              "races": [{"speedup": summary["speedup"], "epoch_speedup": summary["epoch_speedup"],
                         "seconds_to_target": {name: run["seconds_to_target"] for name, run in one.items()},
                         "median_epoch_seconds": {name: run["median_epoch_seconds"] for name, run in one.items()}}
                        for summary, one in zip(summaries, all_runs)]}
    epochs = runs.get("fastmlp", {}).get("epochs_to_target")
    if epochs:
        result["bound"] = flops_bound(settings, result["n_train"], result["n_test"], epochs,
                                      runs["fastmlp"]["seconds_to_target"], result["best_peer_seconds"],
                                      matmul_flops("float32"))
    return result


def flops_bound(settings, n_train, n_test, epochs, seconds, peer_seconds, flops_per_s) -> dict:
    """What the arithmetic allows: the FLOPs of fastmlp's ``epochs`` epochs to the target (each a pass of SGD over
    ``n_train`` samples, roofline.epoch_flops, and the evaluation of ``n_test``), and the least time they take at
    ``flops_per_s``, an all-core matmul's rate measured in the same run; fastmlp's share of that rate in the
    ``seconds`` it took, and the share that AIMED_SPEEDUP over a peer's ``peer_seconds`` (if any) would need."""
    sizes = settings["layer_sizes"]
    flops = epochs * (epoch_flops(sizes, n_train, settings["batch_size"]) + n_test * predict_flops(sizes))
    floor = flops / flops_per_s
    return {"epochs": epochs, "flops": flops, "matmul_flops_per_s": flops_per_s, "floor_seconds": floor,
            "share": floor / seconds,
            "aimed_share": floor * AIMED_SPEEDUP / peer_seconds if peer_seconds else None}


def _seconds(value) -> str:
    return "not reached" if value is None else f"{value:.1f} s" if value >= 10 else f"{value:.2f} s"


def text_report(result: dict) -> str:
    """The table people read, with the settings and the same-start check above it."""
    from .report import format_table, machine_line

    s = result["settings"]
    check = result["same_maths"]
    lines = [f"fastmlp bench --time-to-accuracy on {machine_line(result['machine'])}" if "machine" in result else "",
             "",
             f"{'-'.join(map(str, s['layer_sizes']))}, logistic hidden layer, softmax cross-entropy, SGD momentum "
             f"{s['momentum']:g} (not Nesterov), batch {s['batch_size']}, learning rate {s['learning_rate']:g}, "
             f"{s['epochs']} epochs on {result['data']} ({result['n_train']:,} training, {result['n_test']:,} test "
             f"images). Every contender starts from the same weights (seed {s['seed']}); the clock covers shuffling, "
             "training and the test evaluation after every epoch, not compilation. Epochs alternate between the "
             "contenders; fastmlp trains on all cores, each peer on 1 thread or all, whichever was faster in a trial.",
             f"same maths: one unshuffled epoch over {check['samples']:,} samples from the shared start (largest "
             "weight difference at the start / to fastmlp's weights after it / largest weight change): "
             + ", ".join(f"{name} {c['start_max_abs_diff']:.1g} / {c['max_abs_diff_to_fastmlp']:.1g} / "
                         f"{c['max_abs_weight_change']:.1g}" for name, c in check["contenders"].items()),
             ""]
    target = s["target"]
    rows = [["contender", "threads", f"time to {target:g}", f"epochs to {target:g}",
             f"accuracy after {s['epochs']}", f"time for {s['epochs']}", "median epoch", "best accuracy"]]
    for name, run in result["runs"].items():
        rows.append([name, str(run["threads"]), _seconds(run["seconds_to_target"]),
                     str(run["epochs_to_target"] or "-"), f"{run['final_accuracy']:.4f}", _seconds(run["seconds"][-1]),
                     _seconds(run["median_epoch_seconds"]), f"{run['best_accuracy']:.4f}"])
    races = result.get("races", [])
    if len(races) > 1:
        def speedups(key):
            return ", ".join("-" if race[key] is None else f"{race[key]:.2f}x" for race in races)

        lines.append(f"The table is race {result['median_race']} of {len(races)}, the median by fastmlp's speed-up; "
                     f"every race's speed-up: {speedups('speedup')}; its median epoch's: {speedups('epoch_speedup')}")
    lines.append(format_table(rows))
    trials = [f"{name} " + " / ".join(f"{rate / 1e3:.0f}k on {n}" for n, rate in trial.items())
              for name, run in result["runs"].items() if (trial := run.get("thread_trials_samples_per_s"))]
    if trials:
        lines.append("trial epochs before the race, training samples/s by thread count (fastmlp races on all "
                     "threads; each peer on its faster count): " + "; ".join(trials))
    if result.get("speedup"):
        lines.append(f"\nfastmlp reached {target:g} {result['speedup']:.2f}x as fast as the best peer "
                     f"({result['best_peer']}, {_seconds(result['best_peer_seconds'])}).")
    elif result.get("best_peer") is None:
        lines.append(f"\nno peer reached {target:g}: no speed-up to state.")
    else:
        lines.append(f"\nfastmlp did not reach {target:g}.")
    bound = result.get("bound")
    if bound:
        epochs = f"{bound['epochs']} epoch" + ("s" if bound["epochs"] > 1 else "")
        lines.append(f"fastmlp's {epochs} to {target:g} are {bound['flops'] / 1e9:.3g} GFLOP of "
                     f"training and evaluation: {_seconds(bound['floor_seconds'])} at this run's all-core matmul rate "
                     f"({bound['matmul_flops_per_s'] / 1e9:.0f} GFLOP/s); fastmlp ran at {bound['share']:.0%} of it"
                     + (f", and {AIMED_SPEEDUP:g}x the best peer would need {bound['aimed_share']:.0%}."
                        if bound["aimed_share"] else "."))
    if result.get("epoch_speedup"):
        lines.append(f"fastmlp's median epoch (training and evaluation) ran {result['epoch_speedup']:.2f}x as fast as "
                     "the fastest peer's; the epoch at which each first reaches the target depends on its shuffling.")
    return "\n".join(lines)
