"""The `conference` application's argument and flag lists."""

from __future__ import annotations

import pytest

from modules.mod_conference.flags import CONFERENCE_FLAGS, MEMBER_FLAGS, JoinSpec, parse_flags, parse_join


@pytest.mark.parametrize(
    ("arg", "spec"),
    [
        ("3000", JoinSpec("3000")),
        ("3000@wideband", JoinSpec("3000", "wideband")),
        ("3000-127.0.0.1@default", JoinSpec("3000-127.0.0.1", "default")),
        ("3000@default+1234", JoinSpec("3000", "default", "1234")),
        ("3000+1234", JoinSpec("3000", "default", "1234")),
        (
            "3000@cdquality+1234+flags{mute|deaf|moderator}",
            JoinSpec("3000", "cdquality", "1234", frozenset({"mute", "deaf", "moderator"})),
        ),
        (
            "3000+flags{endconf|mintwo|nomoh}",
            JoinSpec("3000", "default", "", frozenset({"endconf", "mintwo", "nomoh"})),
        ),
        ("  sales@default ", JoinSpec("sales", "default")),
        ("bridge:b1:loopback/9999", JoinSpec("b1", bridge_to="loopback/9999")),
    ],
)
def test_the_application_argument_parses_as_freeswitch(arg: str, spec: JoinSpec) -> None:
    assert parse_join(arg) == spec


def test_unknown_flags_are_reported_not_fatal() -> None:
    spec = parse_join("3000+flags{mute|bogus}")
    assert spec.flags == frozenset({"mute"})
    assert spec.unknown_flags == ("bogus",)


def test_a_missing_name_is_an_error() -> None:
    with pytest.raises(ValueError, match="needs a conference name"):
        parse_join("@default+1234")
    with pytest.raises(ValueError, match="dial string"):
        parse_join("bridge:b1")


def test_target_is_name_at_profile() -> None:
    assert parse_join("3100@wideband").target == "3100@wideband"


def test_flag_lists_split_on_bars_and_commas() -> None:
    assert parse_flags("mute|deaf, moderator", MEMBER_FLAGS) == (frozenset({"mute", "deaf", "moderator"}), ())
    assert parse_flags("wait-mod|audio-always|nope", CONFERENCE_FLAGS) == (
        frozenset({"wait-mod", "audio-always"}),
        ("nope",),
    )
