"""The SIP transaction timer values of RFC 3261 §17 and Table 4, with RFC 6026's L and M."""

from __future__ import annotations

from dataclasses import dataclass

T1 = 0.5
"""RTT estimate, seconds (RFC 3261 §17.1.1.1)."""
T2 = 4.0
"""Longest retransmit interval for non-INVITE requests and INVITE responses (RFC 3261 §17.1.2.2)."""
T4 = 5.0
"""Longest time a message stays in the network (RFC 3261 §17.1.2.2)."""

TRYING_DELAY = 0.2
"""A server INVITE transaction answers 100 (Trying) itself when the TU has
been silent this long (RFC 3261 §17.2.1)."""

_UNRELIABLE_TIMER_D = 32.0
"""RFC 3261 §17.1.1.2: Timer D is "at least 32 seconds" for unreliable transports."""


@dataclass(frozen=True, slots=True)
class TimerValues:
    """T1, T2 and T4, and every transaction timer derived from them (RFC 3261 Table 4).

    A deployment may raise T1 on high-latency links (RFC 3261 §17.1.1.1 allows
    it); every derived value follows. Methods taking ``reliable`` return 0 where
    the RFC gives zero seconds for reliable transports: the state is left at once.
    """

    t1: float = T1
    """RTT estimate."""
    t2: float = T2
    """Cap on the retransmit interval of non-INVITE requests and INVITE responses."""
    t4: float = T4
    """Maximum time a message lingers in the network."""

    @property
    def timer_a(self) -> float:
        """First INVITE retransmit interval; it then doubles without cap (RFC 3261 §17.1.1.2)."""
        return self.t1

    @property
    def timer_b(self) -> float:
        """INVITE client transaction timeout (RFC 3261 §17.1.1.2)."""
        return 64 * self.t1

    def timer_d(self, *, reliable: bool) -> float:
        """Wait for retransmitted INVITE final responses (RFC 3261 §17.1.1.2).

        32 s is the RFC's figure for the default T1; it is a floor, so a larger
        T1 (and thus a longer server Timer H) lengthens it too.
        """
        return 0.0 if reliable else max(_UNRELIABLE_TIMER_D, 64 * self.t1)

    @property
    def timer_e(self) -> float:
        """First non-INVITE retransmit interval (RFC 3261 §17.1.2.2)."""
        return self.t1

    @property
    def timer_f(self) -> float:
        """Non-INVITE client transaction timeout (RFC 3261 §17.1.2.2)."""
        return 64 * self.t1

    @property
    def timer_g(self) -> float:
        """First INVITE final-response retransmit interval (RFC 3261 §17.2.1)."""
        return self.t1

    @property
    def timer_h(self) -> float:
        """Wait for the ACK of an INVITE failure response (RFC 3261 §17.2.1)."""
        return 64 * self.t1

    def timer_i(self, *, reliable: bool) -> float:
        """Wait for ACK retransmissions in Confirmed (RFC 3261 §17.2.1)."""
        return 0.0 if reliable else self.t4

    def timer_j(self, *, reliable: bool) -> float:
        """Wait for non-INVITE request retransmissions in Completed (RFC 3261 §17.2.2)."""
        return 0.0 if reliable else 64 * self.t1

    def timer_k(self, *, reliable: bool) -> float:
        """Wait for non-INVITE response retransmissions in Completed (RFC 3261 §17.1.2.2)."""
        return 0.0 if reliable else self.t4

    @property
    def timer_l(self) -> float:
        """Server INVITE transaction lingers in Accepted (RFC 6026 §7.1)."""
        return 64 * self.t1

    @property
    def timer_m(self) -> float:
        """Client INVITE transaction lingers in Accepted (RFC 6026 §7.2)."""
        return 64 * self.t1

    def backoff(self, previous: float) -> float:
        """Next Timer E or G interval: doubled, never beyond T2 (RFC 3261 §17.1.2.2, §17.2.1)."""
        return min(2 * previous, self.t2)


DEFAULT_TIMERS = TimerValues()
"""The RFC's defaults; a TimerValues is immutable, so one instance serves everyone."""
