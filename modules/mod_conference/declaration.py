"""The module declaration, and the per-switch set-up done when it loads and unloads."""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchcore.module import Module

from .manager import manager_for

if TYPE_CHECKING:
    from switchcore.core import Switch

module = Module("mod_conference", "Audio conference bridge: rooms, prompts, controls, recording")


@module.loaded
async def _load(switch: Switch) -> None:
    manager_for(switch)


@module.shutdown
async def _shutdown(switch: Switch) -> None:
    await manager_for(switch).shutdown()
