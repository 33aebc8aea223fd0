"""Put the tables of a ``fastmlp bench --json`` run into README.md, between the bench-table markers.

    python scripts/readme_table.py artifacts/bench.json [--readme README.md] [--print]

Only the text between ``<!-- bench-table:start -->`` and ``<!-- bench-table:end -->`` is replaced. When the
markers are missing, a "### Speed" subsection holding them (and a short paragraph on where the speed
comes from) is added at the end of the "## Benchmarks" section.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastmlp.bench import report  # noqa: E402

START = "<!-- bench-table:start -->"
END = "<!-- bench-table:end -->"
SECTION = "## Benchmarks"
SPEED = f"""### Speed

How the kernels get their speed is in "How it works" above: one compiled loop per epoch, register-blocked
inner loops, no gradient buffer for plain SGD, uint8 input read as bytes. Where it stands on this machine
(AMD Zen 4 with AVX-512, where OpenBLAS is fast): far ahead of every peer at small minibatches (about 10x the
best peer at batch 1, 1.3-1.6x at batch 10-32), behind NumPy from batch 128 and in prediction, where the
peers' matrix multiplies come from OpenBLAS's AVX-512 kernels. Two threads gain 1.0-1.6x over one: the
numbers move by 30% from run to run on this shared virtual machine, most of all with two threads. The targets of
issue 3 that are met and not met are listed by `fastmlp bench` at the end of its report.

The table below is written by `scripts/readme_table.py` from `fastmlp bench --json artifacts/bench.json`.

{START}
{END}
"""


def _markdown(rows: list[list[str]]) -> str:
    align = ["---" if name in ("network", "dtype", "target") else "---:" for name in rows[0]]  # numbers right
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def render(result: dict) -> str:
    """The Markdown block: machine line, training, prediction, memory/start-up, targets."""
    settings = result.get("settings", {})
    roof = ", ".join(f"{d} {v['flops'] / 1e9:.0f} GFLOP/s" for d, v in result.get("roofline", {}).items())
    parts = [f"Measured by `fastmlp bench` on {report.machine_line(result['machine'])}."]
    if result.get("training"):
        parts += [
            "",
            f"Training: samples per second of plain minibatch SGD on {result.get('data', 'Fashion-MNIST')} "
            f"(median of {settings.get('repeat')} runs alternating with the peers, each after 0.1 s of idle and a short untimed warm-up; compile time excluded). Every "
            "contender trains on the same samples: the *samples* column, fewer than the 60,000 where the peers "
            "are slow (small batches, the large network). fastmlp reads the uint8 images; the peers get them "
            "already scaled to floats, untimed. A peer's better thread setting counts (\"(1t)\": one thread). "
            "*roofline*: fastmlp's FLOP/s (2 x (forward + weight-gradient + delta-propagation multiply-adds) "
            "per sample + 2 x parameters per update) as a share of a large matrix multiply's through NumPy's "
            f"BLAS on all cores, the highest of the measurements between the rows ({roof}). *2 thr / 1 thr*: fastmlp's speed-up "
            "from its second thread.",
            "",
            _markdown(report.training_table(result)),
        ]
    if result.get("prediction"):
        parts += ["", "Prediction (forward only) on the 10,000 test images, samples per second:", "",
                  _markdown(report.prediction_table(result))]
    lines = report.startup_lines(result.get("startup"))
    if lines:
        parts += ["", "Memory and start-up (fresh processes, 784-100-10, one epoch from uint8 data):", ""]
        parts += [f"- {line}" for line in lines]
    if result.get("targets"):
        parts += ["", "Issue 3's targets, judged on this run:", "", _markdown(report.targets_table(result["targets"]))]
    return "\n".join(parts)


def insert(readme: str, block: str) -> str:
    """README text with ``block`` between the markers, adding the Speed subsection if the markers are absent."""
    if START not in readme or END not in readme:
        if SECTION not in readme:
            readme = readme.rstrip("\n") + f"\n\n{SECTION}\n"
        at = readme.index(SECTION) + len(SECTION)
        following = readme.find("\n## ", at)
        end = len(readme) if following < 0 else following + 1
        heading = readme.find("\n### Speed\n", at, end)
        if heading >= 0:  # someone wrote the heading already: put the paragraph and markers right under it
            after = heading + len("\n### Speed\n")
            readme = readme[:after] + SPEED.split("\n", 1)[1] + readme[after:]
        else:
            readme = readme[:end].rstrip("\n") + "\n\n" + SPEED + ("\n" if following >= 0 else "") + readme[end:]
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{block}\n{END}{tail}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", help="the file written by fastmlp bench --json")
    parser.add_argument("--readme", default=str(Path(__file__).resolve().parents[1] / "README.md"))
    parser.add_argument("--print", action="store_true", help="print the block instead of writing the README")
    args = parser.parse_args(argv)
    with open(args.json) as source:
        block = render(json.load(source))
    if args.print:
        print(block)
        return 0
    path = Path(args.readme)
    path.write_text(insert(path.read_text(), block))
    print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
