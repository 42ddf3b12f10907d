"""A 48 kHz room of real Opus phones (baresip): listeners hear the talkers through the shared encoder.

Two baresip phones send tones, two send silence; all four call the
cdquality room (33xx, 48 kHz) of the default configuration in the real switch
process, over SIP with Opus.  baresip decodes what it receives (its sndfile
dumps), and the checks look for the talkers' tones there: each listener
hears both, each talker only the other.  The CDRs say how many of each
member's frames came from the room's shared encode (`conference_shared_frames`):
nearly all of a listener's, none of a talker's (who hears the room minus
itself through its own encoder).

Ports (this directory's real-peer range): the switch's SIP 16400 (internal) /
16401 (external), event socket 16402, Verto 16403, its RTP 44120-44249; the
phones' SIP 16410-16449, control 16450-16499, RTP 44000-44119.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from switchcore.store import Store
from tests.e2e.switch_process import SwitchProcess, make_conf
from tests.peers.audio import describe, tone_present, write_wav
from tests.peers.baresip import Baresip
from tests.peers.ports import PortAllocator

pytestmark = pytest.mark.slow

SIP_PORT, EXTERNAL_SIP_PORT, ESL_PORT, VERTO_PORT = 16400, 16401, 16402, 16403
SWITCH_RTP = (44120, 44249)
SIP = f"sip:127.0.0.1:{SIP_PORT}"
ROOM = "3300"
TALKERS = {"1000": 500.0, "1001": 1200.0}
LISTENERS = ("1002", "1003")
SECONDS = 6.0
SKIP = 2.0  # the enter tones and the first talk detection


PHONE_RTP = (44000, 44119)
PORTS = PortAllocator(sip=(16410, 16449), rtp=PHONE_RTP, ctrl=(16450, 16499))
_rtp_cursor = [PHONE_RTP[0]]


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _rtp_block(count: int = 6) -> tuple[int, int]:
    """An even-based block of free UDP ports for one phone's RTP.

    RTP is UDP only, so unlike PortAllocator.rtp this does not ask TCP too: this range lies in
    the kernel's ephemeral range, where other tests' TCP connections leave TIME-WAIT sockets.
    """
    low, high = PHONE_RTP
    for _ in range((high - low) // 2):
        base = _rtp_cursor[0]
        _rtp_cursor[0] = base + count if base + 2 * count <= high else low
        if all(_udp_free(p) for p in range(base, base + count)):
            return base, base + count - 1
    raise RuntimeError(f"no {count} free UDP ports in {low}-{high}")


@pytest.fixture
def make_baresip(tmp_path: Path) -> Iterator[Callable[..., Baresip]]:
    """baresip phones on this test's ports, all closed at teardown."""
    made: list[Baresip] = []

    def factory(name: str, **options: Any) -> Baresip:
        phone = Baresip(
            name,
            PORTS.sip(2),
            PORTS.ctrl(),
            PORTS.ctrl(),
            rtp_ports=_rtp_block(),
            workdir=tmp_path / f"baresip-{name}",
            **options,
        )
        made.append(phone)
        return phone

    yield factory
    for phone in made:
        phone.close()


@pytest.fixture
def switch_proc(tmp_path: Path) -> Iterator[SwitchProcess]:
    conf = make_conf(
        tmp_path / "conf",
        {
            "internal_sip_port": str(SIP_PORT),
            "external_sip_port": str(EXTERNAL_SIP_PORT),
            "event_socket_port": str(ESL_PORT),
            "verto_port": str(VERTO_PORT),
        },
    )
    switch_conf = conf / "autoload_configs" / "switch.conf.xml"
    text = re.sub(r'(name="rtp-start-port" value=")\d+', rf"\g<1>{SWITCH_RTP[0]}", switch_conf.read_text())
    text = re.sub(r'(name="rtp-end-port" value=")\d+', rf"\g<1>{SWITCH_RTP[1]}", text)
    switch_conf.write_text(text)
    proc = SwitchProcess(conf, tmp_path / "data")
    try:
        ready = proc.wait_ready()
        assert f"sip udp 127.0.0.1:{SIP_PORT}" in ready, f"{ready}\n{proc.output(30)}"
        yield proc
    finally:
        proc.stop()
    tracebacks = [line for line in proc.lines if line.startswith("Traceback")]
    assert not tracebacks, proc.output(200)


