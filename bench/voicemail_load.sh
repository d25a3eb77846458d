#!/usr/bin/env bash
# Voicemail load: N callers leaving a message at once, each a known length of tone;
# checks that every message is stored whole (see bench/calls/voicemail_load.py).
#
#   bench/voicemail_load.sh                                # 50 callers, 10 mailboxes, 5 s
#   bench/voicemail_load.sh --callers 100 --mailboxes 1 --seconds 8
#   bench/voicemail_load.sh --help
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/calls/run_driver.sh" voicemail_load.py "$@"
