"""The Verto protocol on a real WebSocket (no media): login, errors, limits, permissions, punt,
event channels, the page, the APIs and the CUSTOM events."""

from __future__ import annotations

import asyncio
import json
import ssl
import uuid
from pathlib import Path

import aiohttp
import pytest
import websockets.asyncio.client
from websockets.exceptions import InvalidStatus

from modules.mod_verto import running_service
from switchcore.events import Event

from .conftest import boot
from .schema_check import check, check_reply, check_server_request
from .verto_client import VertoTestClient, dialog

SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


# ---- login ------------------------------------------------------------------------------------


async def test_login_takes_two_steps_and_ends_with_client_ready(connect):
    client = await connect()
    first = await client.call("login", {})
    check_reply("login", first)
    assert first["error"] == {"code": -32000, "message": "Authentication Required"}
    second = await client.call("login", {"login": "1000@127.0.0.1", "passwd": "1234"})
    check_reply("login", second)
    assert second["result"] == {"message": "logged in", "sessid": client.sessid}
    ready = await client.next_request("verto.clientReady")
    check_server_request(ready)
    assert ready["params"] == {"reattached_sessions": []}


@pytest.mark.parametrize(
    "method",
    [
        "verto.invite",
        "verto.bye",
        "verto.answer",
        "verto.info",
        "verto.modify",
        "verto.attach",
        "verto.subscribe",
        "verto.unsubscribe",
        "verto.broadcast",
        "verto.ping",
        "echo",
        "jsapi",
        "fsapi",
        "no.such",
    ],
)
async def test_nothing_but_login_works_before_login(connect, method):
    client = await connect()
    reply = await client.call(method, {"dialogParams": {"callID": "x"}, "sdp": SDP})
    check("error", reply)
    assert reply["error"]["code"] == -32000


async def test_wrong_password_and_unknown_user_get_the_very_same_reply(connect):
    client = await connect()
    wrong = await client.call("login", {"login": "1000@127.0.0.1", "passwd": "bad"})
    unknown = await client.call("login", {"login": "4242@127.0.0.1", "passwd": "bad"})
    missing = await client.call("login", {"login": "1000@127.0.0.1"})
    for reply in (wrong, unknown, missing):
        check("error", reply)
        del reply["id"]
    assert (
        wrong
        == unknown
        == missing
        == {"jsonrpc": "2.0", "error": {"code": -32001, "message": "Authentication Failure"}}
    )
    assert (await client.call("verto.ping"))["error"]["code"] == -32000  # still not logged in, still usable


async def test_the_browser_password_and_the_users_context_come_from_the_directory(connect):
    client = await connect()
    sip = await client.call("login", {"login": "1002@127.0.0.1", "passwd": "sip-only-secret"})
    assert sip["error"]["code"] == -32001
    ok = await client.call("login", {"login": "1002@127.0.0.1", "passwd": "browser-secret"})
    assert "result" in ok


@pytest.mark.slow
async def test_failed_logins_are_slowed_then_the_address_is_refused(verto_switch):
    _, port = verto_switch  # test conf: delay after 3 failures, ban after 6 for 2 s
    client = await VertoTestClient.open(port)
    loop = asyncio.get_running_loop()
    took = []
    for _ in range(5):
        start = loop.time()
        reply = await client.call("login", {"login": "1000@127.0.0.1", "passwd": "guess"})
        took.append(loop.time() - start)
        assert reply["error"]["code"] == -32001
    assert max(took[:3]) < 0.3 and took[3] >= 0.45 and took[4] >= 0.95
    sixth = await client.call("login", {"login": "1000@127.0.0.1", "passwd": "guess"})
    assert sixth["error"]["code"] == -32001
    await asyncio.wait_for(client.closed.wait(), 5)
    assert client.ws.close_code == 1008
    with pytest.raises(InvalidStatus) as refused:
        await VertoTestClient.open(port)
    assert refused.value.response.status_code == 403
    await asyncio.sleep(2.1)
    later = await VertoTestClient.open(port)
    assert "result" in await later.login("1000")
    await later.close()
    await client.close()


# ---- bad input --------------------------------------------------------------------------------


