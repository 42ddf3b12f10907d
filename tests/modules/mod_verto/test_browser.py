"""The browser phone in headless Chromium against the switch on 127.0.0.1 (slow).

Chromium's microphone plays a 1 kHz WAV (`--use-file-for-fake-audio-capture`).
The page logs in, calls 9196 (echo, recorded by `record_session`), and gets its
tone back: `getStats` counts packets in the page, and the switch's recording of
the call holds 1 kHz.  The socket is then dropped mid-call: the page reconnects
with the same sessid, the call is re-attached and audio flows again.  A call to
the browser is answered from the page.  A screenshot of every state is kept
under test-artifacts/verto/.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from modules.mod_verto import running_service
from switchcore.events import Event
from switchcore.media.analysis import dominant_frequency, rms, sine, tone_present
from switchcore.media.wavfile import read_wav, write_wav

from .conftest import ROOT, boot

pytestmark = pytest.mark.slow

ARTIFACTS = ROOT / "test-artifacts" / "verto"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]


def tone_wav(path: Path, freq: float = 1000.0, seconds: float = 30.0) -> Path:
    write_wav(path, sine(freq, seconds * 1000, 48000, amplitude=12000.0), 48000)
    return path


async def wait_for(page, expression: str, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    """Poll a JS expression in the page until it is truthy; returns its value."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        value = await page.evaluate(expression)
        if value:
            return value
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {expression}")
        await asyncio.sleep(0.1)


async def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.locator("#phone").screenshot(path=str(ARTIFACTS / f"{name}.png"))


@pytest.fixture
async def browser(tmp_path):  # type: ignore[no-untyped-def]
    from playwright.async_api import async_playwright

    wav = tone_wav(tmp_path / "mic-1khz.wav")
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=[*FLAGS, f"--use-file-for-fake-audio-capture={wav}"],
            viewport={"width": 480, "height": 900},
        )
        try:
            yield context
        finally:
            await context.close()


async def test_the_page_calls_echo_survives_a_reconnect_and_answers_a_call(tmp_path, browser):
    switch, port = await boot(tmp_path)
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        await page.goto(f"http://127.0.0.1:{port}/")
        await shot(page, "01-sign-in")

        # A wrong password: the same error as an unknown user, shown clearly.
        await page.fill("#login-user", "1000")
        await page.fill("#login-password", "wrong")
        await page.click("#login-button")
        await wait_for(page, "!document.getElementById('login-error').hidden")
        assert await page.inner_text("#login-error") == "Wrong extension or password"
        await shot(page, "02-wrong-password")

        await page.fill("#login-password", "1234")
        await page.click("#login-button")
        await wait_for(page, "vertoPhone.state().view === 'phone' && vertoPhone.state().conn === 'ready'")
        await shot(page, "03-ready")

        # Call 9196 and hear ourselves.
        await page.fill("#number", "9196")
        await page.click("#call")
        await wait_for(page, "vertoPhone.state().call === 'active'")
        call_id = await page.evaluate("vertoPhone.call.callID")
        await wait_for(page, "vertoPhone.stats().then(s => s && s.packetsReceived > 100)")
        for key in "12#":
            await page.keyboard.press(key)
        await asyncio.sleep(1.5)
        await shot(page, "04-in-call")
        assert await page.inner_text("#call-dtmf") == "12#"
        session = switch.sessions[call_id]
        assert session.driver.read_codec == "OPUS"

        await page.click("#hold")
        await wait_for(page, "vertoPhone.state().call === 'held'")
        await shot(page, "05-on-hold")
        await page.keyboard.press("h")
        await wait_for(page, "vertoPhone.state().call === 'active'")
        await page.keyboard.press("m")
        await wait_for(page, "vertoPhone.call.muted")
        await shot(page, "06-muted")
        await page.keyboard.press("m")

        # The socket drops mid-call: the page reconnects with its sessid, the call is re-attached.
        await page.evaluate("vertoPhone.dropSocket()")
        await wait_for(
            page, "vertoPhone.state().conn === 'reconnecting' || vertoPhone.state().conn === 'down'", 5
        )
        await shot(page, "07-connection-lost")
        await wait_for(page, "document.getElementById('notice').textContent.includes('re-attached')", 15)
        await wait_for(
            page, "vertoPhone.state().call === 'active' && vertoPhone.call.pc.connectionState === 'connected'"
        )
        await wait_for(page, "vertoPhone.stats().then(s => s && s.packetsReceived > 100)")
        await shot(page, "08-re-attached")
        assert not session.hungup and call_id in switch.sessions
        await asyncio.sleep(1.5)  # audio flows again, into the recording

        await page.keyboard.press("Escape")
        await wait_for(page, "vertoPhone.state().call === 'ended'")
        await shot(page, "09-call-ended")
        assert await session.wait_destroyed(5)
        recording = tmp_path / "data" / "recordings" / f"{call_id}.wav"
        shutil.copy(recording, ARTIFACTS / "echo-call.wav")
        samples, info = read_wav(recording)
        mono = samples[:: info.channels]
        half = info.rate // 2
        heard = [dominant_frequency(mono[i : i + half], info.rate) for i in range(0, len(mono) - half, half)]
        # Chromium's noise suppression and gain control soften a steady tone, but it stays 1 kHz,
        # apart from the hold (music) and mute moments.
        assert sum(abs(f - 1000) < 15 for f in heard) >= 0.7 * len(heard), heard
        tail = mono[-info.rate :]  # the last second: after the re-attach
        assert tone_present(tail, info.rate, 1000)
        assert rms(tail) > 300

        # The switch calls the browser; the page answers and hears the echo of its own tone.
        await wait_for(page, "vertoPhone.call === null", 5)
        originate = asyncio.ensure_future(switch.api("originate verto.rtc/1000@127.0.0.1 &echo()"))
        await wait_for(page, "!document.getElementById('incoming').hidden")
        await shot(page, "10-incoming-call")
        await page.click("#answer")
        assert (await asyncio.wait_for(originate, 15)).startswith("+OK")
        await wait_for(page, "vertoPhone.state().call === 'active'")
        await wait_for(page, "vertoPhone.stats().then(s => s && s.packetsReceived > 50)")
        await shot(page, "11-answered")
        await page.click("#hangup")
        await wait_for(page, "vertoPhone.state().call === 'ended'")
        assert errors == []
    finally:
        await page.close()
        await switch.stop()


