#!/usr/bin/env bash
# IVR load: N concurrent callers in a menu, each hearing a prompt Ringfort plays
# (see bench/calls/ivr_load.py).
#
#   bench/ivr_load.sh                               # 50, 100, 200 callers, 15 s each
#   bench/ivr_load.sh --calls 100,300 --duration 10
#   bench/ivr_load.sh --help
exec "$(dirname "${BASH_SOURCE[0]}")/calls/run_driver.sh" ivr_load.py "$@"
