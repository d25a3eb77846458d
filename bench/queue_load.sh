#!/usr/bin/env bash
# Queue load: callers waiting in a queue with music and announcements, SIPp agents
# answering and hanging up (see bench/calls/queue_load.py).
#
#   bench/queue_load.sh                                  # 100 callers, 20 agents, 30 s
#   bench/queue_load.sh --callers 50 --agents 10 --duration 20
#   bench/queue_load.sh --help
exec "$(dirname "${BASH_SOURCE[0]}")/calls/run_driver.sh" queue_load.py "$@"
