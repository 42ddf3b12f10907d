"""Browsers and SIP phones call each other through the switch (slow): a pjsua2 phone registered on
mod_sofia, a browser (aiortc, Opus) logged in on mod_verto; tones cross both ways, DTMF from the
browser reaches the phone, and whichever side hangs up, the other follows.

Ports: switch SIP 15940, phones SIP 15941-15944, phones' RTP 43000-43199, the switch's SIP RTP
43200-43399 (WebSocket as the other mod_verto tests).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from switchcore.media.analysis import dominant_frequency
from tests.peers.audio import read_wav, tone_present
from tests.peers.fixtures import make_phone
from tests.peers.ports import PortAllocator

from .conftest import boot
from .test_browser import browser, shot, wait_for
from .verto_client import RtcPeer, VertoTestClient, dialog

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

SIP_PORT = 15940
REGISTRAR = f"sip:127.0.0.1:{SIP_PORT}"

__all__ = ["browser", "make_phone", "peer_ports"]


@pytest.fixture(scope="session")
def peer_ports() -> PortAllocator:
    return PortAllocator(sip=(15941, 15944), rtp=(43000, 43199), ctrl=(15946, 15949))


async def registered_phone(make_phone, name: str, user: str, freq: float, auto_answer: bool = False):  # type: ignore[no-untyped-def]
    phone = await asyncio.to_thread(make_phone, name, auto_answer=auto_answer)
    await asyncio.to_thread(phone.register, user, "1234", REGISTRAR, domain="127.0.0.1")
    await asyncio.to_thread(phone.codecs, ["PCMU/8000"])
    await asyncio.to_thread(phone.tone, freq, 60)
    return phone


async def heard(peer: RtcPeer, seconds: float = 1.0) -> float:
    await asyncio.sleep(seconds)
    return dominant_frequency(peer.recent(seconds), peer.rate)


async def test_a_browser_calls_a_sip_phone(tmp_path: Path, make_phone):  # type: ignore[no-untyped-def]
    switch, port = await boot(tmp_path, sip=(SIP_PORT, (43200, 43399)))
    try:
        phone = await registered_phone(make_phone, "p1001", "1001", 600, auto_answer=True)
        browser = await VertoTestClient.open(port)
        await browser.login("1000")
        peer = RtcPeer(1000)
        call_id = str(uuid.uuid4())
        await browser.call(
            "verto.invite", {"sdp": await peer.offer(), "dialogParams": dialog(call_id, "1001")}
        )
        answer = await browser.next_request("verto.answer", timeout=15)
        await peer.accept(answer["params"]["sdp"])
        await asyncio.to_thread(phone.wait_call_state, "CONFIRMED", None, 10)
        await peer.wait_frames(50)
        await asyncio.to_thread(phone.record, tmp_path / "phone-heard.wav")
        assert abs(await heard(peer, 2.0) - 600) < 20  # the phone's tone reaches the browser
        await asyncio.to_thread(phone.stop_record)
        samples, rate = read_wav(tmp_path / "phone-heard.wav")
        assert tone_present(samples[rate // 2 :], rate, 1000)  # and the browser's reaches the phone
        for digit in "159#":
            await browser.call("verto.info", {"dtmf": digit, "dialogParams": {"callID": call_id}})
        assert (await asyncio.to_thread(phone.wait_dtmf, "159#", 10)).endswith("159#")
        await asyncio.to_thread(phone.hangup_and_wait)  # the phone hangs up: the browser follows
        bye = await browser.next_request("verto.bye", timeout=10)
        assert bye["params"]["callID"] == call_id and bye["params"]["cause"] == "NORMAL_CLEARING"
        await peer.close()
        await browser.close()
    finally:
        await switch.stop()


async def test_a_sip_phone_calls_a_browser(tmp_path: Path, make_phone):  # type: ignore[no-untyped-def]
    switch, port = await boot(tmp_path, sip=(SIP_PORT, (43200, 43399)))
    try:
        phone = await registered_phone(make_phone, "p1001", "1001", 600)
        browser = await VertoTestClient.open(port)
        await browser.login("1000")
        handle = await asyncio.to_thread(phone.call, f"sip:1000@127.0.0.1:{SIP_PORT}")
        invite = await browser.next_request("verto.invite", timeout=15)
        assert invite["params"]["caller_id_number"] == "1001"
        peer = RtcPeer(1000)
        sdp = await peer.answer(invite["params"]["sdp"])
        call_id = invite["params"]["callID"]
        await browser.call("verto.answer", {"sdp": sdp, "dialogParams": {"callID": call_id}})
        await asyncio.to_thread(phone.wait_call_state, "CONFIRMED", handle, 10)
        await peer.wait_frames(50)
        await asyncio.to_thread(phone.record, tmp_path / "phone-heard.wav")
        assert abs(await heard(peer, 2.0) - 600) < 20
        await asyncio.to_thread(phone.stop_record)
        samples, rate = read_wav(tmp_path / "phone-heard.wav")
        assert tone_present(samples[rate // 2 :], rate, 1000)
        await asyncio.to_thread(phone.dtmf, "7")  # the phone's DTMF reaches the browser as verto.info
        info = await browser.next_request("verto.info", timeout=10)
        assert info["params"] == {"callID": call_id, "dtmf": "7"}
        await browser.call("verto.bye", {"dialogParams": {"callID": call_id}})  # the browser hangs up
        await asyncio.to_thread(phone.wait_call_state, "DISCONNECTED", handle, 10)
        await peer.close()
        await browser.close()
    finally:
        await switch.stop()


async def test_the_browser_phone_and_a_sip_phone_call_each_other(tmp_path: Path, make_phone, browser):  # type: ignore[no-untyped-def]
    """The page (Chromium, 1 kHz microphone) and a pjsua2 phone (600 Hz), both directions."""
    switch, port = await boot(tmp_path, sip=(SIP_PORT, (43200, 43399)))
    page = await browser.new_page()
    try:
        phone = await registered_phone(make_phone, "p1001", "1001", 600, auto_answer=True)
        await page.goto(f"http://127.0.0.1:{port}/")
        await page.fill("#login-user", "1000")
        await page.fill("#login-password", "1234")
        await page.click("#login-button")
        await wait_for(page, "vertoPhone.state().conn === 'ready'")

        # The page calls the phone: tones cross, the page's DTMF reaches the phone, the phone hangs up.
        await page.fill("#number", "1001")
        await page.keyboard.press("Enter")
        await wait_for(page, "vertoPhone.state().call === 'active'")
        await asyncio.to_thread(phone.wait_call_state, "CONFIRMED", None, 10)
        await wait_for(page, "vertoPhone.stats().then(s => s && s.packetsReceived > 100)")
        await asyncio.to_thread(phone.record, tmp_path / "from-page.wav")
        await asyncio.sleep(2.0)
        await asyncio.to_thread(phone.stop_record)
        samples, rate = read_wav(tmp_path / "from-page.wav")
        assert tone_present(samples[rate // 2 :], rate, 1000)
        for key in "42#":
            await page.keyboard.press(key)
        assert (await asyncio.to_thread(phone.wait_dtmf, "42#", 10)).endswith("42#")
        await shot(page, "13-calling-a-sip-phone")
        await asyncio.to_thread(phone.hangup_and_wait)
        await wait_for(page, "vertoPhone.state().call === 'ended'")
        await wait_for(page, "vertoPhone.call === null", 5)

        # The phone calls the page: the page answers, then hangs up; the phone follows.
        handle = await asyncio.to_thread(phone.call, f"sip:1000@127.0.0.1:{SIP_PORT}")
        await wait_for(page, "!document.getElementById('incoming').hidden")
        assert "1001" in await page.inner_text("#incoming-party")
        await shot(page, "14-sip-phone-calling")
        await page.click("#answer")
        await asyncio.to_thread(phone.wait_call_state, "CONFIRMED", handle, 10)
        await wait_for(page, "vertoPhone.stats().then(s => s && s.packetsReceived > 100)")
        await asyncio.to_thread(phone.record, tmp_path / "answered-by-page.wav")
        await asyncio.sleep(2.0)
        await asyncio.to_thread(phone.stop_record)
        samples, rate = read_wav(tmp_path / "answered-by-page.wav")
        assert tone_present(samples[rate // 2 :], rate, 1000)
        await page.click("#hangup")
        await asyncio.to_thread(phone.wait_call_state, "DISCONNECTED", handle, 10)
    finally:
        await page.close()
        await switch.stop()
