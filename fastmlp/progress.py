"""Training progress: a redrawn bar on a terminal, plain lines otherwise, nothing when quiet."""

from __future__ import annotations

import sys
import time


def _rate(samples_per_second: float) -> str:
    if not 0 <= samples_per_second < float("inf"):  # an epoch timed at 0 s: no rate to state
        return "-"
    if samples_per_second >= 1e6:
        return f"{samples_per_second / 1e6:.2f}M"
    if samples_per_second >= 1e3:
        return f"{samples_per_second / 1e3:.1f}k"
    return f"{samples_per_second:.0f}"


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """Reports epochs of training: ``update(epoch, loss=..., seconds=..., n_samples=..., val_accuracy=...)``.

    ``mode`` is "bar" (a line redrawn in place, with ETA, under the permanent per-epoch lines),
    "lines" (one plain line per reported epoch) or "quiet"; "auto" picks "bar" on a terminal and
    "lines" otherwise. A line is printed for every ``every``-th epoch (and the first and last); by
    default every epoch up to 100 epochs, and about 25 lines for longer runs (truth tables train for
    hundreds of tiny epochs).

    Examples
    --------
    >>> import io
    >>> stream = io.StringIO()
    >>> progress = Progress(2, stream=stream)  # not a terminal: plain lines
    >>> progress.update(1, loss=0.5, seconds=0.25, n_samples=1000, val_accuracy=0.9)
    >>> print(stream.getvalue(), end="")
    epoch 1/2  loss 0.5000  val_accuracy 0.9000  4.0k samples/s
    """

    WIDTH = 24

    def __init__(self, epochs: int, *, mode: str = "auto", stream=None, every: int | None = None):
        self.stream = stream if stream is not None else sys.stdout
        if mode == "auto":
            isatty = getattr(self.stream, "isatty", None)
            mode = "bar" if isatty is not None and isatty() else "lines"
        if mode not in ("bar", "lines", "quiet"):
            raise ValueError(f"progress mode must be auto, bar, lines or quiet, got {mode!r}")
        self.mode = mode
        self.epochs = epochs
        if every is None:
            every = 1 if epochs <= 100 else -(-epochs // 25)
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.every = every
        self.started = time.perf_counter()
        self.train_seconds = 0.0
        self.samples = 0
        self._bar_shown = False

    def line(self, epoch: int, loss: float, rate: float, val_accuracy=None) -> str:
        """The permanent line for one epoch."""
        digits = len(str(self.epochs))
        text = f"epoch {epoch:{digits}d}/{self.epochs}  loss {loss:.4f}"
        if val_accuracy is not None:
            text += f"  val_accuracy {val_accuracy:.4f}"
        return text + f"  {_rate(rate)} samples/s"

    def update(self, epoch: int, *, loss: float, seconds: float, n_samples: int, val_accuracy=None) -> None:
        """Record epoch ``epoch`` (1-based): its mean loss, its training time and its sample count."""
        if epoch < 1:
            raise ValueError(f"epochs are counted from 1, got {epoch}")
        self.train_seconds += seconds
        self.samples += n_samples
        if self.mode == "quiet":
            return
        rate = n_samples / seconds if seconds > 0 else float("inf")
        show = epoch % self.every == 0 or epoch == self.epochs or epoch == 1
        if self.mode == "lines":
            if show:
                print(self.line(epoch, loss, rate, val_accuracy), file=self.stream, flush=True)
            return
        self._clear()
        if show:
            print(self.line(epoch, loss, rate, val_accuracy), file=self.stream)
        elapsed = time.perf_counter() - self.started
        remaining = elapsed / epoch * (self.epochs - epoch)
        filled = self.WIDTH * epoch // max(self.epochs, 1)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.stream.write(f"[{bar}] {epoch}/{self.epochs}  loss {loss:.4f}  {_rate(rate)} samples/s  "
                          f"{_duration(elapsed)} elapsed, ETA {_duration(remaining)}")
        self.stream.flush()
        self._bar_shown = True

    def _clear(self) -> None:
        if self._bar_shown:
            self.stream.write("\r\033[K")
            self._bar_shown = False

    def close(self) -> None:
        """Remove the bar (the per-epoch lines stay)."""
        if self.mode == "bar":
            self._clear()
            self.stream.flush()

    @property
    def samples_per_second(self) -> float:
        """Training throughput over all epochs reported so far."""
        return self.samples / self.train_seconds if self.train_seconds > 0 else float("nan")
