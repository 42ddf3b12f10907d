"""One connection's protocol state without sockets: commands in, effects out."""

from __future__ import annotations

from modules.mod_event_socket.listener import (
    AuthResult,
    Close,
    ConnectReply,
    FireEvent,
    GetVar,
    ListenerState,
    Phase,
    Reply,
    RunApi,
    RunBgApi,
    SendMsg,
)
from switchcore.eslwire import Command, EventFormat
from switchcore.events import Event

CALL = "0d3d9fd4-7b3a-4c8c-9a35-3a8f3a3a0e11"


def authed(**kwargs: object) -> ListenerState:
    state = ListenerState("secret", **kwargs)  # type: ignore[arg-type]
    state.handle(Command("auth secret"))
    return state


def texts(effects: list[object]) -> list[str]:
    return [e.text for e in effects if isinstance(e, Reply)]


def test_auth_moves_to_ready_and_a_wrong_password_closes() -> None:
    state = ListenerState("secret")
    assert state.handle(Command("auth secret")) == [AuthResult(True), Reply("+OK accepted")]
    assert state.phase is Phase.READY
    state = ListenerState("secret")
    assert state.handle(Command("auth nope")) == [AuthResult(False), Reply("-ERR invalid"), Close()]
    assert state.phase is Phase.CLOSED
    assert state.handle(Command("api status")) == []


def test_exit_works_before_auth() -> None:
    state = ListenerState("secret")
    assert texts(state.handle(Command("exit"))) == ["+OK bye"]
    assert state.phase is Phase.CLOSED


def test_api_and_bgapi_effects() -> None:
    state = authed()
    assert state.handle(Command("api show channels")) == [RunApi("show", "channels")]
    effects = state.handle(Command("bgapi originate loopback/1 &park()", (("Job-UUID", "j1"),)))
    assert effects == [Reply("+OK Job-UUID: j1", (("Job-UUID", "j1"),)), RunBgApi("originate", "loopback/1 &park()", "j1")]
    assert state.handle(Command("api unload mod_event_socket")) == [RunApi("unload", "mod_event_socket", detach=True)]


def test_event_subscription_rules() -> None:
    state = authed()
    assert texts(state.handle(Command("event json CHANNEL_CREATE CUSTOM a::b CHANNEL_ANSWER"))) == [
        "+OK event listener enabled json"
    ]
    assert state.format is EventFormat.JSON
    # After CUSTOM every word is a subclass, as in FreeSWITCH: CHANNEL_ANSWER is one too.
    assert state.subclasses == {"a::b", "CHANNEL_ANSWER"}
    assert state.wants(Event.create("CHANNEL_CREATE"))
    assert not state.wants(Event.create("CHANNEL_ANSWER"))
    assert state.wants(Event.create("CUSTOM", "a::b"))
    assert not state.wants(Event.create("CUSTOM", "x::y"))


def test_nixevent_from_all_keeps_the_rest() -> None:
    state = authed()
    state.handle(Command("event plain all"))
    state.handle(Command("nixevent HEARTBEAT"))
    assert not state.wants(Event.create("HEARTBEAT"))
    assert state.wants(Event.create("CHANNEL_CREATE"))


def test_filters_positive_negative_and_regex() -> None:
    state = authed()
    state.handle(Command("event plain ALL"))
    state.handle(Command("filter Event-Name /^CHANNEL_/"))
    state.handle(Command("filter Event-Name -CHANNEL_STATE"))
    assert state.wants(Event.create("CHANNEL_CREATE"))
    assert not state.wants(Event.create("CHANNEL_STATE"))
    assert not state.wants(Event.create("HEARTBEAT"))
    state.handle(Command("filter delete all"))
    assert state.wants(Event.create("HEARTBEAT"))


def test_myevents_keeps_one_call_and_its_background_jobs() -> None:
    state = authed(exists=lambda uuid: uuid == CALL)
    assert texts(state.handle(Command(f"myevents {CALL} json"))) == ["+OK Events Enabled"]
    assert state.format is EventFormat.JSON
    assert state.wants(Event.create("CHANNEL_ANSWER", **{"Unique-ID": CALL}))
    assert not state.wants(Event.create("CHANNEL_ANSWER", **{"Unique-ID": "other"}))
    state.handle(Command("event plain BACKGROUND_JOB"))
    assert state.wants(Event.create("BACKGROUND_JOB", **{"Job-Owner-UUID": CALL}))
    assert not state.wants(Event.create("BACKGROUND_JOB"))


def test_sendmsg_targets() -> None:
    state = authed(exists=lambda uuid: uuid == CALL)
    msg = Command(f"sendmsg {CALL}", (("call-command", "hangup"),))
    assert state.handle(msg) == [SendMsg(CALL, msg, wait=False)]
    assert texts(state.handle(Command("sendmsg nope"))) == ["-ERR invalid session id [nope]"]
    by_header = Command("sendmsg", (("session-id", CALL),))
    assert state.handle(by_header) == [SendMsg(CALL, by_header, wait=False)]


def test_outbound_static_waits_and_single_channel_is_limited() -> None:
    state = ListenerState.for_outbound(CALL, full=False, async_mode=False)
    assert state.handle(Command("connect")) == [ConnectReply()]
    msg = Command("sendmsg", (("call-command", "execute"), ("execute-app-name", "answer")))
    assert state.handle(msg) == [SendMsg(CALL, msg, wait=True)]
    assert state.handle(Command("getvar foo")) == [GetVar("foo")]
    assert texts(state.handle(Command("api status"))) == ["-ERR command not found"]
    assert texts(state.handle(Command("linger 5"))) == ["-ERR command not found"]
    full = ListenerState.for_outbound(CALL, full=True, async_mode=True)
    assert texts(full.handle(Command("linger 5"))) == ["+OK will linger 5 seconds"]
    assert full.handle(msg) == [SendMsg(CALL, msg, wait=False)]


def test_sendevent_builds_the_event() -> None:
    state = authed()
    effects = state.handle(Command("sendevent CUSTOM", (("Event-Subclass", "x::y"), ("A", "1")), "body"))
    fire = effects[0]
    assert isinstance(fire, FireEvent)
    assert fire.name == "CUSTOM"
    assert ("Event-Subclass", "x::y") in fire.headers
    assert fire.body == "body"
    assert texts(state.handle(Command("sendevent NOT_AN_EVENT"))) == ["-ERR invalid event name [NOT_AN_EVENT]"]
    assert texts(state.handle(Command("sendevent CUSTOM"))) == ["-ERR a CUSTOM event needs an Event-Subclass header"]


def test_log_replies_as_freeswitch() -> None:
    state = authed()
    assert texts(state.handle(Command("log"))) == ["+OK log level  [7]"]
    assert texts(state.handle(Command("log 4"))) == ["+OK log level 4 [4]"]
    assert state.wants_log(3) and not state.wants_log(6)
