"""Event channel bookkeeping: subscribe, unsubscribe, deliveries with per-subscriber serial numbers."""

from __future__ import annotations

from modules.mod_verto.events import EventChannels, broadcast_target, channel_list
from switchcore.events import Event


def allow_all(channel: str) -> bool:
    return True


def test_subscribe_reports_new_unauthorized_and_already_subscribed_channels():
    channels = EventChannels()
    first = channels.subscribe("a", ["demo", "secret"], lambda c: c != "secret")
    assert first.as_result() == {"subscribedChannels": ["demo"], "unauthorizedChannels": ["secret"]}
    again = channels.subscribe("a", ["demo"], allow_all)
    assert again.as_result() == {"alreadySubscribedChannels": ["demo"]}


def test_deliveries_reach_channel_and_main_channel_subscribers_once_with_their_own_serno():
    channels = EventChannels()
    channels.subscribe("a", ["conference"], allow_all)
    channels.subscribe("b", ["conference.3000"], allow_all)
    channels.subscribe("c", ["conference", "conference.3000"], allow_all)
    first = dict(channels.deliveries("conference.3000", {"eventChannel": "conference.3000", "data": 1}))
    assert set(first) == {"a", "b", "c"}
    assert first["a"]["subscribedChannel"] == "conference"
    assert first["b"]["subscribedChannel"] == "conference.3000"
    assert all(params["eventSerno"] == 0 for params in first.values())
    second = dict(channels.deliveries("conference.3000", {"data": 2}))
    assert second["b"]["eventSerno"] == 1
    assert dict(channels.deliveries("conference", {"data": 3})).keys() == {"a", "c"}


def test_unsubscribe_and_drop_forget_subscriptions():
    channels = EventChannels()
    channels.subscribe("a", ["x", "y"], allow_all)
    channels.subscribe("b", ["x"], allow_all)
    assert channels.unsubscribe("a", ["x", "z"]) == (["x"], ["z"])
    assert channels.drop("a") == 1
    assert channels.subscribers("x") == ["b"]
    assert channels.channels_of("a") == []
    assert len(channels) == 1


def test_event_channel_names_are_a_string_or_a_list_of_strings():
    assert channel_list("demo") == ["demo"]
    assert channel_list(["a", "b"]) == ["a", "b"]
    for bad in (None, "", [], ["a", 1], {"a": 1}, 5):
        assert channel_list(bad) is None


def test_the_bus_seam_names_its_channel():
    event = Event.create("CUSTOM", "verto::broadcast", **{"Event-Channel": "conference-liveArray.3000@dom"})
    assert broadcast_target(event) == "conference-liveArray.3000@dom"
    assert broadcast_target(Event.create("CUSTOM", "verto::login")) is None