async def test_garbage_gets_json_rpc_errors_and_the_connection_stays_usable(connect):
    client = await connect(login="1000")
    await client.send_raw("this is not json")
    assert (await client.orphan())["error"] == {"code": -32600, "message": "Invalid Request"}
    await client.send_raw(b"\xff\xfe binary junk")
    assert (await client.orphan())["error"]["code"] == -32600
    await client.send_raw('{"jsonrpc":"2.0","method":17,"id":5}')
    assert (await client.orphan())["error"]["code"] == -32600
    await client.send_raw('{"jsonrpc":"2.0","method":"verto.ping","params":[1],"id":6}')
    assert (await client.orphan())["error"]["code"] == -32602
    await client.send_raw('{"jsonrpc":"1.0","method":"verto.ping","id":7}')
    assert (await client.orphan())["error"] == {"code": -32600, "message": "Invalid message"}
    unknown = await client.call("verto.teleport")
    assert unknown["error"] == {
        "code": -32601,
        "message": "Invalid Method, Missing Method or Permission Denied",
    }
    assert (await client.call("fsapi", {"cmd": "status"}))["error"]["code"] == -32601
    missing = await client.call("verto.bye", {})
    assert missing["error"] == {"code": -32002, "message": "Dialog data missing"}
    no_call_id = await client.call("verto.bye", {"dialogParams": {"callID": 5}})
    assert no_call_id["error"]["message"] == "CallID missing"
    no_sdp = await client.call("verto.invite", {"dialogParams": dialog(str(uuid.uuid4()))})
    assert no_sdp["error"] == {"code": -32002, "message": "SDP missing"}
    ghost = await client.call("verto.bye", {"dialogParams": {"callID": "nobody"}})
    assert ghost["error"]["message"] == "CALL DOES NOT EXIST"
    bad_channels = await client.call("verto.subscribe", {"eventChannel": {"a": 1}})
    assert bad_channels["error"]["code"] == -32602
    pong = await client.call("verto.ping")
    check_reply("verto.ping", pong)
    assert pong["result"]["message"] == "PONG"


async def test_an_offer_that_cannot_be_answered_fails_the_invite(connect):
    client = await connect(login="1000")
    call_id = str(uuid.uuid4())
    reply = await client.call("verto.invite", {"sdp": SDP, "dialogParams": dialog(call_id)})
    check("error", reply)
    assert reply["error"]["code"] == -32002 and reply["error"]["callID"] == call_id
    assert reply["error"]["cause"] == "INCOMPATIBLE_DESTINATION"


async def test_oversized_frames_close_only_that_connection_with_1009(connect):
    bystander = await connect(login="1001")
    client = await connect(login="1000")
    await client.send_raw(
        json.dumps({"jsonrpc": "2.0", "method": "echo", "params": {"pad": "x" * 70_000}, "id": 1})
    )
    await asyncio.wait_for(client.closed.wait(), 5)
    assert client.ws.close_code == 1009
    assert "result" in await bystander.call("verto.ping")


async def test_deeply_nested_json_closes_the_connection_with_1009(connect):
    client = await connect(login="1000")
    await client.send_raw(
        '{"jsonrpc":"2.0","method":"verto.ping","params":{"a":' + "[" * 100 + "]" * 100 + '},"id":1}'
    )
    await asyncio.wait_for(client.closed.wait(), 5)
    assert client.ws.close_code == 1009


async def test_batches_are_answered_as_one_array_and_oversized_ones_close_with_1009(connect):
    client = await connect(login="1000")
    batch = [{"jsonrpc": "2.0", "method": "verto.ping", "params": {}, "id": 100 + i} for i in range(3)]
    batch.append({"jsonrpc": "2.0", "method": "verto.ping"})  # a notification: no reply
    batch.append({"nonsense": True})
    await client.send_raw(json.dumps(batch))
    replies = await client.orphan()
    assert [r.get("id") for r in replies] == [100, 101, 102, None]
    assert all(r["result"]["message"] == "PONG" for r in replies[:3])
    assert replies[3]["error"]["code"] == -32600
    await client.send_raw(
        json.dumps([{"jsonrpc": "2.0", "method": "verto.ping", "id": i} for i in range(17)])
    )
    await asyncio.wait_for(client.closed.wait(), 5)
    assert client.ws.close_code == 1009


