"""The X-PRE-PROCESS preprocessor: includes, set variables, $${} order, locations, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchcore.errors import ConfigError
from switchcore.xmlconf.location import where
from switchcore.xmlconf.preprocess import preprocess

VECTORS = Path(__file__).parents[2] / "vectors" / "xmlconf"
BASE = {"local_ip_v4": "127.0.0.1", "sounds_dir": "/usr/share/sounds", "hostname": "pbx"}


def test_set_variables_apply_in_file_order_and_last_set_wins() -> None:
    done = preprocess(VECTORS / "basic", BASE)
    assert done.variables["early"] == "[]"  # used before it was set: "" as in FreeSWITCH
    assert done.variables["default_password"] == "5678"
    assert done.variables["domain"] == "127.0.0.1"
    assert done.variables["sound_prefix"] == "/usr/share/sounds/en/us/callie"


def test_set_trims_spaces_around_the_equals_sign() -> None:
    done = preprocess(VECTORS / "basic", BASE)
    assert done.variables["global_codec_prefs"] == "OPUS,G722,PCMU,PCMA"


def test_comment_form_set_runs_but_commented_directive_does_not() -> None:
    done = preprocess(VECTORS / "basic", BASE)
    assert done.variables["internal_sip_port"] == "5060"
    assert "commented_out" not in done.variables
    assert "disabled" not in done.variables


def test_included_content_replaces_directive_and_loses_include_wrapper() -> None:
    done = preprocess(VECTORS / "basic", BASE)
    names = [e.get("name") for e in done.root.iter("extension")]
    assert names == ["first", "included", "last", "public_ext"]
    assert not list(done.root.iter("include"))
    assert not list(done.root.iter("X-PRE-PROCESS"))


def test_extensions_keep_their_position_among_siblings() -> None:
    done = preprocess(VECTORS / "basic", BASE)
    context = done.root.find("section[@name='dialplan']/context[@name='default']")
    assert context is not None
    assert [e.get("name") for e in context] == ["first", "included", "last"]


def test_every_element_knows_its_original_file_and_line() -> None:
    done = preprocess(VECTORS / "basic", BASE)
    context = done.root.find("section[@name='dialplan']/context[@name='default']")
    assert context is not None
    first, included, last = list(context)
    assert where(first) == ("dialplan/default.xml", 4)
    assert where(included) == ("dialplan/default/00_inc.xml", 2)
    assert where(included.find("condition/action")) == ("dialplan/default/00_inc.xml", 4)
    assert where(last) == ("dialplan/default.xml", 11)
    assert where(done.root) == ("freeswitch.xml", 2)


def test_global_variables_substituted_in_attributes_and_text() -> None:
    done = preprocess(VECTORS / "basic", BASE)
    action = done.root.find(".//extension[@name='last']/condition/action")
    assert action is not None and action.get("data") == "INFO 127.0.0.1 $1"
    domain = done.root.find("section[@name='directory']/domain")
    assert domain is not None and domain.get("name") == "127.0.0.1"
    password = done.root.find(".//user[@id='1000']/params/param[@name='password']")
    assert password is not None and password.get("value") == "5678"


def test_runtime_variables_are_left_for_execute_time() -> None:
    done = preprocess(VECTORS / "basic", BASE)
    dial = done.root.find(".//domain/params/param[@name='dial-string']")
    assert dial is not None and "${sofia_contact(*/${dialed_user}@${dialed_domain})}" in dial.get("value", "")


def test_undefined_global_variable_is_a_located_warning() -> None:
    done = preprocess(VECTORS / "basic", BASE)
    reasons = [str(w) for w in done.warnings]
    assert 'vars.xml:3: undefined variable $${default_password} expands to ""' in reasons
    assert any(r.startswith("directory/default.xml:9:") for r in reasons)


def test_include_relative_to_including_file_with_parent_path() -> None:
    done = preprocess(VECTORS / "basic", BASE)
    gateway = done.root.find(".//profile[@name='external']/gateways/gateway")
    assert gateway is not None and gateway.get("name") == "example"
    assert where(gateway) == ("sip_profiles/external/example.xml", 2)


def test_empty_glob_is_fine_and_comment_form_set_before_document() -> None:
    done = preprocess(VECTORS / "misc" / "empty", BASE)
    settings = done.root.find(".//settings")
    assert settings is not None
    assert settings.get("greeting") == "hello world"
    assert settings.text == "hello world & bye"
    assert len(done.root.find("section[@name='languages']")) == 0  # type: ignore[arg-type]


def test_set_inside_included_file_affects_only_what_follows() -> None:
    done = preprocess(VECTORS / "misc" / "nested", BASE)
    items = done.root.findall(".//items/item")
    assert [(i.get("name"), i.get("seen")) for i in items] == [("one", "outer"), ("two", None)]
    after = done.root.find(".//after")
    assert after is not None and after.get("value") == "inner"
    assert where(items[1]) == ("conf/inner/one.xml", 2)


def test_all_read_files_are_listed() -> None:
    done = preprocess(VECTORS / "misc" / "nested", BASE)
    assert [p.name for p in done.files] == ["freeswitch.xml", "outer.xml", "one.xml"]


@pytest.mark.parametrize(
    ("tree", "file", "line", "reason"),
    [
        (
            "malformed",
            "broken.xml",
            5,
            "XML syntax error: Opening and ending tag mismatch: condition line 4 and extension",
        ),
        ("missing_include", "freeswitch.xml", 4, 'include "not_there.xml": no such file'),
        ("unknown_cmd", "freeswitch.xml", 2, 'unknown preprocessor command "sett" (known: set, include)'),
        ("exec_set", "freeswitch.xml", 4, 'preprocessor command "exec-set" is not supported'),
        ("loop", "b.xml", 3, "include loop: freeswitch.xml -> a.xml -> b.xml -> a.xml"),
        ("bad_set", "freeswitch.xml", 2, 'set needs data="name=value", got "novalue"'),
        ("two_documents", "freeswitch.xml", 2, "freeswitch.xml must hold exactly one <document"),
    ],
)
def test_errors_name_original_file_and_line(tree: str, file: str, line: int, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        preprocess(VECTORS / "errors" / tree, BASE)
    assert (caught.value.file, caught.value.line) == (file, line)
    assert caught.value.reason.startswith(reason)
    assert str(caught.value).startswith(f"{file}:{line}: ")


def test_missing_entry_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot open freeswitch.xml"):
        preprocess(tmp_path, BASE)


def test_base_variables_follow_freeswitch_layout(tmp_path: Path) -> None:
    from switchcore.xmlconf.preprocess import base_variables

    variables = base_variables(tmp_path / "conf", hostname="pbx")
    assert variables["conf_dir"] == str(tmp_path / "conf")
    assert variables["sounds_dir"] == str(tmp_path / "sounds")
    assert variables["local_ip_v4"] == "127.0.0.1" and variables["hostname"] == "pbx"


def test_spliced_elements_carry_xml_base_that_plain_attributes_hides() -> None:
    from switchcore.xmlconf.location import XML_BASE, plain_attributes

    done = preprocess(VECTORS / "basic", BASE)
    gateway = done.root.find(".//gateway")
    assert gateway is not None and XML_BASE in gateway.attrib
    assert plain_attributes(gateway) == {"name": "example"}
