"""verto.conf.xml: the shipped file, the test tree, and what bad values do."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from modules.mod_verto.settings import Listen, load_settings
from switchcore.errors import ConfigError
from switchcore.xmlconf import load

from .conftest import CONF, ROOT


def configuration(conf_dir: Path):  # type: ignore[no-untyped-def]
    tree = load(
        conf_dir, {"sounds_dir": str(ROOT / "sounds"), "base_dir": str(ROOT), "conf_dir": str(conf_dir)}
    )
    return tree.configuration("verto.conf")


def element(profile_params: str, settings: str = "") -> etree._Element:
    return etree.fromstring(
        f'<configuration name="verto.conf"><settings>{settings}</settings>'
        f'<profiles><profile name="p">{profile_params}</profile></profiles></configuration>'
    )


def test_the_shipped_configuration_listens_on_8081_with_freeswitch_defaults():
    settings, warnings = load_settings(configuration(ROOT / "conf"))
    assert warnings == []
    assert settings.detach_timeout == 120
    (profile,) = settings.profiles
    assert profile.name == "default-v4"
    assert profile.listen == (Listen("127.0.0.1", 8081, False),)
    assert (profile.userauth, profile.blind_reg, profile.context, profile.dialplan) == (
        "true",
        False,
        "default",
        "XML",
    )
    assert profile.inbound_codecs == profile.outbound_codecs == ("OPUS", "PCMU", "PCMA")
    assert profile.max_frame_size == 1 << 20
    assert profile.rtp_ip == "127.0.0.1"
    assert profile.force_register_domain == "127.0.0.1"


def test_the_test_tree_sets_its_own_limits():
    settings, _ = load_settings(configuration(CONF))
    profile = settings.profiles[0]
    assert settings.detach_timeout == 5
    assert (profile.max_frame_size, profile.max_batch_size, profile.auth_ban_after) == (65536, 16, 6)


def test_freeswitch_codec_strings_are_read_without_case_and_video_is_skipped():
    settings, _ = load_settings(
        element(
            '<param name="bind-local" value=":8081"/><param name="outbound-codec-string" value="opus,vp8,PCMA@8000"/>'
        )
    )
    profile = settings.profiles[0]
    assert profile.outbound_codecs == ("OPUS", "PCMA")
    assert profile.listen == (Listen("0.0.0.0", 8081, False),)


def test_a_secure_bind_local_is_wss():
    settings, _ = load_settings(
        element(
            '<param name="bind-local" value="127.0.0.1:8081"/><param name="bind-local" value="127.0.0.1:8082" secure="true"/>'
        )
    )
    assert [listen.url for listen in settings.profiles[0].listen] == [
        "ws:127.0.0.1:8081",
        "wss:127.0.0.1:8082",
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ('<param name="bind-local" value="127.0.0.1:99999"/>', "bind-local"),
        ('<param name="bind-local" value=":8081"/><param name="inbound-codec-string" value="G729"/>', "G729"),
        (
            '<param name="bind-local" value=":8081"/><param name="max-frame-size" value="ten"/>',
            "max-frame-size",
        ),
        ('<param name="context" value="default"/>', "has no bind-local"),
    ],
)
def test_bad_values_are_config_errors_that_say_what_is_wrong(params, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(element(params))
    assert message in str(caught.value)


def test_unknown_params_are_warnings_with_a_suggestion():
    _, warnings = load_settings(
        element('<param name="bind-local" value=":1"/><param name="max-frame-sise" value="1"/>')
    )
    assert len(warnings) == 1 and 'did you mean "max-frame-size"' in str(warnings[0])


def test_a_missing_configuration_means_no_profiles():
    settings, warnings = load_settings(None)
    assert settings.profiles == () and warnings == []
