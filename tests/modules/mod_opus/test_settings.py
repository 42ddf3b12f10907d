"""opus.conf -> OpusSettings, read with lxml exactly as the loaded configuration hands it over."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from lxml import etree

from modules.mod_opus.settings import OpusSettings, parse_bool, settings_from_element
from switchcore.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]
VECTORS = ROOT / "tests" / "vectors" / "opus"


def element(path: Path) -> etree._Element:
    return etree.parse(str(path)).getroot()


def test_vanilla_opus_conf_gives_the_defaults() -> None:
    settings = settings_from_element(element(ROOT / "conf" / "autoload_configs" / "opus.conf.xml"))
    assert settings == OpusSettings()
    assert settings.use_vbr and settings.keep_fec_enabled and settings.adjust_bitrate
    assert (settings.complexity, settings.packet_loss_percent, settings.maxaveragebitrate) == (10, 10, 0)


def test_missing_opus_conf_gives_the_defaults() -> None:
    assert settings_from_element(None) == OpusSettings()


def test_every_setting_is_read() -> None:
    settings = settings_from_element(element(VECTORS / "opus_conf_custom.xml"))
    assert settings == OpusSettings(
        use_vbr=False,
        use_dtx=True,
        complexity=5,
        packet_loss_percent=20,
        keep_fec_enabled=False,
        advertise_useinbandfec=False,
        use_jb_lookahead=False,
        adjust_bitrate=False,
        maxaveragebitrate=24000,
        maxplaybackrate=16000,
        sprop_maxcapturerate=16000,
        mono=True,
    )


def test_out_of_range_values_are_clamped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="mod_opus"):
        settings = settings_from_element(element(VECTORS / "opus_conf_out_of_range.xml"))
    assert (settings.complexity, settings.packet_loss_percent) == (10, 0)
    assert (settings.maxaveragebitrate, settings.maxplaybackrate, settings.sprop_maxcapturerate) == (
        510000,
        8000,
        48000,
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "opus.conf: complexity=15 is outside 0..10, using 10" in warnings
    assert "opus.conf: maxaveragebitrate=1000000 is outside 6000..510000, using 510000" in warnings
    assert "opus.conf: unknown param 'no-such-param' ignored" in warnings
    assert len(warnings) == 6
    assert any("asymmetric-sample-rates is not supported" in r.getMessage() for r in caplog.records)


def test_zero_rates_and_bitrate_mean_use_the_codec_default() -> None:
    conf = etree.fromstring(
        '<configuration name="opus.conf"><settings>'
        '<param name="maxaveragebitrate" value="0"/><param name="maxplaybackrate" value="0"/>'
        "</settings></configuration>"
    )
    settings = settings_from_element(conf)
    assert (settings.maxaveragebitrate, settings.maxplaybackrate) == (0, 0)


def test_a_value_that_is_not_a_number_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^opus.conf: param complexity wants a number, not 'high'$"):
        settings_from_element(element(VECTORS / "opus_conf_bad_number.xml"))


def test_the_last_of_a_repeated_param_wins() -> None:
    conf = etree.fromstring(
        '<configuration name="opus.conf"><settings>'
        '<param name="complexity" value="3"/><param name="complexity" value="7"/>'
        "</settings></configuration>"
    )
    assert settings_from_element(conf).complexity == 7


@pytest.mark.parametrize(
    ("text", "value"),
    [("1", True), ("yes", True), ("ON", True), ("true", True), ("enabled", True), ("7", True)]
    + [("0", False), ("no", False), ("off", False), ("false", False), ("", False)],
)
def test_booleans_read_like_freeswitch_switch_true(text: str, value: bool) -> None:
    assert parse_bool("use-vbr", text) is value


def test_a_boolean_that_is_neither_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="param use-dtx wants a boolean, not 'maybe'"):
        parse_bool("use-dtx", "maybe")
