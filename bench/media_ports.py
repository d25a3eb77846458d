"""What a call's media legs cost to open and close: RelayEngine.allocate_leg + release.

Every call Ringfort relays opens two legs (an RTP/RTCP port pair each: a datagram
transport for RTP, a bare socket for RTCP) and closes them when it ends. This
measures the CPU (user plus system) of doing that in a loop on 127.0.0.1, with
about 100 calls' legs open at a time, under uvloop as the server runs, and prints
microseconds per leg. Compare with the CPU a whole call costs (`calls_cps.sh`) to
see what pooling the sockets could save at most.

    .venv/bin/python bench/media_ports.py                  # 4,000 legs, 3 rounds
    .venv/bin/python bench/media_ports.py --legs 10000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import time

import uvloop

from ringfort.media.relay import RelayEngine

PORT_LOW, PORT_HIGH = 42000, 45999
"""Above the test suite's ranges; 2,000 pairs, more than are ever open here."""


async def one_round(legs: int, open_at_once: int) -> float:
    """CPU seconds per leg for ``legs`` allocations and releases."""
    engine = RelayEngine(host="127.0.0.1", port_low=PORT_LOW, port_high=PORT_HIGH, rtp_timeout=30.0)
    opened: collections.deque = collections.deque()
    started = time.process_time()
    for number in range(legs):
        opened.append(await engine.allocate_leg(f"bench-{number}"))
        if len(opened) > open_at_once:
            await engine.release(opened.popleft())
    while opened:
        await engine.release(opened.popleft())
    # The RTP transports report their closing on the next loop turns.
    await asyncio.sleep(0.05)
    spent = time.process_time() - started
    await engine.close()
    return spent / legs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--legs", type=int, default=4000, help="legs per round (4000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (3)")
    parser.add_argument("--open", type=int, default=200, help="legs open at a time (200)")
    args = parser.parse_args()
    print(f"{args.legs} legs a round, {args.open} open at a time, uvloop")
    for round_number in range(1, args.rounds + 1):
        per_leg = uvloop.run(one_round(args.legs, args.open))
        print(f"round {round_number}: {per_leg * 1e6:6.1f} us CPU per leg (allocate + release)")


if __name__ == "__main__":
    main()
