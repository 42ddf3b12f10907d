"""The module declaration: its codecs reach the registry, and opus.conf is read when it loads."""

from __future__ import annotations

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


def fake_switch(element: Any) -> Any:
    return SimpleNamespace(
        config=SimpleNamespace(current=SimpleNamespace(configuration=lambda name: element))
    )


async def test_load_hook_reads_opus_conf(restore_settings: None) -> None:
    element = etree.parse(str(VECTORS / "opus_conf_custom.xml")).getroot()
    assert module.on_load is not None
    await module.on_load(fake_switch(element))
    assert codecs.settings.mono and codecs.settings.maxaveragebitrate == 24000
    spec = codecs.find(48000, 2)
    assert spec.default_fmtp["stereo"] == "0"
    assert spec.make_encoder({}).bitrate == 24000  # type: ignore[attr-defined]
    assert not spec.make_decoder({}).use_fec  # type: ignore[attr-defined]  # use-jb-lookahead false


async def test_load_hook_without_opus_conf_uses_the_defaults(restore_settings: None) -> None:
    codecs.settings = OpusSettings(mono=True)
    assert module.on_load is not None
    await module.on_load(fake_switch(None))
    assert codecs.settings == OpusSettings()


async def test_switch_loads_mod_opus_with_the_trees_opus_conf(tmp_path: Path, restore_settings: None) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "tests" / "conf", conf)
    shutil.copy(VECTORS / "opus_conf_custom.xml", conf / "autoload_configs" / "opus.conf.xml")
    switch = Switch(conf_dir=conf, data_dir=tmp_path / "data", sounds_dir=ROOT / "sounds")
    await switch.start(modules=["mod_opus"])
    try:
        assert "mod_opus" in switch.report.loaded
        loaded = switch.registry.modules["mod_opus"]
        spec = switch.registry.find_codec("OPUS", 48000, 2)
        assert spec is not None and spec in loaded.codecs
        assert dict(spec.default_fmtp)["maxaveragebitrate"] == "24000"
    finally:
        await switch.stop()
