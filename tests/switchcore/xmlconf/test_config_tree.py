"""XmlConfig lookups and the transactional ConfigHolder (reloadxml)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from switchcore.errors import ConfigError
from switchcore.xmlconf.location import ConfigWarning
from switchcore.xmlconf.tree import ConfigHolder, XmlConfig, load

VECTORS = Path(__file__).parents[2] / "vectors" / "xmlconf"
BASE = {"local_ip_v4": "127.0.0.1", "sounds_dir": "/snd", "conf_dir": "/etc/switchcore", "hostname": "pbx"}


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    target = tmp_path / "conf"
    shutil.copytree(VECTORS / "basic", target)
    return target


def test_lookups_by_section_and_name() -> None:
    config = load(VECTORS / "basic", BASE)
    sofia = config.configuration("sofia.conf")
    assert sofia is not None and sofia.get("description") == "sofia Endpoint"
    assert config.configuration("nope.conf") is None
    assert sorted(config.configurations()) == [
        "event_socket.conf",
        "modules.conf",
        "sofia.conf",
        "switch.conf",
    ]
    assert sorted(config.dialplan_contexts()) == ["default", "public"]
    context = config.dialplan_context("public")
    assert context is not None and config.where(context) == ("dialplan/public.xml", 2)
    assert [d.get("name") for d in config.directory_domains()] == ["127.0.0.1"]
    assert config.section("directory") is not None and config.section("chatplan") is None


def test_global_vars_hold_base_and_set_variables_read_only() -> None:
    config = load(VECTORS / "basic", BASE)
    assert config.global_vars["hostname"] == "pbx"
    assert config.global_vars["hold_music"] == "local_stream://moh"
    with pytest.raises(TypeError):
        config.global_vars["x"] = "y"  # type: ignore[index]


def test_derived_values_are_computed_once_per_tree() -> None:
    config = load(VECTORS / "basic", BASE)
    calls: list[int] = []

    def build(c: XmlConfig) -> int:
        calls.append(1)
        return len(c.files)

    assert config.derived("count", build) == config.derived("count", build)
    assert calls == [1]


def test_fsxml_dump_is_preprocessed() -> None:
    text = load(VECTORS / "basic", BASE).to_xml()
    assert "X-PRE-PROCESS" not in text and "$${" not in text and "<include>" not in text
    assert '<extension name="included"' in text


def test_holder_loads_and_reports_success(conf: Path) -> None:
    holder = ConfigHolder(conf, BASE)
    result = holder.load_initial()
    assert (result.ok, result.reply, result.swapped) == (True, "+OK [Success]", True)
    assert holder.current.dialplan_context("default") is not None
    assert any(isinstance(w, ConfigWarning) for w in result.warnings)


def test_current_before_load_is_an_error(conf: Path) -> None:
    with pytest.raises(ConfigError, match="not loaded"):
        ConfigHolder(conf, BASE).current  # noqa: B018


def test_syntax_error_keeps_old_tree_and_names_file_and_line(conf: Path) -> None:
    holder = ConfigHolder(conf, BASE)
    holder.load_initial()
    old = holder.current
    (conf / "dialplan" / "public.xml").write_text(
        '<include>\n  <context name="public">\n    <extension>\n</include>\n'
    )
    result = holder.reload()
    assert not result.ok and not result.swapped
    assert result.reply.startswith("-ERR dialplan/public.xml:4: XML syntax error:")
    assert holder.current is old


def test_validator_errors_refuse_the_swap(conf: Path) -> None:
    holder = ConfigHolder(conf, BASE)
    holder.load_initial()
    old = holder.current

    def no_public(config: XmlConfig) -> Iterator[ConfigError | ConfigWarning]:
        context = config.dialplan_context("public")
        if context is not None:
            file, line = config.where(context)
            yield ConfigError("public context is forbidden here", file, line)
        yield ConfigWarning("just so you know")

    holder.add_validator(no_public)
    result = holder.reload()
    assert result.reply == "-ERR dialplan/public.xml:2: public context is forbidden here"
    assert holder.current is old
    assert ConfigWarning("just so you know") in result.warnings
    with pytest.raises(ValueError):
        holder.add_validator(no_public)
    holder.remove_validator(no_public)
    assert holder.reload().ok


def test_successful_reload_swaps_and_describes_changes(conf: Path) -> None:
    holder = ConfigHolder(conf, BASE)
    holder.load_initial()
    old = holder.current
    path = conf / "dialplan" / "default" / "00_inc.xml"
    path.write_text(path.read_text().replace("^1234$", "^4321$"))
    result = holder.reload()
    assert result.ok and result.swapped and holder.current is not old
    assert result.diff_text == "~ extension default/included"


def test_dry_run_checks_without_swapping(conf: Path) -> None:
    holder = ConfigHolder(conf, BASE)
    holder.load_initial()
    old = holder.current
    (conf / "dialplan" / "default" / "01_new.xml").write_text(
        '<include><extension name="new"><condition/></extension></include>'
    )
    result = holder.check()
    assert (result.ok, result.reply, result.swapped) == (True, "+OK [dry run]", False)
    assert result.diff_text == "+ extension default/new"
    assert holder.current is old


def test_standard_validators_refuse_a_mistyped_param(conf: Path) -> None:
    holder = ConfigHolder(conf, BASE)  # default: standard_validators()
    holder.load_initial()
    profile = conf / "sip_profiles" / "internal.xml"
    profile.write_text(
        profile.read_text().replace(
            '<param name="context" value="public"/>',
            '<param name="sip-port" value="fifty"/>\n    <param name="contxt" value="public"/>',
        )
    )
    result = holder.reload()
    assert result.reply == (
        '-ERR sip_profiles/internal.xml:5: param "sip-port" in sofia profile settings: "fifty" is not an integer 1..65535'
    )
    assert any(
        'unknown param "contxt"' in str(w) and '(did you mean "context"?)' in str(w) for w in result.warnings
    )


def test_shipped_conf_tree_loads_and_passes_the_standard_validators() -> None:
    conf_dir = Path(__file__).parents[3] / "conf"
    if not (conf_dir / "freeswitch.xml").is_file():
        pytest.skip("no conf/ tree in this checkout")
    base = {**BASE, "conf_dir": str(conf_dir), "base_dir": str(conf_dir.parent), "data_dir": "/tmp"}
    result = ConfigHolder(conf_dir, base).load_initial()
    assert result.ok, result.reply
    assert result.config is not None and result.config.dialplan_context("default") is not None


def test_a_crashing_validator_refuses_the_swap(conf: Path) -> None:
    def broken(config: XmlConfig) -> list[ConfigError | ConfigWarning]:
        raise RuntimeError("boom")

    holder = ConfigHolder(conf, BASE, validators=[broken])
    result = holder.load_initial()
    assert not result.ok
    assert result.reply.startswith(
        "-ERR validator test_a_crashing_validator_refuses_the_swap.<locals>.broken failed:"
    )
