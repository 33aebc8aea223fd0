"""CI check: build a small offline dashboard from a quick asv run, serve it, and make sure it renders.

    python scripts/check_dashboard.py [--commits 2] [--bench REGEX]

Times the last two commits of main with ``asv run --quick`` on one benchmark class, publishes with
the npm copies of asv's libraries (scripts/dashboard.py), serves the site on 127.0.0.1 and loads a
benchmark's graph page in headless Chromium. Passes when the page drew flot graphs (canvas elements
in the DOM, coloured plot lines in the screenshot) and did not fall back to asv's error page.
Results, site and screenshot go to artifacts/dashboard-check/ (gitignored), apart from .asv/results.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dashboard

ROOT = dashboard.ROOT
ARTIFACTS = ROOT / "artifacts" / "dashboard-check"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--window-size=1400,1000",
]
# Default: the forward kernel only, whose setup compiles a single kernel: a quick run is seconds.
DEFAULT_BENCH = r"bench_kernels\.Forward\.time_forward"
ERROR_PAGE_TEXT = "Can not determine continental origin of swallow"


def current_branch() -> str:
    """main when the checkout has it (asv.conf.json graphs main), else the branch checked out."""
    git = ["git", "-C", str(ROOT), "rev-parse"]
    if subprocess.run(git + ["--verify", "-q", "refs/heads/main"], capture_output=True).returncode == 0:
        return "main"
    return subprocess.run(git + ["--abbrev-ref", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()


def check_config(branch: str) -> Path:
    """asv.conf.json with results and site under artifacts/ (the environments stay shared in .asv/env)."""
    conf = dashboard.load_config(dashboard.CONFIG)
    conf.update(
        branches=[branch],
        repo=str(ROOT),
        benchmark_dir=str(ROOT / conf["benchmark_dir"]),
        env_dir=str(ROOT / conf["env_dir"]),
        results_dir=str(ARTIFACTS / "results"),
        html_dir=str(ARTIFACTS / "html"),
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "asv.conf.json"
    path.write_text(json.dumps(conf, indent=2))
    return path


def chromium(args: list[str], profile: str, timeout: float = 120) -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        raise SystemExit("chromium is not installed (apt-get install chromium; bash run.sh test installs it)")
    command = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise SystemExit(f"chromium failed ({result.returncode}): {result.stderr[-2000:]}")
    return result.stdout


def plot_pixels(png: Path) -> int:
    """Pixels of strongly coloured ink: flot's series lines and points (the page chrome is grey and white)."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(png).convert("RGB"), dtype=np.int16)  # (height, width, 3)
    return int(((pixels.max(axis=2) - pixels.min(axis=2)) > 100).sum())


def check_page(url: str, screenshot: Path, min_ink: int = 1000, budget_ms: int = 15000) -> list[str]:
    """Load ``url`` twice in headless Chromium (DOM dump, screenshot); return what is wrong, if anything.

    ``min_ink``: coloured pixels the screenshot needs. The page chrome has about 400 (blue link text);
    a graph of two commits draws thousands; asv's error page none.
    """
    problems = []
    with tempfile.TemporaryDirectory(prefix="fastmlp-chromium-") as profile:
        dom = chromium([f"--virtual-time-budget={budget_ms}", "--dump-dom", url], profile)
    (screenshot.parent / (screenshot.stem + ".html")).write_text(dom)
    if ERROR_PAGE_TEXT in dom or "<title>airspeed velocity error</title>" in dom:
        problems.append("the page redirected to asv's error page (a JavaScript library failed to load)")
    canvases = dom.count('class="flot-base"')
    if canvases == 0:
        problems.append("no flot graph canvas in the DOM")
    with tempfile.TemporaryDirectory(prefix="fastmlp-chromium-") as profile:
        chromium([f"--virtual-time-budget={budget_ms}", f"--screenshot={screenshot}", url], profile)
    inked = plot_pixels(screenshot) if screenshot.is_file() else 0
    if inked < min_ink:
        problems.append(f"the screenshot has only {inked} coloured pixels: no plotted series")
    print(f"[check] {url}: {canvases} graph canvases, {inked} coloured pixels, screenshot {screenshot}")
    return problems


def first_benchmark(site: Path, bench: str) -> str:
    """Name of the first published benchmark that matches ``bench``."""
    names = sorted(json.loads((site / "index.json").read_text())["benchmarks"])
    matching = [name for name in names if re.search(bench, name)]
    if not matching:
        raise SystemExit(f"no published benchmark matches {bench!r}; published: {names}")
    return matching[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=2)
    parser.add_argument("--bench", default=DEFAULT_BENCH)
    parser.add_argument("--skip-run", action="store_true", help="reuse the site already built in artifacts/")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    branch = current_branch()
    config = check_config(branch)
    site = dashboard.html_dir(config)
    if not args.skip_run:
        # A check of the page, not of the numbers: a fresh results directory each time.
        shutil.rmtree(ARTIFACTS / "results", ignore_errors=True)
        shutil.rmtree(site, ignore_errors=True)
        code = dashboard.build(config, args.commits, args.bench, quick=True, branch=branch)
        if code != 0:
            print(f"[check] FAIL: asv run exited {code}", file=sys.stderr)
            return 1
    server = dashboard.make_server(site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        name = first_benchmark(site, args.bench)
        problems = check_page(base + "#" + name, ARTIFACTS / "graph.png")
        # The summary grid: one thumbnail graph per benchmark (thin lines: the DOM is the evidence).
        problems += check_page(base, ARTIFACTS / "summary.png", min_ink=0)
    finally:
        server.shutdown()
    seconds = time.perf_counter() - began
    if problems:
        for problem in problems:
            print(f"[check] FAIL: {problem}", file=sys.stderr)
        return 1
    print(f"[check] OK: the dashboard renders offline ({seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
