"""Typed params: schemas, read_params, the registry and check_config."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from switchcore.errors import ConfigError
from switchcore.xmlconf.location import ConfigWarning
from switchcore.xmlconf.params import (
    Binding,
    Bool,
    Enum,
    Int,
    Ip,
    ListOf,
    Param,
    Port,
    Schema,
    check_config,
    check_params,
    get_schema,
    read_params,
    register_schema,
    unregister_schema,
)
from switchcore.xmlconf.schemas import read_modules
from switchcore.xmlconf.tree import XmlConfig

VECTORS = Path(__file__).parents[2] / "vectors" / "xmlconf"
BASE = {"local_ip_v4": "127.0.0.1", "sounds_dir": "/snd"}


@pytest.fixture(scope="module")
def bad() -> XmlConfig:
    return XmlConfig.load(VECTORS / "params", BASE)


def _profile_settings(config: XmlConfig) -> etree._Element:
    sofia = config.configuration("sofia.conf")
    assert sofia is not None
    settings = sofia.find("profiles/profile/settings")
    assert settings is not None
    return settings


@pytest.mark.parametrize(
    ("ptype", "raw", "value"),
    [
        (Bool(), "yes", True),
        (Bool(), "OFF", False),
        (Bool(), "enabled", True),
        (Bool(), "0", False),
        (Int(1, 10), " 7 ", 7),
        (Port(), "5060", 5060),
        (Enum(("rfc2833", "info", "none")), "INFO", "info"),
        (Enum(("true", "false", "contact")), "yes", "true"),
        (Ip(), "::", "::"),
        (Ip(special=("auto",), prefixes=("stun:",)), "stun:stun.example.org", "stun:stun.example.org"),
        (ListOf(), "OPUS, PCMU,,PCMA", ("OPUS", "PCMU", "PCMA")),
        (Binding(), ":7443", ("", 7443)),
        (Binding(), "[::1]:5066", ("::1", 5066)),
    ],
)
def test_types_parse_values(ptype: object, raw: str, value: object) -> None:
    assert ptype.parse(raw) == value  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("ptype", "raw", "reason"),
    [
        (Bool(), "maybe", '"maybe" is not a boolean'),
        (Int(1, 10), "11", "11 is out of range (an integer 1..10)"),
        (Int(), "ten", '"ten" is not an integer'),
        (Port(), "70000", "70000 is out of range (an integer 1..65535)"),
        (Enum(("a", "b")), "c", '"c" is not one of a, b'),
        (Ip(), "pbx.example.org", '"pbx.example.org" is not an IP address'),
    ],
)
def test_types_reject_bad_values(ptype: object, raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        ptype.parse(raw)  # type: ignore[attr-defined]


def test_read_params_fills_defaults_and_parses(bad: XmlConfig) -> None:
    schema = get_schema("switch.conf")
    assert schema is not None
    config = XmlConfig.load(VECTORS / "basic", BASE)
    switch = config.configuration("switch.conf")
    assert switch is not None and (settings := switch.find("settings")) is not None
    values, warnings = read_params(settings, schema)
    assert values["max-sessions"] == 1000
    assert values["rtp-end-port"] == 32768
    assert values["db-handle-timeout"] == 10  # default
    assert warnings == []


def test_unknown_param_warns_with_location_and_suggestion(bad: XmlConfig) -> None:
    schema = get_schema("sofia.conf:profile")
    assert schema is not None
    _, warnings, _ = check_params(_profile_settings(bad), schema)
    assert str(warnings[0]) == (
        'sip_profiles/internal.xml:5: unknown param "dtmf_type" in sofia profile settings (did you mean "dtmf-type"?)'
    )


def test_bad_value_is_a_located_error(bad: XmlConfig) -> None:
    schema = get_schema("sofia.conf:profile")
    assert schema is not None
    with pytest.raises(ConfigError) as caught:
        read_params(_profile_settings(bad), schema)
    assert str(caught.value) == (
        'sip_profiles/internal.xml:6: param "auth-calls" in sofia profile settings: '
        '"maybe" is not a boolean (true/false, yes/no, on/off)'
    )


def test_all_errors_collected_and_later_duplicate_wins(bad: XmlConfig) -> None:
    schema = get_schema("sofia.conf:profile")
    assert schema is not None
    values, warnings, errors = check_params(_profile_settings(bad), schema)
    assert [(e.line, e.reason.split(":")[0]) for e in errors] == [
        (6, 'param "auth-calls" in sofia profile settings'),
        (14, 'param "rtp-ip" in sofia profile settings'),
    ]
    assert values["context"] == "default"
    assert any("set again (first at line 7)" in str(w) for w in warnings)
    assert values["media-option"] == ("resume-media-on-hold", "bypass-media-after-att-xfer")
    assert values["codec-prefs"] == ("OPUS", "PCMU", "PCMA")
    assert values["wss-binding"] == ("", 7443)
    assert values["sip-port"] == 5070


def test_check_config_runs_every_registered_schema(bad: XmlConfig) -> None:
    problems = check_config(bad)
    errors = [str(p) for p in problems if isinstance(p, ConfigError)]
    warnings = [str(p) for p in problems if isinstance(p, ConfigWarning)]
    assert (
        'freeswitch.xml:12: param "rtp-start-port" in switch.conf settings: 70000 is out of range'
        in errors[0]
    )
    assert any(e.startswith("sip_profiles/internal.xml:6:") for e in errors)
    assert any('unknown param "pasword" in sofia gateway (did you mean "password"?)' in w for w in warnings)


def test_check_config_is_quiet_on_a_good_tree() -> None:
    problems = check_config(XmlConfig.load(VECTORS / "basic", BASE))
    assert problems == []


def test_modules_register_their_own_schema(bad: XmlConfig) -> None:
    schema = Schema(
        "my module settings", {"answer": Param(Int(), 42)}, config="switch.conf", containers=("settings",)
    )
    register_schema("test.conf", schema)
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_schema("test.conf", schema)
        assert get_schema("test.conf") is schema
        problems = [str(p) for p in check_config(bad)]
        assert any('unknown param "max-sessions" in my module settings' in p for p in problems)
    finally:
        unregister_schema("test.conf")
    assert get_schema("test.conf") is None


def test_required_param_missing_is_an_error() -> None:
    element = etree.fromstring("<settings><param name='a' value='1'/></settings>")
    schema = Schema("t", {"a": Param(Int()), "b": Param(Int(), required=True)})
    _, _, errors = check_params(element, schema)
    assert [e.reason for e in errors] == ['t needs param "b" (an integer)']


def test_modules_conf_list_in_order_with_flags(bad: XmlConfig) -> None:
    modules = bad.configuration("modules.conf")
    assert modules is not None
    loads, warnings = read_modules(modules)
    assert [(m.module, m.critical) for m in loads] == [
        ("mod_console", False),
        ("mod_sofia", True),
        ("mod_opus", False),
    ]
    assert (loads[1].file, loads[1].line) == ("freeswitch.xml", 18)
    texts = [str(w) for w in warnings]
    assert 'freeswitch.xml:19: module "mod_console" listed again (first at line 17)' in texts
    assert 'freeswitch.xml:20: unknown attribute "critcal" on <load module="mod_opus">' in texts


def test_modules_conf_bad_flag_is_an_error() -> None:
    element = etree.fromstring(
        '<configuration><modules><load module="m" critical="sure"/></modules></configuration>'
    )
    with pytest.raises(ConfigError, match='critical on <load module="m">: "sure" is not a boolean'):
        read_modules(element)


def test_repeated_list_param_accumulates_flat() -> None:
    element = etree.fromstring(
        "<settings><param name='apply-inbound-acl' value='lan, wan'/><param name='apply-inbound-acl' value='vpn'/></settings>"
    )
    schema = get_schema("sofia.conf:profile")
    assert schema is not None
    values, warnings = read_params(element, schema)
    assert values["apply-inbound-acl"] == ("lan", "wan", "vpn") and warnings == []
