#!/usr/bin/env bash
# fastmlp's two entry points on a fresh machine (root, package registries reachable):
#   bash run.sh train [fastmlp train options]   install everything, train 784-100-10 on Fashion-MNIST
#   bash run.sh test  [pytest options]          install everything, run the full test suite
#   bash run.sh install                          install everything the tests need, run nothing
set -euo pipefail
cd "$(dirname "$0")"

install() {
    local debs=()
    [ -d /usr/share/datasets/fashion-mnist ] || debs+=(dataset-fashion-mnist)
    [ "${1:-}" = test ] && ! command -v chromium >/dev/null && debs+=(chromium)
    if [ ${#debs[@]} -gt 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${debs[@]}" >/dev/null
    fi
    [ -x .venv/bin/python ] || python3 -m venv .venv
    local log
    log=$(mktemp)
    if ! .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test,peers,plot,bench,onnx,mpi,dask]" >"$log" 2>&1; then
        cat "$log" >&2
        exit 1
    fi
    rm -f "$log"
}

command=${1:-train}
shift || true
case "$command" in
    train)
        install
        exec .venv/bin/fastmlp train "$@"
        ;;
    install)
        install test
        ;;
    test)
        install test
        exec .venv/bin/python -m pytest -W error "$@"
        ;;
    *)
        echo "usage: bash run.sh {train|test|install} [options]" >&2
        exit 2
        ;;
esac
