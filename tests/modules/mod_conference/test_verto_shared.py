"""Browsers (aiortc peers over Verto, Opus) in a 48 kHz room: a listener gets the shared payload.

One listener (sending silence) and two talkers (600 and 1000 Hz) join the
cdquality room over Verto; the listener hears both tones, each talker only the
other.  On the switch side the listener's Verto media sent what the room gave
it as it is (`passthrough_frames`, mod_verto's pass-through of a matching
`Frame.encoded`), the talkers' media encoded their own mix.

Port: Verto WebSocket 16405 (this directory's real-peer range; the baresip room test has 16400-16403 and 16410-16499).
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from modules.mod_conference.manager import manager_for
from switchcore.core import Switch
from switchcore.media.analysis import frequencies_present
from tests.modules.mod_verto.verto_client import RtcPeer, VertoTestClient, dialog

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
VERTO_CONF = ROOT / "tests" / "modules" / "mod_verto" / "conf"
PORT = 16405
ROOM = "3300-127.0.0.1"
TALKERS = (("1001", 600.0), ("1000", 1000.0))  # a user may log in from two browsers


@pytest.fixture
async def switch(tmp_path: Path) -> AsyncIterator[Switch]:
    """mod_verto's test tree on this test's port, with mod_conference and the 33xx (48 kHz) rooms."""
    conf = tmp_path / "conf"
    shutil.copytree(VERTO_CONF, conf)
    (conf / "vars.xml").write_text(
        f'<include>\n  <X-PRE-PROCESS cmd="set" data="verto_port={PORT}"/>\n</include>\n'
    )
    shutil.copy(ROOT / "conf" / "autoload_configs" / "conference.conf.xml", conf / "autoload_configs")
    modules = conf / "autoload_configs" / "modules.conf.xml"
    modules.write_text(
        modules.read_text().replace(
            '<load module="mod_verto"/>', '<load module="mod_conference"/>\n      <load module="mod_verto"/>'
        )
    )
    plan = conf / "dialplan" / "default.xml"
    plan.write_text(
        plan.read_text().replace(
            '  <context name="default">',
            '  <context name="default">\n'
            '    <extension name="cd"><condition field="destination_number" expression="^(33\\d{2})$">'
            '<action application="answer"/><action application="conference" data="$1-${domain_name}@cdquality"/>'
            "</condition></extension>",
            1,
        )
    )
    sw = Switch(conf_dir=conf, data_dir=tmp_path / "data", sounds_dir=ROOT / "sounds")
    await sw.start()
    assert "mod_conference" in sw.registry.modules and "mod_verto" in sw.registry.modules, sw.report
    try:
        yield sw
    finally:
        await sw.stop()


async def join(user: str, freq: float | None) -> tuple[VertoTestClient, RtcPeer]:
    """Log in, invite the room the way the Verto JS client does, and take the answer."""
    client = await VertoTestClient.open(PORT)
    await client.login(user)
    peer = RtcPeer(freq)
    call_id = str(uuid.uuid4())
    reply = await client.call(
        "verto.invite",
        {"sdp": await peer.offer(), "dialogParams": dialog(call_id, "3300", login=f"{user}@127.0.0.1")},
    )
    assert "result" in reply, reply
    message = await client.next_request()
    while message["method"] not in ("verto.answer", "verto.media"):
        message = await client.next_request()
    await peer.accept(message["params"]["sdp"])
    return client, peer


@pytest.mark.timeout(60)
async def test_a_verto_listener_gets_the_rooms_shared_opus_payload(switch: Switch) -> None:
    joined: list[tuple[VertoTestClient, RtcPeer]] = []
    try:
        joined.append(await join("1000", None))  # the listener first: the talkers are mixed at once
        for user, freq in TALKERS:
            joined.append(await join(user, freq))
        for _, peer in joined:
            await peer.wait_frames(50)
        await asyncio.sleep(2.0)
        heard = [frequencies_present(peer.recent(1), peer.rate, [600.0, 1000.0]) for _, peer in joined]
        room = manager_for(switch).find(ROOM)
        assert room is not None
        media: list[Any] = [getattr(m.session.driver, "media", None) for m in room.members]  # join order
    finally:
        for client, peer in joined:
            await client.close()
            await peer.close()
    assert heard == [[600.0, 1000.0], [1000.0], [600.0]]
    listener, talkers = media[0], media[1:]
    assert listener.codec == "OPUS"
    assert listener.passthrough_frames >= 100, (listener.passthrough_frames, listener.frames_out)
    # it encoded for itself only while the talkers were joining
    assert listener.frames_out < listener.passthrough_frames / 4
    for talker in talkers:
        assert talker.frames_out >= 100 and talker.passthrough_frames < 50, (
            talker.passthrough_frames,
            talker.frames_out,
        )
