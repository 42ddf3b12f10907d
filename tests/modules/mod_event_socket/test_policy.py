"""Settings from event_socket.conf, network lists, and the failed-login guard."""

from __future__ import annotations

import pytest
from lxml import etree

from modules.mod_event_socket.acl import Acl, lists_from_element
from modules.mod_event_socket.guard import AuthGuard
from modules.mod_event_socket.settings import EslSettings, check_settings, settings_from_element
from switchcore.errors import ConfigError


def element(xml: str) -> etree._Element:
    return etree.fromstring(xml)


def test_settings_from_the_conf_element() -> None:
    conf = element(
        '<configuration name="event_socket.conf"><settings>'
        '<param name="listen-ip" value="::1"/><param name="listen-port" value="15599"/>'
        '<param name="password" value="s3cret"/><param name="apply-inbound-acl" value="lan"/>'
        '<param name="nat-map" value="false"/></settings></configuration>'
    )
    settings = settings_from_element(conf)
    assert (settings.listen_ip, settings.listen_port, settings.password) == ("::1", 15599, "s3cret")
    assert settings.inbound_acl == ("lan",)
    assert settings_from_element(None) == EslSettings()


def test_bad_numbers_name_the_param() -> None:
    conf = element('<configuration><settings><param name="listen-port" value="eighty"/></settings></configuration>')
    with pytest.raises(ConfigError, match="listen-port"):
        settings_from_element(conf)


def test_default_password_only_on_loopback() -> None:
    check_settings(EslSettings(listen_ip="127.0.0.1"))
    check_settings(EslSettings(listen_ip="0.0.0.0", password="long-and-private"))
    with pytest.raises(ConfigError, match="default password ClueCon"):
        check_settings(EslSettings(listen_ip="::"))


def test_builtin_and_configured_network_lists() -> None:
    acl = Acl(["loopback.auto"])
    assert acl.allows("127.0.0.1") and acl.allows("::1") and acl.allows("::ffff:127.0.0.1")
    assert not acl.allows("192.0.2.1")
    assert acl.denying("192.0.2.1") == "loopback.auto"
    conf = element(
        '<configuration name="acl.conf"><network-lists><list name="lan" default="deny">'
        '<node type="allow" cidr="192.0.2.0/24"/><node type="deny" cidr="192.0.2.128/25"/>'
        "</list></network-lists></configuration>"
    )
    lan = Acl(["lan"], lists_from_element(conf))
    assert lan.allows("192.0.2.5")
    assert not lan.allows("192.0.2.200")  # the more specific deny wins
    assert not Acl(["no-such-list"]).allows("127.0.0.1")
    assert Acl(["192.0.2.0/24"]).allows("192.0.2.33")


def test_guard_slows_then_bans_then_forgets() -> None:
    guard = AuthGuard(delay_after=2, ban_after=4, ban_seconds=30, step=1.0)
    assert guard.failed("a", 0) == 0
    assert guard.failed("a", 1) == 0
    assert guard.failed("a", 2) == 1.0
    assert guard.refused_for("a", 2) == 0
    guard.failed("a", 3)
    assert guard.refused_for("a", 4) == pytest.approx(29)
    assert guard.refused_for("a", 40) == 0
    assert guard.refused_for("b", 4) == 0
    guard.succeeded("a")
    assert guard.refused_for("a", 5) == 0


def test_guard_remembers_a_bounded_number_of_addresses() -> None:
    guard = AuthGuard(max_tracked=3, ban_after=1)
    for i in range(10):
        guard.failed(f"192.0.2.{i}", 0)
    assert guard.refused_for("192.0.2.9", 1) > 0
    assert guard.refused_for("192.0.2.0", 1) == 0
