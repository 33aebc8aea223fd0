"""Two-rank jobs (tests/distributed/mpi_job.py) started with mpiexec, in which one rank fails: every rank
must end with a clear message within a timeout, never hang. Also: a job repeats its weights run to run,
and a job interrupted with Ctrl-C resumes to the uninterrupted weights."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numba
import pytest

JOB = Path(__file__).with_name("mpi_job.py")
ROOT = Path(__file__).resolve().parents[2]
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable))
#: Seconds any of these jobs may take (each trains for about a second once the kernels are cached).
DEADLINE = 120

pytestmark = [
    pytest.mark.skipif(MPIEXEC is None, reason="needs mpiexec (pip install mpich mpi4py)"),
    pytest.mark.skipif(int(os.environ.get("PMI_SIZE", os.environ.get("OMPI_COMM_WORLD_SIZE", "1"))) > 1,
                       reason="starts its own mpiexec: not from inside an MPI job"),
    pytest.mark.skipif(numba.config.DISABLE_JIT, reason="NUMBA_DISABLE_JIT=1: the jobs would train as Python"),
]


def _env(**extra) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_DISABLE_JIT"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def _start(*args, launcher=(), **env) -> subprocess.Popen:
    command = [MPIEXEC, *launcher, "-n", "2", sys.executable, str(JOB), *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(**env),
                            start_new_session=True)  # its own process group: a hung job is killed whole


def _finish(job: subprocess.Popen) -> str:
    """The job's output once it ends; a job still running after DEADLINE seconds is killed and fails the test."""
    try:
        return job.communicate(timeout=DEADLINE)[0]
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)
        output = job.communicate()[0]
        pytest.fail(f"the job hung for {DEADLINE} s:\n{output}")


def _run(*args, launcher=(), **env) -> tuple[int, str, float]:
    began = time.monotonic()
    job = _start(*args, launcher=launcher, **env)
    output = _finish(job)
    return job.returncode, output, time.monotonic() - began


def _weights(output: str) -> str:
    found = re.findall(r"^weights (\w+)$", output, re.MULTILINE)
    assert len(found) == 1, output
    return found[0]


def test_the_same_job_gives_the_same_weights_run_to_run():
    first, second = _run(), _run()
    assert first[0] == second[0] == 0, first[1] + second[1]
    assert _weights(first[1]) == _weights(second[1])


def test_a_rank_that_raises_stops_every_rank_with_its_message():
    code, output, seconds = _run("--fail", "raise", "--epochs", "50")
    assert code != 0
    assert "RuntimeError: rank 1 broke on purpose" in output  # rank 1's own traceback
    assert "RankError: rank 1 of 2 stopped the fit: RuntimeError: rank 1 broke on purpose" in output  # rank 0's
    assert "epoch 3" not in output and "weights" not in output


def test_a_killed_rank_ends_the_job():
    # mpiexec (MPICH's hydra) ends every rank when one dies, and names the signal.
    code, output, seconds = _run("--fail", "kill", "--epochs", "50")
    assert code != 0 and "weights" not in output
    assert "Killed (signal 9)" in output


def test_a_killed_rank_ends_the_job_also_when_the_launcher_lets_the_others_run():
    # Without hydra's clean-up either MPICH notices the lost connection and aborts the survivor, or the
    # survivor gives up at its next sync after FASTMLP_SYNC_TIMEOUT seconds (which one depends on timing).
    code, output, seconds = _run("--fail", "kill", "--epochs", "50", launcher=["-disable-auto-cleanup"],
                                 FASTMLP_SYNC_TIMEOUT="5")
    assert code != 0 and "weights" not in output
    assert seconds < 60


def test_a_rank_that_stops_answering_times_out_the_others(tmp_path):
    report = tmp_path / "report"
    code, output, seconds = _run("--fail", "stop", "--epochs", "50", "--report", str(report),
                                 FASTMLP_SYNC_TIMEOUT="5")
    assert code != 0 and "weights" not in output
    survivor = Path(f"{report}.rank0").read_text()
    assert re.match(r"RankError: rank 0 of 2: no answer from the other ranks for 5 s while averaging", survivor)
    assert 5 < seconds < 60


def test_a_divergence_stops_every_rank_with_divergence_error():
    code, output, seconds = _run("--fail", "diverge")
    assert code != 0
    assert output.count("DivergenceError: training diverged in epoch 1") == 2, output
    assert "RankError" not in output


def test_ctrl_c_stops_every_rank_and_the_checkpoint_resumes_to_the_same_weights(tmp_path):
    code, output, _ = _run("--epochs", "6")
    assert code == 0, output
    uninterrupted = _weights(output)

    checkpoint = str(tmp_path / "run.npz")
    job = _start("--epochs", "6", "--epoch-seconds", "0.5", "--checkpoint", checkpoint)
    lines = []
    for line in job.stdout:  # wait until two epochs are done, then press Ctrl-C (mpiexec passes it on)
        lines.append(line)
        if line.startswith("epoch 2"):
            break
    began = time.monotonic()
    job.send_signal(signal.SIGINT)
    rest = _finish(job)
    output = "".join(lines) + rest
    assert job.returncode != 0 and "weights" not in output
    assert output.count("KeyboardInterrupt") >= 2, output  # both ranks were interrupted
    assert time.monotonic() - began < 30

    code, output, _ = _run("--epochs", "6", "--checkpoint", checkpoint, "--resume", checkpoint)
    assert code == 0, output
    assert _weights(output) == uninterrupted
