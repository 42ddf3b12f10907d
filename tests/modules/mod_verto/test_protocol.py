"""The sans-I/O Verto core: frames, limits, login, permissions and the connection table (no sockets)."""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType

import pytest

from modules.mod_verto.protocol import (
    CLOSE_TOO_BIG,
    CONNECTION_TRANSITIONS,
    AuthPolicy,
    Code,
    Connection,
    ConnEvent,
    ConnState,
    FrameRejected,
    Limits,
    LoginRequest,
    Permissions,
    Rejected,
    Reply,
    Request,
    RpcError,
    authenticate,
    encode,
    parse_frame,
    parse_login,
    result_reply,
)
from switchcore.directory import User
from switchcore.errors import InvalidTransition

from .schema_check import all_schema_names, check, validator

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "verto"


def user(uid: str = "1000", **params: str) -> User:
    return User(uid, "127.0.0.1", MappingProxyType(params), MappingProxyType({"user_context": "default"}))


USERS = {
    ("1000", "127.0.0.1"): user("1000", password="1234", **{"jsonrpc-allowed-methods": "verto"}),
    ("1002", "127.0.0.1"): user(
        "1002", password="sip", **{"jsonrpc-password": "web", "jsonrpc-allowed-methods": "verto"}
    ),
}


def lookup(uid: str, domain: str) -> User | None:
    return USERS.get((uid, domain))


POLICY = AuthPolicy(default_domain="127.0.0.1")


# ---- frames -----------------------------------------------------------------------------------


def test_a_request_parses_with_its_params_and_id():
    frame = parse_frame('{"jsonrpc":"2.0","method":"verto.ping","params":{"a":1},"id":7}')
    assert frame.messages == (Request("verto.ping", {"a": 1}, 7),)
    assert not frame.batch


def test_a_request_without_id_is_a_notification():
    (message,) = parse_frame('{"jsonrpc":"2.0","method":"verto.ping"}').messages
    assert isinstance(message, Request) and message.notification and message.params == {}


def test_non_json_is_invalid_request_with_null_id():
    (message,) = parse_frame("this is not json").messages
    assert message == Rejected(None, Code.INVALID_REQUEST, "Invalid Request")
    assert message.reply() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32600, "message": "Invalid Request"},
    }


@pytest.mark.parametrize(
    ("text", "ident", "code"),
    [
        ('{"method":"login","id":1}', 1, Code.INVALID_REQUEST),  # no jsonrpc member
        ('{"jsonrpc":"1.0","method":"login","id":2}', 2, Code.INVALID_REQUEST),
        ('{"jsonrpc":"2.0","method":5,"id":3}', 3, Code.INVALID_REQUEST),
        ('{"jsonrpc":"2.0","method":"","id":4}', 4, Code.INVALID_REQUEST),
        ('{"jsonrpc":"2.0","method":"login","params":[1,2],"id":5}', 5, Code.INVALID_PARAMS),
        ('{"jsonrpc":"2.0","method":"login","params":"x","id":6}', 6, Code.INVALID_PARAMS),
        ('{"jsonrpc":"2.0","method":"login","id":{"a":1}}', None, Code.INVALID_REQUEST),
        ('{"jsonrpc":"2.0","method":"login","id":true}', None, Code.INVALID_REQUEST),
        ('{"jsonrpc":"2.0","id":8}', 8, Code.INVALID_REQUEST),  # neither method nor result
        ("42", None, Code.INVALID_REQUEST),
        ("[]", None, Code.INVALID_REQUEST),
    ],
)
def test_malformed_messages_get_the_right_error(text, ident, code):
    (message,) = parse_frame(text).messages
    assert isinstance(message, Rejected)
    assert (message.id, message.code) == (ident, code)


def test_a_batch_keeps_order_and_mixes_good_and_bad_elements():
    frame = parse_frame(
        '[{"jsonrpc":"2.0","method":"a","id":1}, 5, {"jsonrpc":"2.0","id":9,"result":{"method":"verto.bye"}}]'
    )
    assert frame.batch
    assert frame.messages[0] == Request("a", {}, 1)
    assert isinstance(frame.messages[1], Rejected)
    assert frame.messages[2] == Reply(9, {"method": "verto.bye"}, None)


def test_frames_over_the_size_limit_are_rejected_with_1009():
    with pytest.raises(FrameRejected) as caught:
        parse_frame(
            '{"jsonrpc":"2.0","method":"x","params":{"pad":"' + "a" * 2000 + '"}}', Limits(max_frame=1000)
        )
    assert caught.value.close_code == CLOSE_TOO_BIG


