"""reloadxml is all or nothing: a broken tree keeps the running one and says where it broke."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from switchcore.core import Switch

from .helpers import EventLog

TEST_CONF = Path(__file__).resolve().parents[1] / "conf"


@pytest.fixture
async def conf_switch(tmp_path: Path) -> AsyncIterator[tuple[Switch, Path]]:
    conf = tmp_path / "conf"
    shutil.copytree(TEST_CONF, conf)
    sw = Switch(conf_dir=conf, data_dir=tmp_path / "data")
    await sw.start()
    try:
        yield sw, conf
    finally:
        await sw.stop()


async def test_a_broken_file_keeps_the_running_tree_and_names_file_and_line(conf_switch):
    switch, conf = conf_switch
    extra = conf / "dialplan" / "extra.xml"
    extra.write_text('<include>\n  <context name="default">\n    <extension name="x">\n  </context>\n</include>\n')
    reply = await switch.api("reloadxml")
    assert reply.startswith("-ERR ")
    assert "extra.xml:" in reply
    assert "9196" in await switch.api("dialplan test default 9196")
    assert "echo" in await switch.api("dialplan test default 9196")


async def test_a_good_change_is_swapped_in_with_a_diff_and_a_reloadxml_event(conf_switch):
    switch, conf = conf_switch
    log = EventLog(switch)
    (conf / "dialplan" / "extra.xml").write_text(
        '<include>\n  <context name="extra">\n    <extension name="new_one">\n'
        '      <condition field="destination_number" expression="^4444$">\n'
        '        <action application="answer"/>\n      </condition>\n    </extension>\n  </context>\n</include>\n'
    )
    reply = await switch.api("reloadxml")
    assert reply.startswith("+OK [Success]")
    assert "+ context extra" in reply
    assert any(e.name == "RELOADXML" for e in log.events)
    assert "new_one" in await switch.api("dialplan test extra 4444")
    log.close()


async def test_a_bad_regex_is_refused_at_reload(conf_switch):
    switch, conf = conf_switch
    (conf / "dialplan" / "extra.xml").write_text(
        '<include>\n  <context name="extra">\n    <extension name="bad">\n'
        '      <condition field="destination_number" expression="^(44$">\n'
        '        <action application="answer"/>\n      </condition>\n    </extension>\n  </context>\n</include>\n'
    )
    reply = await switch.api("reloadxml")
    assert reply.startswith("-ERR ") and "extra.xml:4" in reply


async def test_dialplan_test_shows_conditions_and_the_action_list(conf_switch):
    switch, _ = conf_switch
    out = await switch.api("dialplan test default 819196")
    assert "PASS" in out and "bridge" in out and "loopback/9196" in out
    usage = await switch.api("dialplan nonsense")
    assert usage.startswith("-USAGE:")
