"""Fixtures for the store tests: a store on a fresh SQLite file, and record factories."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from switchcore.causes import HangupCause
from switchcore.store import CdrRecord, RegistrationRecord, Store, default_url

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def t0() -> datetime:
    return T0


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return default_url(tmp_path)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    s.open()
    yield s
    s.close()


@pytest.fixture
def make_reg() -> Callable[..., RegistrationRecord]:
    def make(
        user: str = "1000", contact: str = "", expires_in: float = 3600, **kw: Any
    ) -> RegistrationRecord:
        fields: dict[str, Any] = {
            "profile": "internal",
            "user": user,
            "realm": "example.test",
            "contact": contact or f"sip:{user}@127.0.0.1:5060",
            "expires_at": T0 + timedelta(seconds=expires_in),
            "call_id": f"cid-{user}",
            "network_ip": "127.0.0.1",
            "network_port": 5060,
        }
        fields.update(kw)
        return RegistrationRecord(**fields)

    return make


@pytest.fixture
def make_cdr() -> Callable[..., CdrRecord]:
    def make(uuid: str = "leg-a", start: datetime = T0, **kw: Any) -> CdrRecord:
        fields: dict[str, Any] = {
            "uuid": uuid,
            "direction": "inbound",
            "start": start,
            "answer": start + timedelta(seconds=2),
            "end": start + timedelta(seconds=62, microseconds=500),
            "hangup_cause": HangupCause.NORMAL_CLEARING,
        }
        fields.update(kw)
        return CdrRecord(**fields)

    return make
