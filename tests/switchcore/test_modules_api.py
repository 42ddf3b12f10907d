"""Modules at run time, directory APIs, and start-up with modules that are missing or broken."""

from __future__ import annotations

import shutil
from pathlib import Path

from switchcore.core import Switch

TEST_CONF = Path(__file__).resolve().parents[1] / "conf"


async def test_load_unload_reload_and_unknown_modules(switch):
    assert await switch.api("unload mod_tone_stream") == "+OK\n"
    assert "tone_stream" not in switch.registry.file_formats
    assert await switch.api("load mod_tone_stream") == "+OK\n"
    assert "tone_stream" in switch.registry.file_formats
    assert await switch.api("reload mod_tone_stream") == "+OK module reloaded\n"
    reply = await switch.api("load mod_nonexistent")
    assert reply.startswith("-ERR") and "not found" in reply
    assert (await switch.api("load mod_tone_stream")).startswith("-ERR")  # already loaded
    assert await switch.api("unload") == "-USAGE: [-f] <mod_name>\n"


async def test_directory_apis(switch):
    assert await switch.api("user_exists id 1000 127.0.0.1") == "true"
    assert await switch.api("user_exists id 4242 127.0.0.1") == "false"
    assert await switch.api("user_data 1000@127.0.0.1 param password") == "1234"
    assert await switch.api("user_data 1000@127.0.0.1 var effective_caller_id_name") == "Extension 1000"
    assert (await switch.api("user_data nope")).startswith("-USAGE:")


async def test_show_and_status_formats(switch):
    status = await switch.api("status")
    assert status.startswith("UP 0 years,") and "is ready" in status
    for what in ("api", "application", "codec", "endpoint", "modules"):
        out = await switch.api(f"show {what}")
        assert out.rstrip().endswith("total."), what
    assert "loopback" in await switch.api("show endpoint")
    assert "PCMU" in await switch.api("show codec")


async def test_missing_modules_are_named_and_the_rest_still_loads(tmp_path: Path):
    conf = tmp_path / "conf"
    shutil.copytree(TEST_CONF, conf)
    modules = conf / "autoload_configs" / "modules.conf.xml"
    modules.write_text(modules.read_text().replace('<load module="mod_loopback"/>', '<load module="mod_loopback"/>\n      <load module="mod_bogus"/>'))
    sw = Switch(conf_dir=conf, data_dir=tmp_path / "data")
    report = await sw.start()
    try:
        assert report.missing == ["mod_bogus"]
        assert "missing=mod_bogus" in sw.ready_line()
        assert "mod_loopback" in sw.registry.modules
    finally:
        await sw.stop()


async def test_uuid_dump_shows_the_channel(switch):
    from .helpers import call

    a = await call(switch, "loopback/9999")
    out = await switch.api(f"uuid_dump {a.uuid}")
    assert f"Unique-ID: {a.uuid}" in out and "Channel-State: " in out
    assert '"Unique-ID"' in await switch.api(f"uuid_dump {a.uuid} json")
    assert (await switch.api("uuid_dump nope")).startswith("-ERR No such channel")
    a.hangup()
