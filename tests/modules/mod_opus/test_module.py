"""The module declaration: its codecs reach the registry, and opus.conf is read when it loads."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from lxml import etree

import modules.mod_opus as mod_opus
from modules.mod_opus import OpusSettings, codecs, module
from switchcore.core import Switch
from switchcore.events import Event, EventBus
from switchcore.module import Module
from switchcore.registry import Registry

ROOT = Path(__file__).resolve().parents[3]
VECTORS = ROOT / "tests" / "vectors" / "opus"


@pytest.fixture
def restore_settings() -> Iterator[None]:
    saved = codecs.settings
    try:
        yield
    finally:
        codecs.settings = saved


def test_module_declares_the_opus_codecs() -> None:
    assert isinstance(module, Module)
    assert (module.name, module.description) == ("mod_opus", "Opus codec")
    assert [s.key for s in module.codecs] == ["OPUS/48000/1", "OPUS/48000/2", "OPUS/16000/1", "OPUS/8000/1"]
    assert module.on_load is not None
    assert set(mod_opus.__all__) <= set(dir(mod_opus))


def test_registry_takes_the_module_and_finds_opus_by_rate() -> None:
    registry = Registry()
    registry.add(module)
    assert registry.find_codec("OPUS").key == "OPUS/48000/1"  # type: ignore[union-attr]
    assert registry.find_codec("opus", 16000).key == "OPUS/16000/1"  # type: ignore[union-attr]
    assert registry.find_codec("OPUS", 48000, 2).key == "OPUS/48000/2"  # type: ignore[union-attr]
    registry.remove("mod_opus")
    assert registry.find_codec("OPUS") is None


class FakeSwitch:
    """Just what the load hook touches: the configuration in force and the event bus."""

    def __init__(self, element: Any) -> None:
        self.element = element
        self.config = SimpleNamespace(current=SimpleNamespace(configuration=lambda name: self.element))
        self.events = EventBus()


def fake_switch(element: Any) -> Any:
    return FakeSwitch(element)


def conf(path: Path) -> Any:
    return etree.parse(str(path)).getroot()


async def test_load_hook_reads_opus_conf(restore_settings: None) -> None:
    assert module.on_load is not None
    await module.on_load(fake_switch(conf(VECTORS / "opus_conf_custom.xml")))
    assert codecs.settings.mono and codecs.settings.maxaveragebitrate == 24000
    spec = codecs.find(48000, 2)
    assert spec.default_fmtp["stereo"] == "0"
    assert spec.make_encoder({}).bitrate == 24000  # type: ignore[attr-defined]
    assert not spec.make_decoder({}).use_fec  # type: ignore[attr-defined]  # use-jb-lookahead false


async def test_load_hook_without_opus_conf_uses_the_defaults(restore_settings: None) -> None:
    codecs.settings = OpusSettings(mono=True)
    assert module.on_load is not None and module.on_shutdown is not None
    switch = fake_switch(None)
    await module.on_load(switch)
    assert codecs.settings == OpusSettings()
    await module.on_shutdown(switch)


async def test_reloadxml_rereads_opus_conf_for_the_next_calls(
    restore_settings: None, caplog: pytest.LogCaptureFixture
) -> None:
    switch = fake_switch(None)
    assert module.on_load is not None and module.on_shutdown is not None
    await module.on_load(switch)
    switch.element = conf(VECTORS / "opus_conf_custom.xml")
    switch.events.fire(Event.create("HEARTBEAT"))
    assert codecs.settings == OpusSettings()
    switch.events.fire(Event.create("RELOADXML"))
    assert codecs.settings.maxaveragebitrate == 24000
    switch.element = conf(VECTORS / "opus_conf_bad_number.xml")
    with caplog.at_level(logging.ERROR, logger="mod_opus"):
        switch.events.fire(Event.create("RELOADXML"))
    assert codecs.settings.maxaveragebitrate == 24000  # a broken opus.conf keeps what is in force
    assert "mod_opus: opus.conf not applied: opus.conf: param complexity wants a number" in caplog.text
    await module.on_shutdown(switch)
    switch.element = None
    switch.events.fire(Event.create("RELOADXML"))
    assert codecs.settings.maxaveragebitrate == 24000  # unloaded: no longer listening


async def test_switch_loads_mod_opus_with_the_trees_opus_conf(tmp_path: Path, restore_settings: None) -> None:
    conf_dir = tmp_path / "conf"
    shutil.copytree(ROOT / "tests" / "conf", conf_dir)
    shutil.copy(VECTORS / "opus_conf_custom.xml", conf_dir / "autoload_configs" / "opus.conf.xml")
    switch = Switch(conf_dir=conf_dir, data_dir=tmp_path / "data", sounds_dir=ROOT / "sounds")
    await switch.start(modules=["mod_opus"])
    try:
        assert "mod_opus" in switch.report.loaded
        loaded = switch.registry.modules["mod_opus"]
        spec = switch.registry.find_codec("OPUS", 48000, 2)
        assert spec is not None and spec in loaded.codecs
        assert dict(spec.default_fmtp)["maxaveragebitrate"] == "24000"
        (conf_dir / "autoload_configs" / "opus.conf.xml").write_text(
            '<configuration name="opus.conf"><settings>'
            '<param name="maxaveragebitrate" value="48000"/></settings></configuration>'
        )
        await switch.reload_config()
        assert dict(spec.default_fmtp)["maxaveragebitrate"] == "48000"
    finally:
        await switch.stop()