async def test_a_denied_microphone_is_reported(tmp_path):
    from playwright.async_api import async_playwright

    switch, port = await boot(tmp_path)
    try:
        async with async_playwright() as playwright:
            flags = [f for f in FLAGS if f != "--use-fake-ui-for-media-stream"]
            context = await playwright.chromium.launch_persistent_context(
                str(tmp_path / "profile"),
                executable_path=CHROMIUM,
                headless=True,
                args=flags,
                viewport={"width": 480, "height": 900},
            )
            page = await context.new_page()
            await page.goto(f"http://127.0.0.1:{port}/")
            await page.fill("#login-user", "1001")
            await page.fill("#login-password", "1234")
            await page.click("#login-button")
            await wait_for(page, "vertoPhone.state().conn === 'ready'")
            await page.fill("#number", "9196")
            await page.click("#call")
            text = await wait_for(
                page,
                "!document.getElementById('notice').hidden && document.getElementById('notice').textContent",
            )
            assert "Microphone" in text
            await shot(page, "12-microphone-denied")
            assert switch.sessions == {}
            await context.close()
    finally:
        await switch.stop()


def member_row(number: str, name: str, talking: bool = False, muted: bool = False) -> list:  # type: ignore[type-arg]
    """A live-array row as mod_conference sends it (the status is a JSON string)."""
    status = {
        "audio": {
            "muted": muted,
            "deaf": False,
            "onHold": False,
            "talking": talking,
            "floor": talking,
            "energyScore": 0,
        }
    }
    return [number, number, name, "opus@48000", json.dumps(status), {}, None]


async def test_the_page_shows_a_conference_member_list_from_the_live_array(tmp_path, browser):
    switch, port = await boot(tmp_path)
    page = await browser.new_page()
    try:
        await page.goto(f"http://127.0.0.1:{port}/")
        await page.fill("#login-user", "1000")
        await page.fill("#login-password", "1234")
        await page.click("#login-button")
        await wait_for(page, "vertoPhone.state().conn === 'ready'")
        sessid = await page.evaluate("vertoPhone.client.sessid")
        la = "conference-liveArray.3000-127.0.0.1@127.0.0.1"

        def send(channel: str, body: dict) -> None:  # type: ignore[type-arg]
            event = Event.create("CUSTOM", "verto::broadcast", **{"Event-Channel": channel})
            event.body = json.dumps(body)
            switch.events.fire(event)

        send(
            sessid,
            {"pvtData": {"action": "conference-liveArray-join", "laChannel": la, "laName": "3000-127.0.0.1"}},
        )
        service = running_service()
        for _ in range(50):
            if service.channels.subscribers(la):
                break
            await asyncio.sleep(0.1)
        assert len(service.channels.subscribers(la)) == 1
        rows = [["a", member_row("1000", "Extension 1000", talking=True)], ["b", member_row("1001", "Alice")]]
        send(la, {"action": "bootObj", "name": "3000-127.0.0.1", "wireSerno": -1, "data": rows})
        await wait_for(page, "document.querySelectorAll('#members-list li').length === 2")
        modify = {
            "action": "modify",
            "hashKey": "b",
            "wireSerno": 1,
            "data": member_row("1001", "Alice", muted=True),
        }
        send(la, modify)
        await wait_for(page, "document.getElementById('members-list').textContent.includes('muted')")
        assert await page.inner_text("#members-count") == "(2)"
        await shot(page, "15-conference-members")
        send(la, {"action": "del", "hashKey": "a", "wireSerno": 2})
        await wait_for(page, "document.querySelectorAll('#members-list li').length === 1")
    finally:
        await page.close()
        await switch.stop()


async def test_the_page_in_a_real_conference_lists_its_members(tmp_path, browser):
    from .test_conference import boot_with_conference, join

    switch, port = await boot_with_conference(tmp_path)
    page = await browser.new_page()
    try:
        await page.goto(f"http://127.0.0.1:{port}/")
        await page.fill("#login-user", "1000")
        await page.fill("#login-password", "1234")
        await page.click("#login-button")
        await wait_for(page, "vertoPhone.state().conn === 'ready'")
        await page.fill("#number", "3000")
        await page.click("#call")
        await wait_for(page, "vertoPhone.state().call === 'active'")
        await wait_for(page, "document.querySelectorAll('#members-list li').length === 1")
        other, peer, _, _ = await join(port, "1001", 600)
        await wait_for(page, "document.querySelectorAll('#members-list li').length === 2")
        await wait_for(page, "vertoPhone.stats().then(s => s && s.packetsReceived > 100)")
        await asyncio.sleep(1.0)
        text = await page.inner_text("#members-list")
        assert "1000" in text and "1001" in text
        await shot(page, "16-in-a-conference")
        await other.close()
        await peer.close()
        await page.click("#hangup")
        await wait_for(page, "vertoPhone.state().call === 'ended'")
    finally:
        await page.close()
        await switch.stop()
