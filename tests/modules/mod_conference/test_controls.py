"""Caller controls: FreeSWITCH's default DTMF map, groups from XML, and the digit matcher."""

from __future__ import annotations

from lxml import etree

from modules.mod_conference.controls import (
    DEFAULT_CONTROLS,
    Control,
    DigitMatcher,
    parse_control_groups,
    pick_group,
)

XML = b"""<caller-controls>
  <group name="default">
    <control action="mute" digits="0"/>
    <control action="hangup" digits="#"/>
  </group>
  <group name="moderator">
    <control action="lock" digits="8"/>
    <control action="event" digits="*1" data="asked"/>
    <control action="execute_application" digits="*2" data="playback beep.wav"/>
    <control action="fly" digits="5"/>
    <control action="mute" digits="x"/>
  </group>
</caller-controls>"""


def test_the_default_map_is_freeswitchs() -> None:
    mapping = {c.digits: c.action for c in DEFAULT_CONTROLS.controls}
    assert mapping == {
        "0": "mute",
        "*": "deaf mute",
        "9": "energy up",
        "8": "energy equ",
        "7": "energy dn",
        "3": "vol talk up",
        "2": "vol talk zero",
        "1": "vol talk dn",
        "6": "vol listen up",
        "5": "vol listen zero",
        "4": "vol listen dn",
        "#": "hangup",
    }


def test_groups_parse_with_data_and_skip_unknown_actions_and_bad_digits() -> None:
    groups = parse_control_groups(etree.fromstring(XML))
    assert [c.action for c in groups["default"].controls] == ["mute", "hangup"]
    moderator = groups["moderator"]
    assert moderator.controls == (
        Control("lock", "8"),
        Control("event", "*1", "asked"),
        Control("execute_application", "*2", "playback beep.wav"),
    )
    assert groups["none"].controls == ()


def test_without_configuration_default_is_built_in_and_unknown_groups_fall_back() -> None:
    groups = parse_control_groups(None)
    assert groups["default"] is DEFAULT_CONTROLS
    assert pick_group(groups, "no-such-group") is DEFAULT_CONTROLS
    assert pick_group(groups, "") is DEFAULT_CONTROLS
    assert pick_group(groups, "none").controls == ()


def test_a_single_digit_control_fires_at_once() -> None:
    matcher = DigitMatcher(DEFAULT_CONTROLS.controls)
    assert matcher.feed("0", 0.0) == Control("mute", "0")
    assert not matcher.pending
    assert matcher.feed("#", 0.1) == Control("hangup", "#")


def test_a_prefix_waits_for_the_next_digit() -> None:
    controls = [Control("event", "*1"), Control("lock", "8")]
    matcher = DigitMatcher(controls)
    assert matcher.feed("*", 0.0) is None and matcher.pending
    assert matcher.feed("1", 0.2) == Control("event", "*1")


def test_an_ambiguous_sequence_fires_after_the_timeout() -> None:
    controls = [Control("deaf mute", "*"), Control("event", "*1")]
    matcher = DigitMatcher(controls, timeout=0.5)
    assert matcher.feed("*", 1.0) is None
    assert matcher.expire(1.2) is None
    assert matcher.expire(1.6) == Control("deaf mute", "*")
    assert not matcher.pending


def test_a_prefix_that_times_out_is_dropped() -> None:
    matcher = DigitMatcher([Control("event", "*1")], timeout=0.5)
    matcher.feed("*", 0.0)
    assert matcher.expire(0.6) is None and not matcher.pending


def test_digits_that_match_nothing_are_dropped_and_the_rest_still_matches() -> None:
    matcher = DigitMatcher([Control("event", "*1"), Control("mute", "0")])
    assert matcher.feed("5", 0.0) is None and not matcher.pending
    assert matcher.feed("*", 0.1) is None
    assert matcher.feed("0", 0.2) == Control("mute", "0")  # "*0" is nothing; "0" is mute