async def test_echo_params_come_back_in_the_result(connect):
    client = await connect(login="1002", password="browser-secret")
    reply = await client.call("echo", {"x": 1, "echoParams": True})
    assert reply["result"]["requestParams"]["x"] == 1
    reply = await client.call("verto.ping", {"echoParams": {"tag": 7}})
    assert reply["result"]["requestParams"] == {"tag": 7}


async def test_each_user_calls_only_the_methods_its_directory_entry_allows(connect):
    pinger = await connect(login="1003")
    assert "result" in await pinger.call("verto.ping")
    assert (await pinger.call("verto.invite", {"sdp": SDP, "dialogParams": dialog("c1")}))["error"][
        "code"
    ] == -32601
    nobody = await connect(login="1004")
    assert (await nobody.call("verto.ping"))["error"]["code"] == -32601
    normal = await connect(login="1000")
    assert (await normal.call("jsapi", {"command": "mediaStats"}))["error"]["code"] == -32601
    allowed = await connect(login="1002", password="browser-secret")
    denied = await allowed.call("jsapi", {"command": "fsapi", "cmd": "shutdown"})
    assert denied["error"]["code"] == -32602
    not_mine = await allowed.call("jsapi", {"command": "mediaStats", "data": {"uuid": "x"}})
    assert not_mine["error"]["code"] == -32002


async def test_a_socket_that_never_logs_in_is_closed(tmp_path):
    switch, port = await boot(tmp_path, **{"login-timeout-sec": "0.5"})
    try:
        client = await VertoTestClient.open(port)
        await asyncio.wait_for(client.closed.wait(), 5)
        assert client.ws.close_code == 1008
        await client.close()
    finally:
        await switch.stop()


async def test_a_client_that_never_answers_pings_is_dropped(tmp_path):
    switch, port = await boot(tmp_path, **{"ws-ping-sec": "0.4"})
    try:
        log: list[Event] = []
        switch.events.listen(lambda e: log.append(e) if e.subclass == "verto::client_disconnect" else None)
        client = await VertoTestClient.open(port, ping_interval=None)
        await client.login("1000")
        # Stop reading from the socket: pongs are never sent (websockets answers pings while it reads).
        client._reader.cancel()
        client.ws.transport.pause_reading()
        await asyncio.sleep(1.2)
        assert running_service() is not None and not running_service().clients
        assert [e.get("verto_login") for e in log] == ["1000@127.0.0.1"]
        client.ws.transport.abort()  # no closing handshake with a socket that does not read
        await client.close()
    finally:
        await switch.stop()


# ---- sessid: punt and ownership ---------------------------------------------------------------


async def test_the_same_sessid_from_a_new_socket_punts_the_old_one(connect):
    old = await connect(login="1000")
    new = await connect(sessid=old.sessid)
    await new.login("1000")
    punt = await old.next_request("verto.punt")
    check_server_request(punt)
    await asyncio.wait_for(old.closed.wait(), 5)
    assert "result" in await new.call("verto.ping")
    assert running_service().clients[old.sessid] is not None
    assert await running_service().switch.api("verto_contact 1000@127.0.0.1") == f"verto.rtc/u:{old.sessid}"


async def test_another_user_cannot_take_a_sessid_in_use(connect):
    owner = await connect(login="1000")
    thief = await connect(sessid=owner.sessid)
    await thief.call("login", {})
    reply = await thief.call("login", {"login": "1001@127.0.0.1", "passwd": "1234"})
    assert reply["error"] == {"code": -32001, "message": "Session in use"}
    assert "result" in await owner.call("verto.ping")


# ---- event channels ---------------------------------------------------------------------------


