"""The semantic diff between two loaded trees."""

from __future__ import annotations

import shutil
from pathlib import Path

from switchcore.xmlconf.diff import diff_configs, flatten
from switchcore.xmlconf.tree import XmlConfig

VECTORS = Path(__file__).parents[2] / "vectors" / "xmlconf"
BASE = {"local_ip_v4": "127.0.0.1", "sounds_dir": "/snd"}


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "conf"
    shutil.copytree(VECTORS / "basic", target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_identical_trees_have_no_changes() -> None:
    a, b = XmlConfig.load(VECTORS / "basic", BASE), XmlConfig.load(VECTORS / "basic", BASE)
    diff = diff_configs(a, b)
    assert not diff and diff.format() == "no changes"


def test_first_load_lists_everything_as_added() -> None:
    diff = diff_configs(None, XmlConfig.load(VECTORS / "basic", BASE))
    assert "+ context default" in diff.format().splitlines()
    assert "+ user 1000@127.0.0.1" in diff.format().splitlines()


def test_changes_are_reported_per_object(tmp_path: Path) -> None:
    conf = _copy(tmp_path)
    old = XmlConfig.load(conf, BASE)
    _edit(conf / "vars.xml", 'data="hold_music=local_stream://moh"', 'data="hold_music=local_stream://jazz"')
    _edit(conf / "vars.xml", 'default_password=5678"', 'default_password=9999"')
    _edit(conf / "sip_profiles" / "internal.xml", 'value="public"', 'value="default"')
    _edit(conf / "dialplan" / "default.xml", '<extension name="first">', '<extension name="renamed">')
    _edit(conf / "directory" / "default" / "1001.xml", "Extension 1001", "Bob")
    (conf / "directory" / "default" / "1002.xml").write_text('<include><user id="1002"/></include>')
    (conf / "autoload_configs" / "switch.conf.xml").unlink()
    lines = diff_configs(old, XmlConfig.load(conf, BASE)).format().splitlines()
    assert '~ variable hold_music: "local_stream://moh" -> "local_stream://jazz"' in lines
    assert "~ variable default_password: (hidden) -> (hidden)" in lines
    assert "- configuration switch.conf" in lines
    sofia = next(line for line in lines if line.startswith("~ configuration sofia.conf: "))
    assert 'profiles/profile[internal]/settings/param[context]: value="public" -> value="default"' in sofia
    assert "param[hold-music]: " in sofia  # it used $${hold_music}
    assert "+ extension default/renamed" in lines
    assert "- extension default/first" in lines
    assert "+ user 1002@127.0.0.1" in lines
    assert '~ user 1001@127.0.0.1: ~variable effective_caller_id_name "Extension 1001" -> "Bob"' in lines
    assert "~ user 1000@127.0.0.1: ~param password (hidden) -> (hidden)" in lines


def test_extension_order_change_is_a_change(tmp_path: Path) -> None:
    conf = _copy(tmp_path)
    old = XmlConfig.load(conf, BASE)
    (conf / "dialplan" / "default" / "00_inc.xml").rename(conf / "dialplan" / "00_moved.xml")
    _edit(
        conf / "dialplan" / "default.xml",
        '<X-PRE-PROCESS cmd="include" data="default/*.xml"/>',
        "",
    )
    _edit(
        conf / "dialplan" / "default.xml",
        '  <context name="default">\n',
        '  <context name="default">\n    <X-PRE-PROCESS cmd="include" data="00_moved.xml"/>\n',
    )
    lines = diff_configs(old, XmlConfig.load(conf, BASE)).format().splitlines()
    assert lines == ["~ context default: extension order changed"]


def test_flatten_names_repeated_elements() -> None:
    config = XmlConfig.load(VECTORS / "basic", BASE)
    modules = config.configuration("modules.conf")
    assert modules is not None
    flat = flatten(modules)
    assert flat["modules/load#2"] == 'module="mod_sofia" critical="true"'
