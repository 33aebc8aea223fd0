"""``fastmlp bench --plot speed.png``: training samples/s against batch size per contender, with the roofline.

Drawn from a suite result (``run_suite``'s dict or its ``--json`` file): one panel per network and dtype, log
axes, a line per contender (its best thread setting), and the same run's large-matmul FLOP/s turned into
samples/s (FLOP/s divided by the FLOPs of a sample's training step at that batch size) as a dashed line.
"""

from __future__ import annotations

from pathlib import Path

from .peers import TWO_AT_ONCE_LABEL

#: Line styles: fastmlp stands out, the peers in matplotlib's default colours.
STYLES = {"fastmlp": dict(color="tab:red", marker="o", linewidth=2.2),
          "fastmlp 1 thread": dict(color="tab:red", marker="o", linestyle=":", linewidth=1.4)}


def panels(result: dict) -> dict[tuple[str, str], list[dict]]:
    """The training rows grouped by (network, dtype), each group sorted by batch size."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in result.get("training", []):
        groups.setdefault((row["network"], row["dtype"]), []).append(row)
    return {key: sorted(rows, key=lambda row: row["batch_size"]) for key, rows in groups.items()}


def series(rows: list[dict], roof_flops: float | None) -> dict[str, tuple[list[int], list[float]]]:
    """name -> (batch sizes, samples/s) for every contender in ``rows``, and "roofline" when FLOP/s is known."""
    lines: dict[str, tuple[list[int], list[float]]] = {}
    for row in rows:
        for name, record in row["results"].items():
            if name == TWO_AT_ONCE_LABEL:  # the host's yardstick for two threads, not a way to train
                continue
            if record.get("samples_per_s"):
                batches, rates = lines.setdefault(name, ([], []))
                batches.append(row["batch_size"])
                rates.append(record["samples_per_s"])
        if roof_flops:
            batches, rates = lines.setdefault("roofline", ([], []))
            batches.append(row["batch_size"])
            rates.append(roof_flops * row["samples"] / row["flops"])  # FLOP/s over FLOPs per sample
    return lines


#: Panels side by side before the next row starts: a picture that reads at the width of a README.
PANELS_PER_ROW = 2


def plot_speed(result: dict, path) -> Path:
    """Write the picture of ``result``'s training measurements to ``path`` (.png); returns the path."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"the speed plot is written as PNG: {path} must end in .png")
    groups = panels(result)
    if not groups:
        raise ValueError("the result has no training measurements to plot (a --startup-only run?)")
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("the speed plot needs matplotlib: pip install matplotlib (or fastmlp[plot])") from None
    columns = min(len(groups), PANELS_PER_ROW)
    rows = -(-len(groups) // columns)
    figure = Figure(figsize=(6.0 * columns, 4.5 * rows), dpi=100)
    axes_grid = figure.subplots(rows, columns, squeeze=False)
    axes_list = list(axes_grid.ravel())
    for unused in axes_list[len(groups):]:
        unused.set_visible(False)
    roofline = result.get("roofline", {})
    for axes, ((network, dtype), rows) in zip(axes_list, groups.items()):
        roof = roofline.get(dtype, {}).get("flops")
        for name, (batches, rates) in series(rows, roof).items():
            if name == "roofline":
                # A marker too: a run of one batch size has a roofline of one point, which a line alone hides
                axes.plot(batches, rates, color="black", linestyle="--", linewidth=1.2, marker="_", markersize=14,
                          label=f"roofline ({roof / 1e9:.0f} GFLOP/s matmul)")
            else:
                axes.plot(batches, rates, **STYLES.get(name, dict(marker="s", linewidth=1.4)), label=name)
        axes.set_xscale("log")
        axes.set_yscale("log")
        batch_sizes = sorted({row["batch_size"] for row in rows})
        axes.set_xticks(batch_sizes, [str(b) for b in batch_sizes])
        axes.minorticks_off()
        axes.set_xlabel("batch size")
        axes.set_ylabel("training samples/s")
        axes.set_title(f"{network} {dtype}")
        axes.grid(alpha=0.3, which="both")
        axes.legend(fontsize="small")
    cpu = result.get("machine", {}).get("cpu")
    if cpu:
        figure.suptitle(f"fastmlp bench on {cpu}", fontsize="medium")
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path