async def test_subscribe_broadcast_and_unsubscribe(connect):
    alice = await connect(login="1000")
    bob = await connect(login="1001")
    sub = await alice.call("verto.subscribe", {"eventChannel": ["demo", "secret", alice.sessid]})
    check_reply("verto.subscribe", sub)
    assert sub["result"]["subscribedChannels"] == ["demo", alice.sessid]
    assert sub["result"]["unauthorizedChannels"] == ["secret"]
    again = await alice.call("verto.subscribe", {"eventChannel": "demo"})
    assert again["result"]["alreadySubscribedChannels"] == ["demo"]
    assert (await bob.call("verto.subscribe", {"eventChannel": "demo.room1"}))["result"][
        "subscribedChannels"
    ] == ["demo.room1"]
    sent = await bob.call("verto.broadcast", {"eventChannel": "demo.room1", "data": {"text": "hi"}})
    check_reply("verto.broadcast", sent)
    assert sent["result"]["delivered"] == 2
    for client in (alice, bob):
        event = await client.next_request("verto.event")
        check_server_request(event)
        assert event["params"]["data"] == {"text": "hi"}
        assert event["params"]["userid"] == "1001@127.0.0.1"
        assert event["params"]["eventSerno"] == 0
    assert (await bob.call("verto.broadcast", {"eventChannel": "secret"}))["error"]["code"] == -32002
    unsub = await alice.call("verto.unsubscribe", {"eventChannel": ["demo", "never"]})
    check_reply("verto.unsubscribe", unsub)
    assert unsub["result"] == {
        "unsubscribedChannels": ["demo"],
        "notSubscribedChannels": ["never"],
        "sessid": alice.sessid,
    }


async def test_other_modules_reach_subscribers_through_the_event_bus(verto_switch, connect):
    switch, _ = verto_switch
    client = await connect(login="1000")
    await client.call("verto.subscribe", {"eventChannel": "conference.3000"})
    event = Event.create("CUSTOM", "verto::broadcast", **{"Event-Channel": "conference.3000"})
    event.body = json.dumps({"action": "bootObj", "data": []})
    switch.events.fire(event)
    delivered = await client.next_request("verto.event")
    check_server_request(delivered)
    assert delivered["params"]["eventChannel"] == "conference.3000"
    assert delivered["params"]["data"] == {"action": "bootObj", "data": []}
    # A browser's own sessid is a channel it hears without subscribing (pvtData for it alone).
    private = Event.create("CUSTOM", "verto::broadcast", **{"Event-Channel": client.sessid})
    private.body = json.dumps({"pvtData": {"action": "conference-liveArray-join", "laChannel": "x"}})
    switch.events.fire(private)
    delivered = await client.next_request("verto.event")
    check_server_request(delivered)
    assert delivered["params"] == {
        "pvtData": {"action": "conference-liveArray-join", "laChannel": "x"},
        "eventChannel": client.sessid,
    }


# ---- page, APIs, events -----------------------------------------------------------------------


async def test_the_same_port_serves_the_browser_phone(verto_switch):
    _, port = verto_switch
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/") as page:
            assert page.status == 200
            assert "text/html" in page.headers["Content-Type"]
            assert "Content-Security-Policy" in page.headers
            assert "<script" in await page.text()
        async with http.get(f"http://127.0.0.1:{port}/verto-phone.js") as script:
            assert script.status == 200
        async with http.get(f"http://127.0.0.1:{port}/..%2f..%2fprotocol.py") as escape:
            assert escape.status == 404
        async with http.get(f"http://127.0.0.1:{port}/nope.html") as missing:
            assert missing.status == 404


async def test_verto_status_and_verto_contact(verto_switch, connect):
    switch, port = verto_switch
    assert await switch.api("verto_contact 1000@127.0.0.1") == "error/user_not_registered"
    one = await connect(login="1000")
    two = await connect(login="1000")
    await connect()  # connected, not logged in
    contact = await switch.api("verto_contact 1000@127.0.0.1")
    assert sorted(contact.split(",")) == sorted([f"verto.rtc/u:{one.sessid}", f"verto.rtc/u:{two.sessid}"])
    assert await switch.api("verto_contact 1000") == contact  # the switch's domain
    status = await switch.api("verto status")
    assert f"ws:127.0.0.1:{port}\tRUNNING" in status
    assert status.count("CONN_REG (WS)") == 2 and status.count("CONN_NO_REG (WS)") == 1
    assert status.rstrip().endswith("1 profile , 3 clients")
    assert "<state>CONN_REG (WS)</state>" in await switch.api("verto xmlstatus")
    assert len(json.loads(await switch.api("verto jsonstatus"))["clients"]) == 3
    assert "USAGE" in await switch.api("verto")
    assert "Unknown Command [bogus]" in await switch.api("verto bogus")