def _inbound_cdrs(proc: SwitchProcess) -> dict[str, Any]:
    """Each inbound leg's CDR by caller id number (after the switch stopped)."""
    proc.stop()
    store = Store(f"sqlite:///{proc.data}/switchcore.db")
    store.open()
    try:
        return {cdr.caller_id_number: cdr for cdr in store.cdrs() if cdr.direction == "inbound"}
    finally:
        store.close()


def _member_rows(listing: str) -> list[list[str]]:
    """`conference <room> list` rows (FreeSWITCH's format: id;channel;uuid;name;number;flags;...)."""
    return [f for f in (line.split(";") for line in listing.splitlines()) if len(f) >= 9 and f[0].isdigit()]


def test_opus_listeners_hear_every_talker_through_one_shared_encode(
    switch_proc: SwitchProcess,
    make_baresip: Callable[..., Baresip],
    tmp_path: Path,
) -> None:
    quiet = tmp_path / "silence-48k-stereo.wav"
    write_wav(quiet, np.zeros(48000 * 60 * 2, dtype=np.int16), 48000, channels=2)
    phones: dict[str, Baresip] = {}
    for user in LISTENERS:  # listeners first: the talkers are mixed from the moment they join
        phones[user] = make_baresip(
            f"b{user}", user=user, password="1234", registrar=SIP, audio_source=quiet, codecs=["opus"]
        )
    for user, freq in TALKERS.items():
        phones[user] = make_baresip(
            f"b{user}", user=user, password="1234", registrar=SIP, tone_hz=freq, codecs=["opus"]
        )
    for phone in phones.values():
        phone.dial_and_wait_established(f"sip:{ROOM}@127.0.0.1:{SIP_PORT}")
    time.sleep(SECONDS)
    listing = switch_proc.api(f"conference {ROOM}-127.0.0.1 list", port=ESL_PORT)
    for phone in phones.values():
        since = phone.mark()
        phone.hangup()
        phone.wait_closed(timeout=10, since=since)
    heard: dict[str, tuple[Any, int]] = {user: phone.received_audio() for user, phone in phones.items()}

    assert sorted(row[4] for row in _member_rows(listing)) == sorted(phones), listing
    for user in LISTENERS:
        samples, rate = heard[user]
        assert rate == 48000
        for freq in TALKERS.values():
            assert tone_present(samples, rate, freq, skip_seconds=SKIP, min_ratio=0.2), (
                f"listener {user} should hear {freq} Hz: {describe(samples, rate, SKIP)}"
            )
    for user, own in TALKERS.items():
        samples, rate = heard[user]
        other = next(f for u, f in TALKERS.items() if u != user)
        assert tone_present(samples, rate, other, skip_seconds=SKIP, min_ratio=0.4), (
            f"talker {user} should hear {other} Hz: {describe(samples, rate, SKIP)}"
        )
        assert not tone_present(samples, rate, own, skip_seconds=SKIP, min_ratio=0.05), (
            f"talker {user} should not hear itself ({own} Hz): {describe(samples, rate, SKIP)}"
        )

    cdrs = _inbound_cdrs(switch_proc)
    assert {user: cdrs[user].write_codec for user in phones} == dict.fromkeys(phones, "OPUS")
    ticks = int(SECONDS * 50)
    for user in LISTENERS:
        assert int(cdrs[user].variables["conference_shared_frames"]) >= ticks * 0.9, cdrs[user].variables
    for user in TALKERS:  # talking from the first frame: their own encoder all along
        assert int(cdrs[user].variables["conference_shared_frames"]) < 25, cdrs[user].variables
