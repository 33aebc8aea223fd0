"""fastmlp.progress: per-epoch lines, the terminal progress bar, quiet and thinned output."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys

import pytest

from fastmlp.progress import Progress

from child_env import child_env


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_lines_when_not_a_terminal():
    stream = io.StringIO()
    progress = Progress(3, stream=stream)
    for epoch in (1, 2, 3):
        progress.update(epoch, loss=1.0 / epoch, seconds=0.5, n_samples=1000, val_accuracy=0.5)
    progress.close()
    assert progress.mode == "lines"
    assert stream.getvalue().splitlines() == [
        f"epoch {k}/3  loss {1 / k:.4f}  val_accuracy 0.5000  2.0k samples/s" for k in (1, 2, 3)]
    assert progress.samples_per_second == pytest.approx(2000)


def test_progress_bar_on_a_terminal():
    stream = FakeTerminal()
    progress = Progress(4, stream=stream)
    assert progress.mode == "bar"
    progress.update(1, loss=0.5, seconds=0.01, n_samples=50_000)
    assert "\r" not in stream.getvalue() and "[######------------------] 1/4  loss 0.5000  5.00M samples/s" in \
        stream.getvalue()
    progress.update(2, loss=0.25, seconds=0.01, n_samples=50_000)
    progress.close()
    text = stream.getvalue()
    assert text.count("\r\033[K") == 2  # the bar is erased before each new line and at the end
    permanent = re.sub(r"\[[#-]+\][^\n]*?(\r\033\[K|$)", "", text)
    assert permanent.splitlines() == ["epoch 1/4  loss 0.5000  5.00M samples/s",
                                      "epoch 2/4  loss 0.2500  5.00M samples/s"]


def test_progress_quiet_and_thinned():
    stream = io.StringIO()
    quiet = Progress(5, stream=stream, mode="quiet")
    quiet.update(1, loss=1.0, seconds=1.0, n_samples=10)
    assert stream.getvalue() == "" and quiet.samples_per_second == 10
    thinned = Progress(1000, stream=stream, mode="lines")
    for epoch in range(1, 1001):
        thinned.update(epoch, loss=1.0, seconds=1.0, n_samples=10)
    epochs = [int(line.split()[1].split("/")[0]) for line in stream.getvalue().splitlines()]
    assert epochs == [1] + list(range(40, 1001, 40))
    assert Progress(100, mode="lines").every == 1 and Progress(7, mode="lines", every=3).every == 3
    with pytest.raises(ValueError, match="every must be >= 1"):
        Progress(1, every=0)
    with pytest.raises(ValueError, match="progress mode"):
        Progress(1, mode="fancy")


def test_progress_bar_on_a_real_terminal():
    """Under a pseudo-terminal the bar is drawn and erased; the per-epoch lines and the result stay."""
    pty = pytest.importorskip("pty")
    controller, terminal = pty.openpty()
    child = subprocess.Popen([sys.executable, "-m", "fastmlp", "train", "and", "--epochs", "40"],
                             stdout=terminal, stderr=subprocess.PIPE, text=True, env=child_env())
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    errors = child.communicate(timeout=300)[1]
    os.close(controller)
    assert child.returncode == 0, errors
    text = b"".join(chunks).decode()
    assert "[####" in text and "ETA" in text and "\r\x1b[K" in text
    assert re.search(r"(^|\x1b\[K)epoch 40/40  loss \S+  \S+ samples/s\r\n", text, re.M)
    assert "test accuracy 1.0000 on 4 samples" in text


def test_an_epoch_timed_at_zero_seconds_and_epoch_zero():
    stream = FakeTerminal()
    progress = Progress(3, stream=stream)
    progress.update(1, loss=0.5, seconds=0.0, n_samples=10)  # a coarse clock: "infM samples/s" before
    assert "inf" not in stream.getvalue() and "loss 0.5000  - samples/s" in stream.getvalue()
    with pytest.raises(ValueError, match="epochs are counted from 1, got 0"):  # ZeroDivisionError before
        progress.update(0, loss=0.5, seconds=1.0, n_samples=10)
