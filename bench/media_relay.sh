#!/usr/bin/env bash
# Media relay load: N concurrent calls streaming G.711 both ways through Ringfort
# (see bench/calls/media_load.py).
#
#   bench/media_relay.sh                                  # 50, 100, 200, 400 calls, 20 s each
#   bench/media_relay.sh --calls 100,300 --ptime 30       # other loads, 30 ms packets
#   bench/media_relay.sh --help
#
# The Python driver starts the server in a session of its own and stops it by pid;
# this wrapper forwards an interrupt to it and waits for its cleanup.
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

"$python" "$here/calls/media_load.py" "$@" &
driver=$!
wait "$driver"
