"""Fixtures: a switch booted from mod_conference's own conf tree (loopback callers join rooms)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from switchcore.core import Switch

ROOT = Path(__file__).resolve().parents[3]
CONF = Path(__file__).resolve().parent / "conf"


@pytest.fixture
async def switch(tmp_path: Path) -> AsyncIterator[Switch]:
    """The core with commands, dptools, the XML dialplan, loopback, tone/local streams and mod_conference."""
    sw = Switch(conf_dir=CONF, data_dir=tmp_path / "data", sounds_dir=ROOT / "sounds")
    await sw.start()
    assert "mod_conference" in sw.report.loaded, sw.report
    try:
        yield sw
    finally:
        await sw.stop()
