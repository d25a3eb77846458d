#!/usr/bin/env bash
# API under call load: the live panel state and month reports for 50 concurrent HTTP
# clients while 100 calls stream RTP through Ringfort (see bench/calls/api_load.py).
#
#   bench/api_load.sh                                          # 100 calls, 50 clients, 20 s
#   bench/api_load.sh --mix live=25,totals=9,agents=8,answered=8 --duration 30
#   bench/api_load.sh --help
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/calls/run_driver.sh" api_load.py "$@"
