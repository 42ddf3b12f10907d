"""A browser and two SIP phones in one 48 kHz room, 3300 (slow).

The page (Chromium, its microphone a 1 kHz WAV) and two pjsua2 phones (PCMU, 600 Hz and 1500 Hz)
join conference 3300 (the shipped `cdquality` profile and 33xx extension).  Checked:

- every party hears the two others and not itself: each phone records what it receives; the
  browser's audio is recorded in the page (MediaRecorder on the remote stream, decoded here) and on
  the switch (a stereo `uuid_record` of the browser's channel: left what it sends, right what it
  hears);
- the page's member list has the three members and its talking indicators follow the live array:
  on for a member sending tone, off for a silent one, on when that one starts its tone, and for a
  member muted with `conference 3300-127.0.0.1 mute <id>`, off and marked muted (back on after
  unmute); off again when a phone stops its tone; a phone that holds the call shows on hold.

What is heard is measured once the room plays nothing of its own.  The page, alone first, starts
the alone prompt (conf-alone.wav, 3.46 s); the phones' enter tones (`tone_stream://%(200,0,500,600,
700)`) queue behind it, as in FreeSWITCH (conference_member_add: the alone sound is no async file),
so they can play seconds after the phones joined.  Measured over them, phone 1001 "heard its own
tone": 600 Hz is one of the enter tone's three (issue 7, seen in full-suite runs, where the room's
missed ticks stretch the prompt; tests/modules/mod_conference/test_prompts_and_own_tone.py shows it
in process).

Screenshots of the member list go to test-artifacts/verto/conference-3300-*.png.

Ports: switch SIP 16100, phones SIP 16101-16139 (control 16140-16199), phones' RTP 44250-44369,
the switch's SIP RTP 44370-44499 (no other test's: mod_verto's test_sip_browser uses 43000-43399),
the WebSocket from the mod_verto tests' own range.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.async_api import BrowserContext, Page

from modules.mod_conference import Room, manager_for
from switchcore.core import Switch
from switchcore.events import Event
from tests.peers.audio import band_energy_ratio, describe, read_wav, rms
from tests.peers.fixtures import make_phone
from tests.peers.phone import Phone
from tests.peers.ports import PortAllocator

from .conftest import ROOT, add_sofia, make_conf, next_port
from .test_browser import ARTIFACTS, browser, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

__all__ = ["browser", "make_phone", "peer_ports"]

SIP_PORT = 16100
SWITCH_RTP = (44370, 44499)
ROOM = "3300-127.0.0.1"
PHONE_TONES = {"1001": 600.0, "1003": 1500.0}
BROWSER_TONE = 1000.0  # the `browser` fixture's microphone WAV
MIN_LEVEL = 300.0  # a tone heard: at least this rms (int16 scale) in its band
ABSENT_LEVEL = 100.0  # a tone not heard: under this rms in its band (or near the floor beside it)
NEIGHBOUR = 170.0  # the floor beside a tone is measured this far either side of it
FLOOR_FACTOR = 3.0

Samples = Any  # numpy float arrays on the int16 scale

# MediaRecorder on what the page receives (the <audio> element's stream), for `ms` milliseconds,
# returned as base64 WebM/Opus.
RECORD_IN_PAGE = """async (ms) => {
  const stream = document.getElementById('remote-audio').srcObject;
  const recorder = new MediaRecorder(stream, { mimeType: 'audio/webm;codecs=opus' });
  const chunks = [];
  recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
  const stopped = new Promise((resolve) => { recorder.onstop = resolve; });
  recorder.start(250);
  await new Promise((resolve) => setTimeout(resolve, ms));
  recorder.stop();
  await stopped;
  const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer());
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}"""


@pytest.fixture(scope="session")
def peer_ports() -> PortAllocator:
    return PortAllocator(sip=(16101, 16139), rtp=(44250, 44369), ctrl=(16140, 16199))


def shipped_extension(name: str) -> str:
    """An extension of the shipped dialplan (conf/dialplan/default.xml), as text."""
    text = (ROOT / "conf" / "dialplan" / "default.xml").read_text()
    start = text.index(f'<extension name="{name}">')
    end = text.index("</extension>", start) + len("</extension>")
    return text[start:end]


async def boot_with_room(tmp_path: Path) -> tuple[Switch, int]:
    """The mod_verto test tree with mod_sofia, mod_conference (the shipped conference.conf) and the
    shipped 33xx extension (`cdquality`, 48 kHz)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", SIP_PORT))
        except OSError as exc:
            pytest.fail(f"the switch's SIP port {SIP_PORT} is held by another run: {exc}")
    port = next_port()
    conf = make_conf(tmp_path, port)
    add_sofia(conf, SIP_PORT, SWITCH_RTP)
    shutil.copy(ROOT / "conf" / "autoload_configs" / "conference.conf.xml", conf / "autoload_configs")
    modules = conf / "autoload_configs" / "modules.conf.xml"
    modules.write_text(
        modules.read_text().replace(
            '<load module="mod_verto"/>', '<load module="mod_conference"/>\n      <load module="mod_verto"/>'
        )
    )
    plan = conf / "dialplan" / "default.xml"
    extension = shipped_extension("cdquality_conferences")
    assert "@cdquality" in extension and "33" in extension
    plan.write_text(
        plan.read_text().replace(
            '  <context name="default">', f'  <context name="default">\n    {extension}', 1
        )
    )
    switch = Switch(conf_dir=conf, data_dir=tmp_path / "data", sounds_dir=ROOT / "sounds")
    await switch.start()
    assert {"mod_conference", "mod_sofia", "mod_verto"} <= set(switch.registry.modules), switch.report
    return switch, port


