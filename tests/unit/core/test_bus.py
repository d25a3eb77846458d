"""The in-process event bus."""

from dataclasses import dataclass

from ringfort.bus import EventBus


@dataclass(frozen=True)
class CallEvent:
    call_id: str


@dataclass(frozen=True)
class CallEnded(CallEvent):
    cause: str


def test_handlers_receive_events_of_their_type_and_subtypes() -> None:
    bus = EventBus()
    ended: list[CallEnded] = []
    any_call: list[CallEvent] = []
    bus.subscribe(CallEnded, ended.append)
    bus.subscribe(CallEvent, any_call.append)

    bus.publish(CallEvent("a"))
    bus.publish(CallEnded("b", "normal"))

    assert ended == [CallEnded("b", "normal")]
    assert any_call == [CallEvent("a"), CallEnded("b", "normal")]


def test_a_failing_handler_does_not_stop_the_others() -> None:
    bus = EventBus()
    seen: list[CallEvent] = []

    def broken(event: CallEvent) -> None:
        raise RuntimeError("boom")

    bus.subscribe(CallEvent, broken)
    bus.subscribe(CallEvent, seen.append)
    bus.publish(CallEvent("x"))
    assert seen == [CallEvent("x")]


def test_unsubscribe_stops_delivery() -> None:
    bus = EventBus()
    seen: list[CallEvent] = []
    cancel = bus.subscribe(CallEvent, seen.append)
    cancel()
    bus.publish(CallEvent("x"))
    assert seen == []
