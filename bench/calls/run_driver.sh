#!/usr/bin/env bash
# Runs one call bench driver (a Python script beside this file) in the project's venv:
#   bench/calls/run_driver.sh cps.py [options]
#
# The driver starts the server and its peers in sessions of their own and stops them by
# pid; this wrapper forwards an interrupt to it and waits for its cleanup.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$(dirname "$here")")
python=${PYTHON:-$root/.venv/bin/python}
script=$here/$1
shift

driver=""
cleanup() {
    if [[ -n "$driver" ]] && kill -0 "$driver" 2>/dev/null; then
        kill -TERM "$driver" 2>/dev/null || true
        wait "$driver" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$python" "$script" "$@" &
driver=$!
wait "$driver"