@pytest.mark.parametrize("depth", [33, 5000, 200_000])
def test_deeply_nested_json_is_rejected_with_1009(depth):
    text = '{"jsonrpc":"2.0","method":"x","params":{"a":' + "[" * depth + "]" * depth + "}}"
    with pytest.raises(FrameRejected) as caught:
        parse_frame(text, Limits(max_frame=10 << 20, max_depth=32))
    assert caught.value.close_code == CLOSE_TOO_BIG


def test_nesting_up_to_the_limit_is_fine():
    text = '{"jsonrpc":"2.0","method":"x","params":{"a":' + "[" * 29 + "]" * 29 + "}}"
    assert isinstance(parse_frame(text, Limits(max_depth=32)).messages[0], Request)


def test_batches_over_the_limit_are_rejected_with_1009():
    batch = json.dumps([{"jsonrpc": "2.0", "method": "verto.ping", "id": i} for i in range(5)])
    with pytest.raises(FrameRejected):
        parse_frame(batch, Limits(max_batch=4))
    assert len(parse_frame(batch, Limits(max_batch=5)).messages) == 5


def test_encoding_is_compact_and_results_carry_the_sessid():
    reply = result_reply(3, {"message": "CALL CREATED", "callID": "c"}, "s1")
    assert (
        encode(reply)
        == '{"jsonrpc":"2.0","id":3,"result":{"message":"CALL CREATED","callID":"c","sessid":"s1"}}'
    )


# ---- login ------------------------------------------------------------------------------------


def test_login_without_credentials_asks_for_them():
    with pytest.raises(RpcError) as caught:
        parse_login({"sessid": "abc"})
    assert caught.value.code is Code.AUTH_REQUIRED
    assert caught.value.message == "Authentication Required"


def test_login_without_password_is_an_authentication_failure():
    with pytest.raises(RpcError) as caught:
        parse_login({"login": "1000@127.0.0.1"})
    assert caught.value.code is Code.AUTH_FAILED


@pytest.mark.parametrize("sessid", [5, "", "x" * 65, "has space", "semi;colon"])
def test_login_with_a_malformed_sessid_is_invalid_params(sessid):
    with pytest.raises(RpcError) as caught:
        parse_login({"login": "1000", "passwd": "1234", "sessid": sessid})
    assert caught.value.code is Code.INVALID_PARAMS


def test_login_without_sessid_gets_a_fresh_one():
    request = parse_login({"login": "1000@127.0.0.1", "passwd": "1234"})
    assert len(request.sessid) == 36


def test_good_credentials_log_in_with_the_users_permissions():
    result = authenticate(LoginRequest("1000@127.0.0.1", "1234", "s"), lookup, POLICY)
    assert result.ok and result.uid == "1000@127.0.0.1"
    assert result.permissions.allows_method("verto.invite")
    assert not result.permissions.allows_method("jsapi")


def test_wrong_password_and_unknown_user_give_the_same_result():
    wrong = authenticate(LoginRequest("1000@127.0.0.1", "nope", "s"), lookup, POLICY)
    unknown = authenticate(LoginRequest("9999@127.0.0.1", "nope", "s"), lookup, POLICY)
    assert wrong == unknown
    assert not wrong.ok


def test_jsonrpc_password_replaces_the_sip_password():
    assert authenticate(LoginRequest("1002@127.0.0.1", "web", "s"), lookup, POLICY).ok
    assert not authenticate(LoginRequest("1002@127.0.0.1", "sip", "s"), lookup, POLICY).ok


def test_force_register_domain_and_userauth_at_domain_choose_the_domain():
    assert authenticate(
        LoginRequest("1000@elsewhere", "1234", "s"), lookup, AuthPolicy(force_domain="127.0.0.1")
    ).ok
    assert authenticate(
        LoginRequest("1000@elsewhere", "1234", "s"), lookup, AuthPolicy(userauth="@127.0.0.1")
    ).ok
    assert not authenticate(LoginRequest("1000@elsewhere", "1234", "s"), lookup, POLICY).ok
    assert authenticate(LoginRequest("1000", "1234", "s"), lookup, POLICY).ok  # no domain: the default


def test_blind_reg_lets_unknown_users_in_and_root_needs_the_root_password():
    assert authenticate(LoginRequest("7777@127.0.0.1", "x", "s"), lookup, AuthPolicy(blind_reg=True)).ok
    assert not authenticate(LoginRequest("root", "x", "s"), lookup, POLICY).ok  # no root-password set
    root = AuthPolicy(root_password="secret", default_domain="127.0.0.1")
    assert authenticate(LoginRequest("root", "secret", "s"), lookup, root).ok
    assert not authenticate(LoginRequest("root", "Secret", "s"), lookup, root).ok


