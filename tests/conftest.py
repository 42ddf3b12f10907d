"""Shared fixtures: a switch booted in-process from a small test configuration tree."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from switchcore.core import Switch

ROOT = Path(__file__).resolve().parent.parent
TEST_CONF = Path(__file__).resolve().parent / "conf"


@pytest.fixture
async def switch(tmp_path: Path) -> AsyncIterator[Switch]:
    """The core with mod_commands, mod_dptools, mod_dialplan_xml and mod_loopback from tests/conf."""
    sw = Switch(conf_dir=TEST_CONF, data_dir=tmp_path / "data", sounds_dir=ROOT / "sounds")
    await sw.start()
    try:
        yield sw
    finally:
        await sw.stop()