def phone_joins(make_phone: Callable[..., Phone], user: str) -> Phone:
    """A registered PCMU phone (silent until told to play) in room 3300."""
    phone: Phone = make_phone(f"p{user}")
    phone.register(user, "1234", f"sip:127.0.0.1:{SIP_PORT}", domain="127.0.0.1")
    phone.codecs(["PCMU/8000"])
    phone.call_and_wait_confirmed(f"sip:3300@127.0.0.1:{SIP_PORT}")
    return phone


def decode_webm(data: bytes) -> tuple[Samples, int]:
    """The page's WebM/Opus recording as mono float samples on the int16 scale."""
    import av

    chunks = []
    rate = 48000
    with av.open(io.BytesIO(data), mode="r") as container:
        assert isinstance(container, av.container.InputContainer)
        for frame in container.decode(audio=0):
            rate = frame.sample_rate
            array = frame.to_ndarray().astype(np.float64)
            if frame.format.is_planar:
                mono = array.mean(axis=0)
            else:
                mono = array.reshape(-1, len(frame.layout.channels)).mean(axis=1)
            if frame.format.name.startswith("flt"):
                mono = mono * 32767.0
            chunks.append(mono)
    return (np.concatenate(chunks) if chunks else np.zeros(0)), rate


def tone_levels(samples: Samples, rate: int, tones: list[float]) -> dict[float, float]:
    """The level (rms on the int16 scale) of each tone in a recording, after its first 0.5 s."""
    tail = samples[rate // 2 :]
    level = rms(tail)
    return {f: level * band_energy_ratio(tail, rate, f, skip_seconds=0) ** 0.5 for f in tones}


def hearing(who: str, samples: Samples, rate: int, present: list[float], absent: list[float]) -> str:
    """ "" when every tone of `present` is clearly there and none of `absent` is; otherwise what is
    wrong, with the levels heard.

    Present: over MIN_LEVEL.  Absent: under ABSENT_LEVEL, or no louder than FLOOR_FACTOR times the
    recording's floor beside it (each slip of a jitter buffer splashes a little of the loud tones
    over the whole band; a tone that is really there stands far above that floor).
    """
    neighbours = [f + step for f in absent for step in (-NEIGHBOUR, NEIGHBOUR)]
    levels = tone_levels(samples, rate, present + absent + neighbours)
    floor = {f: max(levels[f - NEIGHBOUR], levels[f + NEIGHBOUR]) for f in absent}
    missing = [f for f in present if levels[f] < MIN_LEVEL]
    extra = [f for f in absent if levels[f] >= max(ABSENT_LEVEL, FLOOR_FACTOR * floor[f])]
    summary = ", ".join(f"{f:g} Hz {levels[f]:.0f}" for f in present + absent)
    summary += "; floor " + ", ".join(f"{f:g} Hz {level:.0f}" for f, level in floor.items())
    print(f"{who}: {summary}")
    if not missing and not extra:
        return ""
    return (
        f"{who} should hear {present} Hz and not {absent} Hz; missing {missing}, wrongly heard {extra}: "
        f"{describe(samples[rate // 2 :], rate, 0)}; tone levels {summary}"
    )


async def members(page: Page) -> dict[str, dict[str, Any]]:
    """What the page's member list shows, by caller id number (read from the rendered items)."""
    items = await page.evaluate(
        """() => [...document.querySelectorAll('#members-list li')].map((li) => ({
             number: li.dataset.number, id: li.dataset.memberId,
             talking: li.classList.contains('talking'), muted: li.classList.contains('muted'),
             text: li.textContent, me: li.classList.contains('me') }))"""
    )
    return {item["number"]: item for item in items}


def shown(number: str, talking: bool, muted: bool = False) -> str:
    """A page expression: the member's item shows talking / muted as given."""
    selector = f'#members-list li[data-number="{number}"]'
    return (
        f"(() => {{ const li = document.querySelector('{selector}'); return !!li"
        f" && li.classList.contains('talking') === {str(talking).lower()}"
        f" && li.classList.contains('muted') === {str(muted).lower()}; }})()"
    )


async def room_quiet(room: Room, timeout: float = 15.0) -> None:
    """Wait until the room plays nothing of its own (the alone prompt, then the enter tones queued
    behind it): measured over the enter tone, 600 Hz is everyone's, phone 1001's too."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while room.player.busy:
        queued = [item.spec for item in room.player.queue]
        assert loop.time() < deadline, f"the room still plays {queued} after {timeout} s"
        await asyncio.sleep(0.05)


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.locator("#phone").screenshot(path=str(ARTIFACTS / f"conference-3300-{name}.png"))


async def test_a_browser_and_two_sip_phones_in_3300_hear_each_other_and_the_page_shows_who_talks(
    tmp_path: Path, make_phone: Callable[..., Phone], browser: BrowserContext
) -> None:
    switch, port = await boot_with_room(tmp_path)
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        # The page joins first, then the phones (silent for now).
        await page.goto(f"http://127.0.0.1:{port}/")
        await page.fill("#login-user", "1000")
        await page.fill("#login-password", "1234")
        await page.click("#login-button")
        await wait_for(page, "vertoPhone.state().conn === 'ready'")
        await page.fill("#number", "3300")
        await page.click("#call")
        await wait_for(page, "vertoPhone.state().call === 'active'")
        await wait_for(page, "document.querySelectorAll('#members-list li').length === 1")
        phones = dict(
            zip(
                PHONE_TONES,
                await asyncio.gather(
                    *(asyncio.to_thread(phone_joins, make_phone, user) for user in PHONE_TONES)
                ),
                strict=True,
            )
        )
        await wait_for(page, "document.querySelectorAll('#members-list li').length === 3")
        assert await page.inner_text("#members-count") == "(3)"
        listed = await members(page)
        assert set(listed) == {"1000", *PHONE_TONES}, listed
        assert listed["1000"]["me"] and not listed["1001"]["me"] and not listed["1003"]["me"]
        room = manager_for(switch).find(ROOM)
        assert room is not None and room.rate == 48000
        browser_member = next(m for m in room.members if m.session.profile.caller_id_number == "1000")
        assert room.live.rows[browser_member.uuid][3].lower() == "opus@48000"

        # Talking follows the tone: the browser talks from the start, the silent phones do not;
        # a phone that starts its tone turns its indicator on.
        await wait_for(page, shown("1000", talking=True))
        for user in PHONE_TONES:
            assert await page.evaluate(shown(user, talking=False)), await members(page)
        for user, freq in PHONE_TONES.items():
            await asyncio.to_thread(phones[user].tone, freq, 10)  # looped
        for user in PHONE_TONES:
            await wait_for(page, shown(user, talking=True), 10)
        assert await page.inner_text("#members-talking") == "3 talking"
        await shot(page, "all-talking")

        # Every party hears the two others and not itself, once the room's own prompts are over.
        await room_quiet(room)
        call_id = await page.evaluate("vertoPhone.call.callID")
        assert (await switch.api(f"uuid_setvar {call_id} RECORD_STEREO true")).startswith("+OK")
        server_side = tmp_path / "browser-channel.wav"
        assert (await switch.api(f"uuid_record {call_id} start {server_side}")).startswith("+OK")
        for user, phone in phones.items():
            await asyncio.to_thread(phone.record, tmp_path / f"heard-{user}.wav")
        in_page = await page.evaluate(RECORD_IN_PAGE, 3500)
        for phone in phones.values():
            await asyncio.to_thread(phone.stop_record)
        assert (await switch.api(f"uuid_record {call_id} stop {server_side}")).startswith("+OK")
        assert not room.player.busy and room.count == 3  # nothing of the room's own in what was measured

        problems = []
        for user in PHONE_TONES:
            samples, rate = read_wav(tmp_path / f"heard-{user}.wav")
            others = [f for u, f in PHONE_TONES.items() if u != user]
            problems.append(
                hearing(f"phone {user}", samples, rate, [*others, BROWSER_TONE], [PHONE_TONES[user]])
            )
        webm = base64.b64decode(in_page)
        (tmp_path / "browser-heard.webm").write_bytes(webm)
        received, rate = decode_webm(webm)
        assert len(received) > 3 * rate, f"the page recorded {len(received) / rate:.2f} s"
        problems.append(hearing("the page", received, rate, list(PHONE_TONES.values()), [BROWSER_TONE]))
        stereo, channels, rate = read_stereo(server_side)
        assert channels == 2
        problems.append(
            hearing(
                "the browser's channel (sent)", stereo[:, 0], rate, [BROWSER_TONE], list(PHONE_TONES.values())
            )
        )
        problems.append(
            hearing(
                "the browser's channel (heard)",
                stereo[:, 1],
                rate,
                list(PHONE_TONES.values()),
                [BROWSER_TONE],
            )
        )
        assert not any(problems), "\n".join(p for p in problems if p)

        # Muted from the API: the page shows it muted and not talking; the others still talk.
        muted_id = int(listed["1001"]["id"])
        assert (await switch.api(f"conference {ROOM} mute {muted_id}")).startswith("OK mute")
        await wait_for(page, shown("1001", talking=False, muted=True))
        assert await page.evaluate(shown("1003", talking=True)) and await page.evaluate(
            shown("1000", talking=True)
        )
        assert "muted" in (await members(page))["1001"]["text"].lower()
        await shot(page, "1001-muted")
        # ... and it is what the page hears: the muted phone's tone is gone, the other one stays.
        received, rate = decode_webm(base64.b64decode(await page.evaluate(RECORD_IN_PAGE, 2000)))
        problem = hearing(
            "the page, 1001 muted", received, rate, [PHONE_TONES["1003"]], [PHONE_TONES["1001"]]
        )
        assert not problem, problem
        assert (await switch.api(f"conference {ROOM} unmute {muted_id}")).startswith("OK unmute")
        await wait_for(page, shown("1001", talking=True))

        # A phone that stops its tone stops talking (after the hang-over).
        await asyncio.to_thread(phones["1003"].stop_play)
        await wait_for(page, shown("1003", talking=False), 10)
        assert await page.evaluate(shown("1001", talking=True))
        await shot(page, "1003-silent")

        # A phone puts the room on hold (re-INVITE a=sendonly): the page shows it on hold, then back.
        hold_badge = "document.querySelector('#members-list li[data-number=\"1003\"] .badge.hold') !== null"
        await asyncio.to_thread(phones["1003"].hold)
        await wait_for(page, hold_badge, 10)
        await shot(page, "1003-on-hold")
        await asyncio.to_thread(phones["1003"].unhold)
        await wait_for(page, f"!({hold_badge})", 10)

        # A phone hangs up: it leaves the list.
        await asyncio.to_thread(phones["1003"].hangup_and_wait)
        await wait_for(page, "document.querySelectorAll('#members-list li').length === 2")
        await page.click("#hangup")
        await wait_for(page, "vertoPhone.state().call === 'ended'")
        assert errors == []
    finally:
        await page.close()
        await switch.stop()


def read_stereo(path: Path) -> tuple[Samples, int, int]:
    """A 16-bit WAV as (frames x channels) floats, its channel count and rate."""
    import wave

    with wave.open(str(path), "rb") as src:
        channels, rate = src.getnchannels(), src.getframerate()
        raw = src.readframes(src.getnframes())
    data = np.frombuffer(raw, dtype="<i2").astype(np.float64)
    return data[: len(data) - len(data) % channels].reshape(-1, channels), channels, rate


def fake_row(row: list[Any], **audio: bool) -> list[Any]:
    """A copy of a live-array row with some of its audio status changed."""
    status = json.loads(row[4])
    status["audio"].update(audio)
    return [*row[:4], json.dumps(status), *row[5:]]


async def test_the_page_asks_for_the_live_array_again_after_a_lost_message(
    tmp_path: Path, browser: BrowserContext
) -> None:
    """A browser's socket may drop events when it falls behind; a gap in the live array's wireSerno
    makes the page bootstrap again (verto.js checkSerno), and a message older than the last one
    applied is skipped."""
    switch, port = await boot_with_room(tmp_path)
    page = await browser.new_page()
    try:
        await page.goto(f"http://127.0.0.1:{port}/")
        await page.fill("#login-user", "1000")
        await page.fill("#login-password", "1234")
        await page.click("#login-button")
        await wait_for(page, "vertoPhone.state().conn === 'ready'")
        await page.fill("#number", "3300")
        await page.click("#call")
        await wait_for(page, "vertoPhone.state().call === 'active'")
        await wait_for(page, "document.querySelectorAll('#members-list li').length === 1")
        room = manager_for(switch).find(ROOM)
        assert room is not None
        [member] = room.members
        live = room.live

        # Muted (so its tone no longer sends talking updates): a real modify, the page's base serial.
        assert (await switch.api(f"conference {ROOM} mute {member.id} quiet")).startswith("OK mute")
        await wait_for(page, shown("1000", talking=False, muted=True))
        last = live.serno - 1
        assert await page.evaluate("vertoPhone.liveArray().serno") == last

        def send(serno: int, row: list[Any]) -> None:
            data = {
                "action": "modify",
                "name": live.name,
                "hashKey": member.uuid,
                "wireSerno": serno,
                "data": row,
            }
            event = Event.create("CUSTOM", "verto::broadcast", **{"Event-Channel": live.channel})
            event.body = json.dumps(data)
            switch.events.fire(event)

        # Two messages lost: the next one arrives with serial last + 3 and claims the member unmuted.
        send(last + 3, fake_row(live.rows[member.uuid], muted=False, talking=True))
        await wait_for(page, "vertoPhone.liveArray().gaps === 1")
        # The bootstrap brings back the room's truth: still muted.
        await wait_for(page, "vertoPhone.liveArray().asking === 0")
        assert await page.evaluate(shown("1000", talking=False, muted=True))

        # A stale message (an old serial) is skipped; the room's next real update is applied.
        await wait_for(page, "vertoPhone.liveArray().serno === -1")
        send(last + 4, live.rows[member.uuid])  # the new base after the gap
        send(last + 2, fake_row(live.rows[member.uuid], deaf=True))  # older than the base: skipped
        live.serno = last + 5  # the room numbers on past what was injected
        assert (await switch.api(f"conference {ROOM} unmute {member.id} quiet")).startswith("OK unmute")
        await wait_for(page, shown("1000", talking=True, muted=False))
        assert not await page.evaluate(
            "document.querySelector('#members-list li[data-number=\"1000\"] .badge.deaf') !== null"
        )
        assert await page.evaluate("vertoPhone.liveArray().gaps") == 1
        await shot(page, "after-resync")
        await page.click("#hangup")
        await wait_for(page, "vertoPhone.state().call === 'ended'")
    finally:
        await page.close()
        await switch.stop()
