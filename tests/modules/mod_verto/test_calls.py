"""Calls with real media: Python aiortc clients play browsers (ICE, DTLS-SRTP, Opus or PCMU) against
the switch on 127.0.0.1 and check which tone comes back."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from modules.mod_verto import running_service
from switchcore.causes import HangupCause
from switchcore.media.analysis import dominant_frequency, rms, tone_present
from switchcore.media.wavfile import read_wav
from switchcore.session import Session

from .conftest import boot
from .schema_check import check_reply, check_server_request
from .verto_client import RtcPeer, VertoTestClient, dialog


async def place_call(client: VertoTestClient, peer: RtcPeer, dest: str = "9196") -> tuple[str, dict]:
    """Invite `dest` the way the Verto JS client does; returns (callID, the invite's reply)."""
    call_id = str(uuid.uuid4())
    reply = await client.call(
        "verto.invite", {"sdp": await peer.offer(), "dialogParams": dialog(call_id, dest)}
    )
    check_reply("verto.invite", reply)
    return call_id, reply


async def answered(client: VertoTestClient, peer: RtcPeer) -> dict:
    """Wait for verto.answer (or verto.media first) and give its SDP to the peer."""
    message = await client.next_request()
    while message["method"] not in ("verto.answer", "verto.media"):
        message = await client.next_request()
    await peer.accept(message["params"]["sdp"])
    return message


def session_of(call_id: str) -> Session:
    service = running_service()
    assert service is not None
    session = service.calls.by_id[call_id].session
    assert session is not None
    return session


def schemas_hold(*clients: VertoTestClient) -> None:
    for client in clients:
        for message in client.seen:
            check_server_request(message)


async def heard_frequency(peer: RtcPeer, seconds: float = 1.0) -> float:
    await asyncio.sleep(seconds)
    return dominant_frequency(peer.recent(seconds), peer.rate)


# ---- the browser calls -------------------------------------------------------------------------


async def test_a_browser_calling_9196_hears_its_own_tone_and_the_recording_holds_it(
    verto_switch, connect, tmp_path
):
    switch, _ = verto_switch
    client = await connect(login="1000")
    peer = RtcPeer(1000)
    call_id, reply = await place_call(client, peer)
    assert reply["result"] == {"message": "CALL CREATED", "callID": call_id, "sessid": client.sessid}
    answer = await answered(client, peer)
    assert answer["method"] == "verto.answer" and answer["params"]["callID"] == call_id
    await peer.wait_frames(50)
    assert abs(await heard_frequency(peer) - 1000) < 20
    session = session_of(call_id)
    assert session.uuid == call_id and session.name == "verto.rtc/9196"
    assert (session.driver.read_codec, session.rate) == ("OPUS", 48000)
    assert session.profile.caller_id_name == "Extension 1000"  # the directory wins over the browser's claim
    assert session.get_var("verto_user") == "1000@127.0.0.1"
    bye = await client.call("verto.bye", {"dialogParams": {"callID": call_id}})
    check_reply("verto.bye", bye)
    assert bye["result"]["causeCode"] == 16 and bye["result"]["cause"] == "NORMAL_CLEARING"
    assert await session.wait_destroyed(3)
    assert session.cause is HangupCause.NORMAL_CLEARING
    recording = tmp_path / "data" / "recordings" / f"{call_id}.wav"
    samples, info = read_wav(recording)
    assert info.frames > info.rate  # over a second of call
    assert tone_present(samples[:: info.channels], info.rate, 1000)
    assert not [m for m in client.seen if m["method"] == "verto.bye"]  # the browser ended it: no bye back
    schemas_hold(client)
    await peer.close()


async def test_early_media_goes_in_verto_media_and_then_the_answer_carries_no_sdp(connect):
    client = await connect(login="1000")
    peer = RtcPeer(None)
    call_id, _ = await place_call(client, peer, "9197")
    media = await answered(client, peer)
    assert media["method"] == "verto.media" and media["params"]["sdp"].startswith("v=0")
    assert abs(await heard_frequency(peer, 0.4) - 600) < 20
    answer = await client.next_request("verto.answer", timeout=5)
    assert answer["params"] == {"callID": call_id, "variables": {}}
    schemas_hold(client)
    await peer.close()


async def test_a_g711_only_browser_gets_an_8khz_pcmu_channel(connect):
    client = await connect(login="1000")
    peer = RtcPeer(440, codecs=("PCMU",))
    call_id, _ = await place_call(client, peer)
    await answered(client, peer)
    session = session_of(call_id)
    assert (session.driver.read_codec, session.rate) == ("PCMU", 8000)
    await peer.wait_frames(50)
    assert abs(await heard_frequency(peer) - 440) < 15
    await peer.close()


async def test_a_failing_destination_ends_with_verto_bye_and_its_cause(connect):
    client = await connect(login="1000")
    peer = RtcPeer()
    call_id, _ = await place_call(client, peer, "9002")
    bye = await client.next_request("verto.bye")
    assert bye["params"] == {"callID": call_id, "causeCode": 17, "cause": "USER_BUSY"}
    unrouted_id, _ = await place_call(client, RtcPeer(), "5555")
    bye = await client.next_request("verto.bye")
    assert bye["params"]["callID"] == unrouted_id and bye["params"]["cause"] == "NO_ROUTE_DESTINATION"
    schemas_hold(client)
    await peer.close()


async def test_the_browsers_bye_cause_becomes_the_hangup_cause(connect):
    client = await connect(login="1000")
    peer = RtcPeer()
    call_id, _ = await place_call(client, peer, "9999")
    await answered(client, peer)
    session = session_of(call_id)
    reply = await client.call("verto.bye", {"dialogParams": {"callID": call_id}, "cause": "CALL_REJECTED"})
    assert reply["result"]["causeCode"] == 21
    assert await session.wait_destroyed(3)
    assert session.cause is HangupCause.CALL_REJECTED
    await peer.close()


async def test_dtmf_from_verto_info_reaches_the_dialplan(connect):
    client = await connect(login="1000")
    peer = RtcPeer(None)
    call_id, _ = await place_call(client, peer, "9100")
    await answered(client, peer)
    reply = await client.call("verto.info", {"dtmf": "12", "dialogParams": {"callID": call_id}})
    check_reply("verto.info", reply)
    assert reply["result"]["message"] == "SENT"
    for digit in "34":
        await client.call("verto.info", {"dtmf": digit, "dialogParams": {"callID": call_id}})
    session = session_of(call_id)
    for _ in range(50):
        if session.get_var("got_digits"):
            break
        await asyncio.sleep(0.05)
    assert session.get_var("got_digits") == "1234"
    bad = await client.call("verto.info", {"dtmf": 5, "dialogParams": {"callID": call_id}})
    assert bad["error"]["code"] == -32602
    await peer.close()


async def test_hold_unhold_and_toggle_hold(verto_switch, connect):
    switch, _ = verto_switch
    events: list[str] = []
    switch.events.listen(
        lambda e: events.append(e.name) if e.name in ("CHANNEL_HOLD", "CHANNEL_UNHOLD") else None
    )
    client = await connect(login="1000")
    peer = RtcPeer()
    call_id, _ = await place_call(client, peer, "9999")
    await answered(client, peer)
    session = session_of(call_id)
    states = []
    for action in ("hold", "unhold", "toggleHold", "toggleHold", "unhold"):
        reply = await client.call("verto.modify", {"action": action, "dialogParams": {"callID": call_id}})
        check_reply("verto.modify", reply)
        states.append((reply["result"]["holdState"], session.call_state.value))
    assert states == [
        ("held", "HELD"),
        ("active", "ACTIVE"),
        ("held", "HELD"),
        ("active", "ACTIVE"),
        ("active", "ACTIVE"),
    ]
    assert events == ["CHANNEL_HOLD", "CHANNEL_UNHOLD", "CHANNEL_HOLD", "CHANNEL_UNHOLD"]
    odd = await client.call("verto.modify", {"action": "fly", "dialogParams": {"callID": call_id}})
    assert odd["error"]["code"] == -32002
    await peer.close()


@pytest.mark.slow
async def test_while_one_browser_holds_the_other_hears_hold_music(connect):
    caller = await connect(login="1001")
    callee = await connect(login="1000")
    caller_peer, callee_peer = RtcPeer(1000), RtcPeer(600)
    await place_call(caller, caller_peer, "1000")
    invite = await callee.next_request("verto.invite")
    callee_id = invite["params"]["callID"]
    sdp = await callee_peer.answer(invite["params"]["sdp"])
    await callee.call("verto.answer", {"sdp": sdp, "dialogParams": {"callID": callee_id}})
    await answered(caller, caller_peer)
    await caller_peer.wait_frames(50)
    assert abs(await heard_frequency(caller_peer) - 600) < 20
    await callee.call("verto.modify", {"action": "hold", "dialogParams": {"callID": callee_id}})
    await asyncio.sleep(1.3)
    music = caller_peer.recent(1.0)
    assert rms(music) > 100  # hold music, not silence
    assert not tone_present(music, caller_peer.rate, 600)  # and not the held browser
    await callee.call("verto.modify", {"action": "unhold", "dialogParams": {"callID": callee_id}})
    assert abs(await heard_frequency(caller_peer) - 600) < 20
    await caller_peer.close()
    await callee_peer.close()


async def test_bridging_shows_the_other_party_with_verto_display(connect):
    client = await connect(login="1000")
    peer = RtcPeer()
    call_id, _ = await place_call(client, peer, "819999")
    await answered(client, peer)
    display = await client.next_request("verto.display")
    check_server_request(display)
    assert display["params"] == {"callID": call_id, "display_name": "9999", "display_number": "9999"}
    await peer.close()


async def test_a_blind_transfer_sends_the_caller_on_and_the_browser_leaves(verto_switch, connect):
    """A caller (loopback, dialling 1000) reaches the browser; the browser transfers it to 9198."""
    switch, _ = verto_switch
    client = await connect(login="1000")
    task = asyncio.ensure_future(switch.api("originate loopback/1000 &park()"))
    invite = await client.next_request("verto.invite")
    call_id = invite["params"]["callID"]
    peer = RtcPeer()
    await client.call(
        "verto.answer",
        {"sdp": await peer.answer(invite["params"]["sdp"]), "dialogParams": {"callID": call_id}},
    )
    assert (await task).startswith("+OK")
    await asyncio.sleep(0.3)
    caller = session_of(call_id).partner
    assert caller is not None and caller.name == "loopback/1000-b"
    reply = await client.call(
        "verto.modify", {"action": "transfer", "destination": "9198", "dialogParams": {"callID": call_id}}
    )
    check_reply("verto.modify", reply)
    assert reply["result"]["message"] == "CALL TRANSFERRED"
    bye = await client.next_request("verto.bye")
    assert bye["params"]["cause"] == "BLIND_TRANSFER"
    await asyncio.sleep(0.3)
    assert caller.profile.destination_number == "9198" and "9198" in caller.get_var("transfer_history")
    assert not caller.hungup and caller.current_app == "playback"
    await peer.close()


async def test_a_transfer_without_a_bridge_and_calls_of_others_are_refused(connect):
    alice = await connect(login="1000")
    bob = await connect(login="1001")
    peer = RtcPeer()
    call_id, _ = await place_call(alice, peer, "9999")
    await answered(alice, peer)
    lonely = await alice.call(
        "verto.modify", {"action": "transfer", "destination": "9196", "dialogParams": {"callID": call_id}}
    )
    assert lonely["error"]["message"] == "call is not bridged"
    for method, extra in (
        ("verto.bye", {}),
        ("verto.modify", {"action": "hold"}),
        ("verto.info", {"dtmf": "1"}),
    ):
        stolen = await bob.call(method, {"dialogParams": {"callID": call_id}, **extra})
        assert stolen["error"]["message"] == "CALL DOES NOT EXIST"
    assert not session_of(call_id).hungup
    await peer.close()


async def test_the_users_context_routes_its_calls(connect):
    client = await connect(login="1002", password="browser-secret")
    peer = RtcPeer()
    call_id, _ = await place_call(client, peer, "9196")
    await answered(client, peer)
    session = session_of(call_id)
    await asyncio.sleep(0.2)
    assert session.profile.context == "restricted"
    assert session.get_var("routed_in") == "restricted"
    stats = await client.call("jsapi", {"command": "mediaStats", "data": {"uuid": call_id}})
    assert stats["result"]["codec"] == "OPUS" and stats["result"]["rate"] == 48000
    await peer.close()


# ---- calls to browsers ------------------------------------------------------------------------


async def test_a_call_to_a_user_rings_every_socket_and_the_first_answer_wins(verto_switch, connect):
    switch, _ = verto_switch
    first = await connect(login="1000")
    second = await connect(login="1000")
    task = asyncio.ensure_future(switch.api("originate verto.rtc/1000@127.0.0.1 &echo()"))
    invites = [await first.next_request("verto.invite"), await second.next_request("verto.invite")]
    for invite in invites:
        check_server_request(invite)
    assert invites[0]["params"]["callID"] == invites[1]["params"]["callID"]
    assert invites[0]["params"]["display_direction"] == "outbound"
    assert invites[0]["params"]["callee_id_number"] == "1000"
    peer = RtcPeer(700)
    sdp = await peer.answer(invites[1]["params"]["sdp"])
    call_id = invites[1]["params"]["callID"]
    reply = await second.call(
        "verto.answer", {"sdp": sdp, "dialogParams": {"callID": call_id, "callee_id_name": "Me"}}
    )
    check_reply("verto.answer", reply)
    assert (await task).startswith("+OK ")
    lost = await first.next_request("verto.bye")
    assert lost["params"] == {"callID": call_id, "causeCode": 702, "cause": "LOSE_RACE"}
    await peer.wait_frames(50)
    assert abs(await heard_frequency(peer) - 700) < 20  # &echo() sends the browser its own tone back
    assert await switch.api(f"uuid_kill {call_id}") == "+OK\n"
    bye = await second.next_request("verto.bye")
    assert bye["params"]["callID"] == call_id and bye["params"]["cause"] == "MANAGER_REQUEST"
    schemas_hold(first, second)
    await peer.close()


async def test_user_dial_strings_reach_browsers_through_verto_contact(verto_switch, connect):
    switch, _ = verto_switch
    assert await switch.api("originate user/1001@127.0.0.1 &park()") == "-ERR USER_NOT_REGISTERED\n"
    assert await switch.api("originate verto.rtc/1001@127.0.0.1 &park()") == "-ERR USER_NOT_REGISTERED\n"
    callee = await connect(login="1001")
    task = asyncio.ensure_future(switch.api("originate user/1001@127.0.0.1 &park()"))
    invite = await callee.next_request("verto.invite")
    declined = await callee.call(
        "verto.bye", {"dialogParams": {"callID": invite["params"]["callID"]}, "cause": "CALL_REJECTED"}
    )
    assert declined["result"]["cause"] == "CALL_REJECTED"
    assert await task == "-ERR CALL_REJECTED\n"


async def test_one_browser_calls_another_and_each_hears_the_other(connect):
    caller = await connect(login="1001")
    callee = await connect(login="1000")
    caller_peer, callee_peer = RtcPeer(1000), RtcPeer(600)
    call_id, _ = await place_call(caller, caller_peer, "1000")
    invite = await callee.next_request("verto.invite")
    assert invite["params"]["caller_id_number"] == "1001"
    sdp = await callee_peer.answer(invite["params"]["sdp"])
    await callee.call("verto.answer", {"sdp": sdp, "dialogParams": {"callID": invite["params"]["callID"]}})
    await answered(caller, caller_peer)
    await caller_peer.wait_frames(50)
    await callee_peer.wait_frames(50)
    await asyncio.sleep(1)
    assert abs(dominant_frequency(caller_peer.recent(1), caller_peer.rate) - 600) < 20
    assert abs(dominant_frequency(callee_peer.recent(1), callee_peer.rate) - 1000) < 20
    await callee.call("verto.bye", {"dialogParams": {"callID": invite["params"]["callID"]}})
    bye = await caller.next_request("verto.bye")
    assert bye["params"]["callID"] == call_id and bye["params"]["cause"] == "NORMAL_CLEARING"
    schemas_hold(caller, callee)
    await caller_peer.close()
    await callee_peer.close()


# ---- sockets going away -----------------------------------------------------------------------


async def reconnect_and_reattach(
    port: int, sessid: str, freq: float
) -> tuple[VertoTestClient, RtcPeer, list[str]]:
    client = await VertoTestClient.open(port, sessid=sessid)
    await client.login("1000")
    attach = await client.next_request("verto.attach")
    check_server_request(attach)
    ready = await client.next_request("verto.clientReady")
    peer = RtcPeer(freq)
    sdp = await peer.answer(attach["params"]["sdp"])
    reply = await client.call(
        "verto.attach", {"sdp": sdp, "dialogParams": {"callID": attach["params"]["callID"]}}
    )
    check_reply("verto.attach", reply)
    return client, peer, ready["params"]["reattached_sessions"]


async def test_a_call_survives_a_reconnect_and_is_reattached(verto_switch):
    switch, port = verto_switch
    client = await VertoTestClient.open(port)
    await client.login("1000")
    peer = RtcPeer(1000)
    call_id, _ = await place_call(client, peer)
    await answered(client, peer)
    await peer.wait_frames(25)
    session = session_of(call_id)
    await client.close()
    await peer.close()
    await asyncio.sleep(0.5)
    assert not session.hungup
    call = running_service().calls.by_id[call_id]
    assert call.phase.value == "detached"
    again, new_peer, reattached = await reconnect_and_reattach(port, client.sessid, 800)
    assert reattached == [call_id]
    await new_peer.wait_frames(50)
    assert abs(await heard_frequency(new_peer) - 800) < 20
    assert call.phase.value == "active" and not session.hungup
    await again.close()
    await new_peer.close()


async def test_a_detached_call_hangs_up_after_the_timeout(tmp_path):
    switch, port = await boot(tmp_path, **{"detach-timeout-sec": "1"})
    try:
        client = await VertoTestClient.open(port)
        await client.login("1000")
        peer = RtcPeer()
        call_id, _ = await place_call(client, peer, "9999")
        await answered(client, peer)
        session = session_of(call_id)
        await client.close()
        await peer.close()
        assert await session.wait_hangup(3)
        assert session.cause is HangupCause.RECOVERY_ON_TIMER_EXPIRE
        late = await VertoTestClient.open(port, sessid=client.sessid)
        await late.login("1000")
        ready = await late.next_request("verto.clientReady")
        assert ready["params"]["reattached_sessions"] == []
        await late.close()
    finally:
        await switch.stop()


async def test_a_punted_socket_hands_its_calls_to_the_new_one(verto_switch):
    switch, port = verto_switch
    old = await VertoTestClient.open(port)
    await old.login("1000")
    peer = RtcPeer(1000)
    call_id, _ = await place_call(old, peer, "9196")
    await answered(old, peer)
    new, new_peer, reattached = await reconnect_and_reattach(port, old.sessid, 500)
    assert reattached == [call_id]
    assert (await old.next_request("verto.punt"))["method"] == "verto.punt"
    await new_peer.wait_frames(50)
    assert abs(await heard_frequency(new_peer) - 500) < 20
    assert not session_of(call_id).hungup
    await old.close()
    await new.close()
    await peer.close()
    await new_peer.close()


async def test_a_call_still_ringing_when_its_socket_drops_hangs_up_at_once(verto_switch, connect):
    switch, _ = verto_switch
    callee = await connect(login="1000")
    task = asyncio.ensure_future(switch.api("originate verto.rtc/1000@127.0.0.1 &park()"))
    await callee.next_request("verto.invite")
    await callee.close()
    assert await asyncio.wait_for(task, 5) == "-ERR DESTINATION_OUT_OF_ORDER\n"


# ---- RFC 4733 ---------------------------------------------------------------------------------


async def test_rfc4733_events_are_taken_off_the_receive_path(verto_switch):
    """A telephone-event packet on the negotiated payload type becomes one digit, never audio."""
    from aiortc.rtp import RtpPacket as AiortcPacket

    from modules.mod_verto.media import VertoMedia, WebRtcPolicy

    switch, _ = verto_switch
    digits: list[tuple[str, int]] = []
    find = running_service().calls.find_codec
    media = VertoMedia(WebRtcPolicy(), switch.clock, find, lambda d, ms: digits.append((d, ms)))
    browser = RtcPeer()
    await media.answer(await browser.offer())
    assert "telephone-event/48000" in media.local_sdp
    receiver = media.transceiver.receiver
    pt = next(pt for pt in media._dtmf)
    for end, duration in ((False, 960), (False, 1920), (True, 4800), (True, 4800)):
        payload = bytes([5, 0x8A if end else 0x0A]) + duration.to_bytes(2, "big")
        await receiver._handle_rtp_packet(
            AiortcPacket(payload_type=pt, sequence_number=1, timestamp=1234, ssrc=9, payload=payload), 0
        )
    clock_rate = media._dtmf[pt].clock_rate
    assert digits == [("5", 4800 * 1000 // clock_rate)]
    await media.close()
    await browser.close()


async def test_a_browser_that_stops_answering_pings_loses_its_call_after_the_detach_timeout(tmp_path):
    switch, port = await boot(tmp_path, **{"ws-ping-sec": "0.4", "detach-timeout-sec": "1"})
    try:
        client = await VertoTestClient.open(port, ping_interval=None)
        await client.login("1000")
        peer = RtcPeer()
        call_id, _ = await place_call(client, peer, "9999")
        await answered(client, peer)
        session = session_of(call_id)
        client._reader.cancel()
        client.ws.transport.pause_reading()  # no more pongs
        await asyncio.sleep(0.8)
        call = running_service().calls.by_id[call_id]
        assert call.phase.value == "detached" and not session.hungup  # dropped, call kept
        assert await session.wait_hangup(3)
        assert session.cause is HangupCause.RECOVERY_ON_TIMER_EXPIRE
        await peer.close()
        client.ws.transport.abort()  # no closing handshake with a socket that does not read
        await client.close()
    finally:
        await switch.stop()


async def test_a_reattach_offer_nobody_answers_ends_like_a_detached_call(tmp_path):
    switch, port = await boot(tmp_path, **{"detach-timeout-sec": "1"})
    try:
        client = await VertoTestClient.open(port)
        await client.login("1000")
        peer = RtcPeer()
        call_id, _ = await place_call(client, peer, "9999")
        await answered(client, peer)
        session = session_of(call_id)
        await client.close()
        await peer.close()
        again = await VertoTestClient.open(port, sessid=client.sessid)
        await again.login("1000")
        attach = await again.next_request("verto.attach")  # ... and never answered
        assert attach["params"]["callID"] == call_id
        assert running_service().calls.by_id[call_id].phase.value == "attaching"
        assert await session.wait_hangup(3)
        assert session.cause is HangupCause.RECOVERY_ON_TIMER_EXPIRE
        bye = await again.next_request("verto.bye")
        assert bye["params"] == {"callID": call_id, "causeCode": 102, "cause": "RECOVERY_ON_TIMER_EXPIRE"}
        await again.close()
    finally:
        await switch.stop()


async def test_an_offer_with_video_gets_audio_and_an_inactive_video_line(connect):
    client = await connect(login="1000")
    peer = RtcPeer(1000)
    peer.pc.addTransceiver("video", direction="sendrecv")
    call_id, _ = await place_call(client, peer)
    answer = await answered(client, peer)
    video = answer["params"]["sdp"].split("m=video")[1]
    assert "a=inactive" in video
    await peer.wait_frames(50)
    assert abs(await heard_frequency(peer) - 1000) < 20
    await peer.close()