async def test_connect_login_and_disconnect_fire_custom_events(verto_switch, connect):
    switch, _ = verto_switch
    seen: list[Event] = []
    switch.events.listen(lambda e: seen.append(e) if e.subclass.startswith("verto::") else None)
    client = await connect()
    await client.call("login", {"login": "1000@127.0.0.1", "passwd": "nope"})
    await client.call("login", {"login": "1000@127.0.0.1", "passwd": "1234"})
    await client.close()
    await asyncio.sleep(0.2)
    assert [e.subclass for e in seen] == [
        "verto::client_connect",
        "verto::login",
        "verto::login",
        "verto::client_disconnect",
    ]
    failed, ok = seen[1], seen[2]
    assert (failed.get("verto_success"), failed.get("verto_result_txt")) == ("0", "Authentication Failure")
    assert "verto_sessid" not in failed.headers
    assert (ok.get("verto_success"), ok.get("verto_sessid"), ok.get("verto_login")) == (
        "1",
        client.sessid,
        "1000@127.0.0.1",
    )
    assert seen[3].get("verto_login") == "1000@127.0.0.1"


def self_signed_pem(path: Path) -> Path:
    """A certificate and its key in one PEM (verto.conf `secure-combined`)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return path


async def test_a_certificate_adds_wss_beside_ws(tmp_path):
    from .conftest import make_conf, next_port

    ws_port, wss_port = next_port(), next_port()
    conf = make_conf(tmp_path, ws_port)
    pem = self_signed_pem(tmp_path / "wss.pem")
    verto = conf / "autoload_configs" / "verto.conf.xml"
    verto.write_text(
        verto.read_text().replace(
            "</profile>",
            f'  <param name="bind-local" value="127.0.0.1:{wss_port}" secure="true"/>\n'
            f'        <param name="secure-combined" value="{pem}"/>\n      </profile>',
        )
    )
    from switchcore.core import Switch

    from .conftest import ROOT

    switch = Switch(conf_dir=conf, data_dir=tmp_path / "data", sounds_dir=ROOT / "sounds")
    await switch.start()
    try:
        assert f"verto wss 127.0.0.1:{wss_port}" in switch.ready_line()
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        ws = await websockets.asyncio.client.connect(f"wss://127.0.0.1:{wss_port}/", ssl=context)
        client = VertoTestClient(ws, str(uuid.uuid4()))
        await client.login("1000")
        status = await switch.api("verto status")
        assert f"wss:127.0.0.1:{wss_port}" in status and "CONN_REG (WSS)" in status
        await client.close()
    finally:
        await switch.stop()


async def test_a_conference_join_opens_its_live_array_channel_to_that_browser_only(verto_switch, connect):
    switch, _ = verto_switch
    member = await connect(login="1000")
    other = await connect(login="1001")
    la = "conference-liveArray.3000-127.0.0.1@127.0.0.1"
    assert (await member.call("verto.subscribe", {"eventChannel": la}))["error"]["code"] == -32002
    join = Event.create("CUSTOM", "verto::broadcast", **{"Event-Channel": member.sessid})
    join.body = json.dumps(
        {"pvtData": {"action": "conference-liveArray-join", "laChannel": la, "laName": "3000-127.0.0.1"}}
    )
    switch.events.fire(join)
    await member.next_request("verto.event")
    assert (await member.call("verto.subscribe", {"eventChannel": la}))["result"]["subscribedChannels"] == [
        la
    ]
    assert (await other.call("verto.subscribe", {"eventChannel": la}))["error"]["code"] == -32002
    part = Event.create("CUSTOM", "verto::broadcast", **{"Event-Channel": member.sessid})
    part.body = json.dumps({"pvtData": {"action": "conference-liveArray-part", "laChannel": la}})
    switch.events.fire(part)
    await member.next_request("verto.event")
    await member.call("verto.unsubscribe", {"eventChannel": la})
    assert (await member.call("verto.subscribe", {"eventChannel": la}))["error"]["code"] == -32002
