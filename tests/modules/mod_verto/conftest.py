"""Fixtures: a switch booted from mod_verto's own conf tree on a test port, and Verto clients.

Ports: WebSocket 15900-15939 for in-process switches (one per test, cycling),
15940-15949 for switches in a child process (Chromium and benchmark runs).
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from switchcore.core import Switch

from .verto_client import VertoTestClient

HERE = Path(__file__).resolve().parent
CONF = HERE / "conf"
ROOT = HERE.parents[2]
_ports = itertools.cycle(range(15900, 15940))


def next_port() -> int:
    return next(_ports)


def make_conf(tmp_path: Path, port: int, **verto_params: str) -> Path:
    """A copy of the test tree with the Verto port set (and profile params replaced or added)."""
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    (conf / "vars.xml").write_text(
        f'<include>\n  <X-PRE-PROCESS cmd="set" data="verto_port={port}"/>\n</include>\n'
    )
    if verto_params:
        path = conf / "autoload_configs" / "verto.conf.xml"
        text = path.read_text()
        for name, value in verto_params.items():
            marker = f'<param name="{name}" value="'
            if marker in text:
                start = text.index(marker) + len(marker)
                text = text[:start] + value + text[text.index('"', start) :]
            else:
                text = text.replace(
                    "</profile>", f'  <param name="{name}" value="{value}"/>\n      </profile>'
                )
        path.write_text(text)
    return conf


SOFIA_CONF = """<configuration name="sofia.conf" description="sofia Endpoint">
  <global_settings><param name="log-level" value="0"/></global_settings>
  <profiles>
    <profile name="internal">
      <settings>
        <param name="sip-ip" value="127.0.0.1"/>
        <param name="rtp-ip" value="127.0.0.1"/>
        <param name="sip-port" value="{sip_port}"/>
        <param name="context" value="public"/>
        <param name="dialplan" value="XML"/>
        <param name="codec-prefs" value="PCMU,PCMA"/>
        <param name="dtmf-type" value="rfc2833"/>
        <param name="rfc2833-pt" value="101"/>
        <param name="auth-calls" value="true"/>
        <param name="force-register-domain" value="$${{domain}}"/>
      </settings>
    </profile>
  </profiles>
</configuration>
"""
FULL_DIAL_STRING = (
    "{^^:sip_invite_domain=${dialed_domain}:presence_id=${dialed_user}@${dialed_domain}}"
    "${sofia_contact(*/${dialed_user}@${dialed_domain})},${verto_contact(${dialed_user}@${dialed_domain})}"
)


def add_sofia(conf: Path, sip_port: int, rtp_ports: tuple[int, int]) -> None:
    """Load mod_sofia too: an `internal` profile on `sip_port`, RTP in `rtp_ports`, and the default
    directory dial-string that rings SIP registrations and browsers at once."""
    (conf / "autoload_configs" / "sofia.conf.xml").write_text(SOFIA_CONF.format(sip_port=sip_port))
    modules = conf / "autoload_configs" / "modules.conf.xml"
    modules.write_text(
        modules.read_text().replace(
            '<load module="mod_verto"/>', '<load module="mod_sofia"/>\n      <load module="mod_verto"/>'
        )
    )
    switch_conf = conf / "autoload_configs" / "switch.conf.xml"
    extra = f'<param name="rtp-start-port" value="{rtp_ports[0]}"/><param name="rtp-end-port" value="{rtp_ports[1]}"/>'
    switch_conf.write_text(switch_conf.read_text().replace("</settings>", f"  {extra}\n    </settings>"))
    directory = conf / "directory" / "default.xml"
    text = directory.read_text()
    start = text.index('<param name="dial-string" value="') + len('<param name="dial-string" value="')
    directory.write_text(text[:start] + FULL_DIAL_STRING + text[text.index('"/>', start) :])


async def boot(
    tmp_path: Path, sip: tuple[int, tuple[int, int]] | None = None, **verto_params: str
) -> tuple[Switch, int]:
    port = next_port()
    conf = make_conf(tmp_path, port, **verto_params)
    if sip is not None:
        add_sofia(conf, *sip)
    switch = Switch(conf_dir=conf, data_dir=tmp_path / "data", sounds_dir=ROOT / "sounds")
    await switch.start()
    assert "mod_verto" in switch.registry.modules, switch.report
    return switch, port


@pytest.fixture
async def verto_switch(tmp_path: Path) -> AsyncIterator[tuple[Switch, int]]:
    """(switch, port): the switch with mod_verto listening on `ws://127.0.0.1:<port>`."""
    switch, port = await boot(tmp_path)
    try:
        yield switch, port
    finally:
        await switch.stop()


@pytest.fixture
async def connect(
    verto_switch: tuple[Switch, int],
) -> AsyncIterator[Callable[..., Awaitable[VertoTestClient]]]:
    """`await connect()` opens a raw client; `await connect(login="1000")` also logs in."""
    _, port = verto_switch
    opened: list[VertoTestClient] = []

    async def open_client(
        login: str | None = None, password: str = "1234", sessid: str | None = None
    ) -> VertoTestClient:
        client = await VertoTestClient.open(port, sessid=sessid)
        opened.append(client)
        if login is not None:
            await client.login(login, password)
        return client

    yield open_client
    for client in opened:
        await client.close()
