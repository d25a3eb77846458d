#!/usr/bin/env bash
# Calls per second through Ringfort's B2BUA, SIPp to SIPp (see bench/calls/cps.py).
#
#   bench/calls_cps.sh                                   # 100..350 calls/s, 30 s each
#   bench/calls_cps.sh --duration 10 --rates 100,200     # shorter
#   bench/calls_cps.sh --help
exec "$(dirname "${BASH_SOURCE[0]}")/calls/run_driver.sh" cps.py "$@"
