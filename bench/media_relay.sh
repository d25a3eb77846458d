#!/usr/bin/env bash
# Media relay load: N concurrent calls streaming G.711 both ways through Ringfort
# (see bench/calls/media_load.py).
#
#   bench/media_relay.sh                                  # 50, 100, 200, 400 calls, 20 s each
#   bench/media_relay.sh --calls 100,300 --ptime 30       # other loads, 30 ms packets
#   bench/media_relay.sh --help
exec "$(dirname "${BASH_SOURCE[0]}")/calls/run_driver.sh" media_load.py "$@"
