"""Build fastmlp's asv dashboard so that it works offline, and serve it on 127.0.0.1.

    python scripts/dashboard.py build [--commits N] [--bench REGEX] [--quick]
    python scripts/dashboard.py serve [--port 8080]

``build`` times the last N commits of main with asv (commits already timed are skipped), runs
``asv publish``, then fetches the JavaScript and CSS libraries that asv's page loads from public CDNs
from the npm registry (same versions) and points the page at those copies. Nothing third-party is
kept in the repository: the libraries live only in the built site (.asv/html/vendor/).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "asv.conf.json"
ASV = [sys.executable, "-m", "asv"]

# What asv 0.6's index.html loads from CDNs: (file name in the CDN URL, npm package, file in the
# package, path in the site). flot is on npm only unminified; stupidtable only as 1.1.3 (asv asks
# the CDN for 1.0.1; the plugin's API asv uses is the same).
VENDOR = [
    ("jquery-3.3.1.min.js", "jquery@3.3.1", "dist/jquery.min.js", "vendor/jquery.min.js"),
    ("jquery.flot.min.js", "flot@0.8.3", "jquery.flot.js", "vendor/flot/jquery.flot.js"),
    ("jquery.flot.time.min.js", "flot@0.8.3", "jquery.flot.time.js", "vendor/flot/jquery.flot.time.js"),
    ("jquery.flot.selection.min.js", "flot@0.8.3", "jquery.flot.selection.js", "vendor/flot/jquery.flot.selection.js"),
    ("jquery.flot.categories.min.js", "flot@0.8.3", "jquery.flot.categories.js",
     "vendor/flot/jquery.flot.categories.js"),
    ("jquery.flot.orderBars.js", "flot-orderbars@1.0.0", "js/jquery.flot.orderBars.js",
     "vendor/flot/jquery.flot.orderBars.js"),
    ("stupidtable.min.js", "stupid-table-plugin@1.1.3", "stupidtable.min.js", "vendor/stupidtable.min.js"),
    ("md5.min.js", "blueimp-md5@2.19.0", "js/md5.min.js", "vendor/md5.min.js"),
    ("bootstrap.min.js", "bootstrap@3.1.1", "dist/js/bootstrap.min.js", "vendor/bootstrap/js/bootstrap.min.js"),
    ("bootstrap.min.css", "bootstrap@3.1.1", "dist/css/bootstrap.min.css",
     "vendor/bootstrap/css/bootstrap.min.css"),
]
# bootstrap.min.css loads its icon font from ../fonts/ relative to itself.
BOOTSTRAP_FONTS = ("bootstrap@3.1.1", "dist/fonts", "vendor/bootstrap/fonts")

# A <script src="http..."> or <link href="http..."> tag of the page.
EXTERNAL_TAG = re.compile(r"""<(script|link)\b[^>]*?\b(src|href)="(https?://[^"]+)"[^>]*>""")
# Attributes that pin the CDN copy (its hash, its CORS mode): meaningless for a file served locally.
CDN_ATTRIBUTES = re.compile(r"""\s+(integrity|crossorigin|referrerpolicy)="[^"]*\"""")


def log(message: str) -> None:
    print(f"[dashboard] {message}", flush=True)


def load_config(config: Path) -> dict:
    """asv.conf.json as a dict (asv allows // comments, so read it with asv's own loader)."""
    from asv.util import load_json

    return load_json(str(config), js_comments=True)


def html_dir(config: Path) -> Path:
    return (config.parent / load_config(config)["html_dir"]).resolve()


def ensure_machine() -> None:
    """asv needs a description of this machine before it runs; record the defaults once."""
    if not (Path.home() / ".asv-machine.json").exists():
        subprocess.run(ASV + ["machine", "--yes"], check=True, stdout=subprocess.DEVNULL)


def last_commits(n: int, branch: str = "main") -> list[str]:
    """Hashes of the last ``n`` commits on ``branch``'s first-parent line, newest first."""
    out = subprocess.run(["git", "-C", str(ROOT), "rev-list", "--first-parent", "-n", str(n), branch],
                         check=True, capture_output=True, text=True).stdout
    return out.split()


