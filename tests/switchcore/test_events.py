import asyncio

import pytest

from switchcore.events import Event, EventBus


def test_create_fills_standard_headers_in_freeswitch_order():
    event = Event.create("HEARTBEAT", **{"Event-Info": "System Ready"})
    names = list(event.headers)
    assert names[0] == "Event-Name"
    for header in (
        "Core-UUID",
        "FreeSWITCH-Hostname",
        "Event-Date-Local",
        "Event-Date-GMT",
        "Event-Date-Timestamp",
        "Event-Sequence",
    ):
        assert header in event.headers
    assert event.get("Event-Info") == "System Ready"


def test_custom_needs_a_subclass_and_unknown_names_are_refused():
    with pytest.raises(ValueError):
        Event.create("CUSTOM")
    with pytest.raises(ValueError):
        Event.create("NOT_AN_EVENT")
    assert Event.create("CUSTOM", "sofia::register").subclass == "sofia::register"


async def test_subscribers_get_what_they_asked_for():
    bus = EventBus()
    answers = bus.subscribe(["CHANNEL_ANSWER"])
    regs = bus.subscribe(["CUSTOM"], ["sofia::register"])
    everything = bus.subscribe()
    bus.fire(Event.create("CHANNEL_ANSWER"))
    bus.fire(Event.create("CUSTOM", "sofia::register"))
    bus.fire(Event.create("CUSTOM", "verto::login"))
    assert answers.queue.qsize() == 1
    assert regs.queue.qsize() == 1
    assert everything.queue.qsize() == 3


async def test_a_slow_subscriber_overflows_without_blocking_the_firer():
    bus = EventBus()
    flagged = []
    slow = bus.subscribe(maxsize=5, on_overflow=flagged.append)
    fast = bus.subscribe(maxsize=1000)
    for _ in range(100):
        bus.fire(Event.create("HEARTBEAT"))
    await asyncio.sleep(0)
    assert slow.queue.qsize() == 5
    assert slow.overflowed and slow.dropped == 95
    assert flagged == [slow]
    assert fast.queue.qsize() == 100
