"""conference.conf.xml profiles: FreeSWITCH's params, defaults for bad values, the shipped config."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from modules.mod_conference.profile import DEFAULT_COMFORT_NOISE, Profile, parse_config, parse_profile

ROOT = Path(__file__).resolve().parents[3]


def profile(params: str, name: str = "p") -> Profile:
    return parse_profile(etree.fromstring(f'<profile name="{name}">{params}</profile>'.encode()))


def param(name: str, value: str) -> str:
    return f'<param name="{name}" value="{value}"/>'


def test_params_parse_with_freeswitchs_names() -> None:
    p = profile(
        param("rate", "16000")
        + param("interval", "20")
        + param("energy-level", "300")
        + param("comfort-noise", "true")
        + param("member-flags", "mute|nomoh")
        + param("conference-flags", "wait-mod")
        + param("caller-controls", "callers")
        + param("moderator-controls", "mods")
        + param("pin", "1234")
        + param("moderator-pin", "9999")
        + param("pin-retries", "5")
        + param("max-members", "10")
        + param("sound-prefix", "/snd")
        + param("auto-record", "/rec/${conference_name}.wav")
        + param("endconf-grace-time", "30")
        + param("suppress-events", "start-talking,stop-talking")
        + param("caller-id-name", "Conf")
        + param("caller-id-number", "3000")
        + param("enter-sound", "tone_stream://%(200,0,500)")
        + param("alone-sound", "conference/conf-alone.wav")
    )
    assert (p.name, p.rate, p.interval, p.energy_level) == ("p", 16000, 20, 300)
    assert p.comfort_noise == DEFAULT_COMFORT_NOISE
    assert p.member_flags == frozenset({"mute", "nomoh"})
    assert p.conference_flags == frozenset({"wait-mod"})
    assert (p.caller_controls, p.moderator_controls) == ("callers", "mods")
    assert (p.pin, p.moderator_pin, p.pin_retries, p.max_members) == ("1234", "9999", 5, 10)
    assert (p.sound_prefix, p.auto_record, p.endconf_grace_time) == (
        "/snd",
        "/rec/${conference_name}.wav",
        30,
    )
    assert p.suppress_events == frozenset({"start-talking", "stop-talking"})
    assert (p.caller_id_name, p.caller_id_number) == ("Conf", "3000")
    assert p.sound("enter-sound") == "tone_stream://%(200,0,500)"
    assert p.sound("alone-sound") == "conference/conf-alone.wav"
    assert p.sound("moh-sound") == ""


def test_bad_values_keep_the_defaults() -> None:
    p = profile(
        param("rate", "11025") + param("energy-level", "loud") + param("pin-retries", "0") + param("x", "y")
    )
    assert (p.rate, p.energy_level, p.pin_retries) == (8000, 100, 3)


def test_comfort_noise_takes_a_level_or_a_boolean() -> None:
    assert profile(param("comfort-noise", "false")).comfort_noise == 0
    assert profile(param("comfort-noise", "2000")).comfort_noise == 2000


def test_an_unknown_profile_gets_built_in_defaults() -> None:
    config = parse_config(None)
    p = config.profile("nope")
    assert (p.name, p.rate, p.energy_level) == ("nope", 8000, 100)
    assert config.control_groups["default"].controls


def test_the_shipped_configuration_has_freeswitchs_four_profiles() -> None:
    tree = etree.parse(str(ROOT / "conf/autoload_configs/conference.conf.xml"))
    config = parse_config(tree.getroot())
    rates = {name: p.rate for name, p in config.profiles.items()}
    assert rates == {"default": 8000, "wideband": 16000, "ultrawideband": 32000, "cdquality": 48000}
    default = config.profiles["default"]
    assert default.comfort_noise == DEFAULT_COMFORT_NOISE
    assert default.sound("alone-sound") == "conference/conf-alone.wav"
    assert default.moderator_controls == "moderator"
    assert {"default", "moderator", "none"} <= set(config.control_groups)
    assert [c.action for c in config.control_groups["moderator"].controls if c.digits == "8"] == ["lock"]