def run_benchmarks(config: Path, commits: list[str], bench: str | None, quick: bool) -> int:
    """asv run on the given commits; returns asv's exit code (2 when some benchmark failed)."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as hashes:
        hashes.write("\n".join(commits) + "\n")
    command = ASV + ["run", "--config", str(config), "--skip-existing", "--show-stderr", f"HASHFILE:{hashes.name}"]
    if bench:
        command += ["--bench", bench]
    if quick:
        command.append("--quick")
    log(" ".join(command[2:]))
    try:
        return subprocess.run(command, cwd=config.parent).returncode
    finally:
        Path(hashes.name).unlink()


def npm_fetch(packages: set[str], into: Path) -> dict[str, Path]:
    """Fetch ``name@version`` tarballs from the npm registry (npm checks their integrity); unpack each."""
    into.mkdir(parents=True, exist_ok=True)
    roots = {}
    for spec in sorted(packages):
        result = subprocess.run(["npm", "pack", spec, "--silent", "--pack-destination", str(into)],
                                check=True, capture_output=True, text=True, cwd=into)
        tarball = into / result.stdout.strip().splitlines()[-1]
        root = into / spec.replace("@", "-").replace("/", "-")
        with tarfile.open(tarball) as archive:
            archive.extractall(root, filter="data")
        roots[spec] = root / "package"
    return roots


def vendor(site: Path) -> None:
    """Copy the CDN libraries from npm into the site and point index.html at them."""
    index = site / "index.html"
    page = index.read_text()
    wanted = {name: (spec, source, target) for name, spec, source, target in VENDOR}
    needed = set()
    for match in EXTERNAL_TAG.finditer(page):
        name = match.group(3).rsplit("/", 1)[-1]
        if name not in wanted:
            raise SystemExit(f"asv's index.html loads {match.group(3)}, which scripts/dashboard.py does not "
                             "know how to fetch from npm: add it to VENDOR")
        needed.add(name)
    if not needed:
        log("index.html loads nothing from CDNs (already rewritten?)")
        return
    with tempfile.TemporaryDirectory(prefix="fastmlp-npm-") as tmp:
        roots = npm_fetch({wanted[name][0] for name in needed} | {BOOTSTRAP_FONTS[0]}, Path(tmp))
        for name in needed:
            spec, source, target = wanted[name]
            (site / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(roots[spec] / source, site / target)
        spec, source, target = BOOTSTRAP_FONTS
        shutil.copytree(roots[spec] / source, site / target, dirs_exist_ok=True)

    def local(match: re.Match) -> str:
        tag = match.group(0).replace(match.group(3), wanted[match.group(3).rsplit("/", 1)[-1]][2])
        return CDN_ATTRIBUTES.sub("", tag)

    page = EXTERNAL_TAG.sub(local, page)
    leftover = EXTERNAL_TAG.search(page)
    if leftover:
        raise SystemExit(f"index.html still loads {leftover.group(3)}")
    index.write_text(page)
    log(f"{len(needed)} libraries fetched from npm into {site / 'vendor'}")


def build(config: Path = CONFIG, commits: int = 5, bench: str | None = None, quick: bool = False,
          branch: str = "main") -> int:
    """Time the last ``commits`` commits, publish, make the site work offline; returns asv run's exit code."""
    ensure_machine()
    code = run_benchmarks(config, last_commits(commits, branch), bench, quick)
    if code not in (0, 2):
        raise SystemExit(f"asv run failed with exit code {code}")
    if code == 2:
        log("asv run: some benchmarks failed (exit 2); publishing the results that exist")
    subprocess.run(ASV + ["publish", "--config", str(config)], check=True, cwd=config.parent)
    site = html_dir(config)
    vendor(site)
    log(f"dashboard built in {site}; serve it with: python scripts/dashboard.py serve")
    return code


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def make_server(site: Path, port: int = 0) -> http.server.ThreadingHTTPServer:
    """An HTTP server for ``site`` bound to 127.0.0.1 only (``port`` 0 picks a free port)."""
    if not (site / "index.html").is_file():
        raise SystemExit(f"no dashboard in {site}: build it first (python scripts/dashboard.py build)")
    handler = functools.partial(QuietHandler, directory=str(site))
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)


def serve(config: Path = CONFIG, port: int = 8080) -> None:
    server = make_server(html_dir(config), port)
    log(f"serving {html_dir(config)} at http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=CONFIG, help="asv config (default: asv.conf.json)")
    commands = parser.add_subparsers(dest="command", required=True)
    build_parser = commands.add_parser("build", help="time the last N commits, publish, fetch the libraries")
    build_parser.add_argument("--commits", type=int, default=5, help="commits of main to time (default 5)")
    build_parser.add_argument("--branch", default="main")
    build_parser.add_argument("--bench", help="only benchmarks matching this regex (asv run --bench)")
    build_parser.add_argument("--quick", action="store_true", help="one sample per benchmark (asv run --quick)")
    serve_parser = commands.add_parser("serve", help="serve the built dashboard on 127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    config = args.config.resolve()
    if args.command == "build":
        build(config, args.commits, args.bench, args.quick, args.branch)
    else:
        serve(config, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
