"""pytest fixtures for real-peer tests.  Import them where they are needed::

    from tests.peers.fixtures import kamailio, make_baresip, make_kamailio, make_phone, make_sipp, peer_ports

(or ``from tests.peers.fixtures import *`` in a conftest).  Every factory closes what it made at
teardown, even when the test failed, so no peer process outlives its test.

Ports come from ``peer_ports``, which defaults to the peers harness's own ranges (SIP 15300-15399,
RTP 40000-40999, control 15400-15449).  Tests living in another port range override it::

    @pytest.fixture(scope="session")
    def peer_ports() -> PortAllocator:
        return PortAllocator(sip=(16000, 16099), rtp=(41000, 41999), ctrl=(16100, 16149))
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from .baresip import Baresip
from .kamailio import Kamailio
from .phone import Phone
from .ports import PortAllocator
from .sipp import Sipp

__all__ = [
    "DEFAULT_USERS",
    "kamailio",
    "make_baresip",
    "make_kamailio",
    "make_phone",
    "make_sipp",
    "peer_ports",
]

DEFAULT_USERS = {"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret", "dave": "dave-secret"}


def _close_all(items: list[Any]) -> None:
    """Close peers in parallel (a phone takes about a second to hang up and destroy its library)."""
    if not items:
        return
    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        for future in [pool.submit(item.close) for item in items]:
            # keep closing the others; PeerProcess.stop has already killed hard if it had to
            with contextlib.suppress(Exception):
                future.result(timeout=15)


@pytest.fixture(scope="session")
def peer_ports() -> PortAllocator:
    return PortAllocator(sip=(15300, 15399), rtp=(40000, 40999), ctrl=(15400, 15449))


@pytest.fixture
def make_phone(peer_ports: PortAllocator, tmp_path: Path) -> Iterator[Callable[..., Phone]]:
    """``make_phone("alice", auto_answer=True)`` -> a started :class:`Phone` on fresh ports."""
    made: list[Phone] = []

    def factory(name: str, **options: Any) -> Phone:
        options.setdefault("workdir", tmp_path / f"phone-{name}-{len(made)}")
        options.setdefault("rtp_range", 20)
        phone = Phone.start(name, peer_ports.sip(), peer_ports.rtp(options["rtp_range"]), **options)
        made.append(phone)
        return phone

    yield factory
    _close_all(made)


@pytest.fixture
def make_baresip(peer_ports: PortAllocator, tmp_path: Path) -> Iterator[Callable[..., Baresip]]:
    """``make_baresip("carol", tone_hz=1000, user=..., password=..., registrar=...)`` -> a started baresip."""
    made: list[Baresip] = []

    def factory(name: str, **options: Any) -> Baresip:
        options.setdefault("workdir", tmp_path / f"baresip-{name}-{len(made)}")
        rtp = peer_ports.rtp(20)
        options.setdefault("rtp_ports", (rtp, rtp + 19))
        instance = Baresip(name, peer_ports.sip(2), peer_ports.ctrl(), peer_ports.ctrl(), **options)
        made.append(instance)
        return instance

    yield factory
    _close_all(made)


@pytest.fixture
def make_sipp(peer_ports: PortAllocator, tmp_path: Path) -> Iterator[Callable[..., Sipp]]:
    """``make_sipp("uac_bye", target, service="1000")`` -> an unstarted :class:`Sipp` (``.run()`` / ``.start()``)."""
    made: list[Sipp] = []
    counter = itertools.count()

    def factory(scenario: str, target: str | None = None, **options: Any) -> Sipp:
        options.setdefault("workdir", tmp_path / f"sipp-{Path(scenario).stem}-{next(counter)}")
        options.setdefault("local_port", peer_ports.sip())
        options.setdefault("media_port", peer_ports.rtp(4))
        instance = Sipp(scenario, target, **options)
        made.append(instance)
        return instance

    yield factory
    for instance in made:
        instance.close()


@pytest.fixture
def make_kamailio(peer_ports: PortAllocator, tmp_path: Path) -> Iterator[Callable[..., Kamailio]]:
    """``make_kamailio({"alice": "pw"}, routes={"^9": "sip:127.0.0.1:15080"})`` -> a running kamailio."""
    made: list[Kamailio] = []

    def factory(users: dict[str, str] | None = None, **options: Any) -> Kamailio:
        options.setdefault("workdir", tmp_path / f"kamailio-{len(made)}")
        instance = Kamailio(peer_ports.sip(), users if users is not None else DEFAULT_USERS, **options)
        made.append(instance)
        return instance

    yield factory
    _close_all(made)


@pytest.fixture
def kamailio(make_kamailio: Callable[..., Kamailio]) -> Kamailio:
    """A kamailio registrar/proxy knowing ``DEFAULT_USERS`` (password ``<user>-secret``)."""
    return make_kamailio()