# ---- permissions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "allowed", "denied"),
    [
        ("verto", ["verto.invite", "verto.bye", "login"], ["jsapi", "echo", "fsapi"]),
        ("verto.ping,echo", ["verto.ping", "echo"], ["verto.invite"]),
        ("verto jsapi", ["verto.attach", "jsapi"], ["echo"]),
        ("__ANY__", ["verto.invite", "jsapi", "anything"], []),
        ("", ["login"], ["verto.invite", "verto.ping"]),
        (None, ["login"], ["verto.invite"]),
    ],
)
def test_allowed_methods_follow_set_perm(value, allowed, denied):
    params = {} if value is None else {"jsonrpc-allowed-methods": value}
    permissions = Permissions.of_user(user(**params))
    assert all(permissions.allows_method(m) for m in allowed)
    assert not any(permissions.allows_method(m) for m in denied)


def test_event_channel_permissions_allow_sub_channels_of_an_allowed_main_channel():
    permissions = Permissions.of_user(user(**{"jsonrpc-allowed-event-channels": "demo,conference"}))
    assert permissions.allows_channel("conference-liveArray.3000@dom") is False
    assert permissions.allows_channel("conference.3000")
    assert permissions.allows_channel("demo")
    assert not permissions.allows_channel("FSevent")


# ---- the connection table ---------------------------------------------------------------------


def test_only_login_passes_the_gate_before_login():
    conn = Connection()
    assert conn.gate(Request("login", {}, 1)) is None
    for method in ("verto.invite", "verto.ping", "echo", "no.such.method"):
        refused = conn.gate(Request(method, {}, 1))
        assert refused is not None and refused.code is Code.AUTH_REQUIRED


def test_after_login_unknown_and_forbidden_methods_are_method_not_found():
    conn = Connection()
    conn.logged_in_as(authenticate(LoginRequest("1000@127.0.0.1", "1234", "s"), lookup, POLICY), "s")
    assert conn.state is ConnState.LOGGED_IN and conn.sessid == "s"
    assert conn.gate(Request("verto.invite", {}, 1)) is None
    for method in ("fsapi", "jsapi", "verto.nonsense"):
        refused = conn.gate(Request(method, {}, 1))
        assert refused is not None and refused.code is Code.METHOD_NOT_FOUND


def test_transitions_outside_the_table_raise():
    conn = Connection()
    with pytest.raises(InvalidTransition):
        conn.handle(ConnEvent.PUNT)  # a socket that never logged in cannot be punted
    conn.handle(ConnEvent.LOGIN_OK)
    assert conn.handle(ConnEvent.PUNT) is ConnState.PUNTED
    with pytest.raises(InvalidTransition):
        conn.handle(ConnEvent.LOGIN_OK)
    assert conn.handle(ConnEvent.CLOSE) is ConnState.CLOSED
    assert (ConnState.CLOSED, ConnEvent.LOGIN_OK) not in CONNECTION_TRANSITIONS


def test_our_requests_are_numbered_and_matched_with_their_replies():
    conn = Connection()
    first = conn.new_request("verto.invite", {"callID": "c1"}, "c1")
    second = conn.new_request("verto.bye", {"callID": "c1"}, "c1")
    assert (first["id"], second["id"]) == (1, 2)
    assert conn.take_reply(Reply(2, {"method": "verto.bye"})) == ("verto.bye", "c1")
    assert conn.take_reply(Reply(2, {"method": "verto.bye"})) is None
    assert conn.take_reply(Reply("1", {})) is None


# ---- schemas ----------------------------------------------------------------------------------


def test_every_schema_is_a_valid_draft_2020_12_schema():
    names = all_schema_names()
    assert len(names) >= 35
    for name in names:
        validator(name)


def test_the_reference_wire_samples_match_the_schemas():
    samples = json.loads((VECTORS / "wire_samples.json").read_text())
    for kind, method, message in samples:
        if kind == "client":
            check(f"client/{method}", message)
            assert isinstance(parse_frame(json.dumps(message)).messages[0], Request)
        elif kind == "server":
            check(f"server/{method}", message)
        elif kind == "result":
            check(f"result/{method}", message)
        elif kind == "ack":
            check("ack", message)
            assert isinstance(parse_frame(json.dumps(message)).messages[0], Reply)
        else:
            check("error", message)
