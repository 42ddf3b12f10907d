"""End-to-end fixtures: the real switch process on the default configuration, and real phones."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.peers.fixtures import make_baresip, make_phone, make_sipp  # noqa: F401  (fixtures)
from tests.peers.ports import PortAllocator

from .switch_process import SwitchProcess, make_conf

# This directory's ports: SIP 15800 (internal) / 15880 (external), ESL 15821, Verto 15881;
# phones and other peers 15830-15879, RTP 42000-42999.
E2E_VARS = {
    "internal_sip_port": "15800",
    "external_sip_port": "15880",
    "event_socket_port": "15821",
    "verto_port": "15881",
}
ESL_PORT = 15821
SIP = "sip:127.0.0.1:15800"


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
