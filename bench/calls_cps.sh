#!/usr/bin/env bash
# Calls per second through Ringfort's B2BUA, SIPp to SIPp (see bench/calls/cps.py).
#
#   bench/calls_cps.sh                                   # 100..350 calls/s, 30 s each
#   bench/calls_cps.sh --duration 10 --rates 100,200     # shorter
#   bench/calls_cps.sh --help
#
# The Python driver starts the server and every SIPp in sessions of their own and
# stops them by pid; this wrapper forwards an interrupt to it and waits for its cleanup.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
python=${PYTHON:-$root/.venv/bin/python}

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

"$python" "$here/calls/cps.py" "$@" &
driver=$!
wait "$driver"
