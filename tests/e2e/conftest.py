"""End-to-end fixtures: the real switch process on the default configuration, and real phones."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.peers.fixtures import make_baresip, make_phone, make_sipp  # noqa: F401  (fixtures)
from tests.peers.ports import PortAllocator

from .switch_process import SwitchProcess, make_conf

# This directory's ports: SIP 15800 (internal) / 15880 (external), ESL 15821, Verto 15881;
# phones and other peers 15830-15879, RTP 42000-42999.  SWITCHCORE_E2E_SWITCH_PORTS=
# "<internal>,<external>,<esl>,<verto>" moves the switch's own ports (peers check that their
# ports are free, the switch's are fixed), so two checkouts' e2e runs can share a machine.
_SWITCH_PORTS = [
    int(p) for p in os.environ.get("SWITCHCORE_E2E_SWITCH_PORTS", "15800,15880,15821,15881").split(",")
]
SIP_PORT, EXTERNAL_SIP_PORT, ESL_PORT, VERTO_PORT = _SWITCH_PORTS
E2E_VARS = {
    "internal_sip_port": str(SIP_PORT),
    "external_sip_port": str(EXTERNAL_SIP_PORT),
    "event_socket_port": str(ESL_PORT),
    "verto_port": str(VERTO_PORT),
}
SIP = f"sip:127.0.0.1:{SIP_PORT}"


@pytest.fixture(scope="session")
def peer_ports() -> PortAllocator:
    return PortAllocator(sip=(15830, 15879), rtp=(42000, 42999), ctrl=(15882, 15899))


@pytest.fixture
def start_switch(tmp_path: Path) -> Iterator[Callable[..., SwitchProcess]]:
    started: list[SwitchProcess] = []

    def start(overrides: dict[str, str] | None = None, conf: Path | None = None) -> SwitchProcess:
        variables = dict(E2E_VARS)
        variables.update(overrides or {})
        conf_dir = conf or make_conf(tmp_path / f"conf{len(started)}", variables)
        proc = SwitchProcess(conf_dir, tmp_path / f"data{len(started)}")
        started.append(proc)
        proc.wait_ready()
        return proc

    yield start
    for proc in started:
        proc.stop()
    # Nothing a test does may leave a traceback in the switch's log (mod_sofia "Bad input and abuse").
    for proc in started:
        tracebacks = [i for i, line in enumerate(proc.lines) if line.startswith("Traceback")]
        if tracebacks:
            first = tracebacks[0]
            context = "\n".join(proc.lines[max(0, first - 5) : first + 30])
            pytest.fail(
                f"{len(tracebacks)} traceback(s) in the switch log; the first:\n{context}", pytrace=False
            )


@pytest.fixture
def switch_proc(start_switch: Callable[..., SwitchProcess]) -> SwitchProcess:
    return start_switch()
