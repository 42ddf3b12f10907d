"""The Replaces header and Refer-To targets (RFC 3891, RFC 3515, RFC 5589 7): parsing and matching."""

from __future__ import annotations

import pytest

from modules.mod_sofia.replaces import Replaces, ReplacesError, judge, judge_early, refer_target


def test_replaces_reads_call_id_and_both_tags() -> None:
    r = Replaces.parse("425928@bobster.example.org;to-tag=7743;from-tag=6472")
    assert (r.call_id, r.to_tag, r.from_tag, r.early_only) == (
        "425928@bobster.example.org",
        "7743",
        "6472",
        False,
    )


def test_replaces_params_are_case_insensitive_in_any_order_with_early_only() -> None:
    r = Replaces.parse("abc ; FROM-TAG = f1 ;early-only; To-Tag=t1")
    assert (r.call_id, r.to_tag, r.from_tag, r.early_only) == ("abc", "t1", "f1", True)


@pytest.mark.parametrize(
    "text",
    [
        "98732@sip.example.com;from-tag=r33th4x0r;to-tag=ff87ff",  # RFC 3891 6.1's example
        "abc@h;to-tag=1;from-tag=2;early-only",
        "abc@h;to-tag=1;from-tag=2;x-extra=yes;flag",
    ],
)
def test_replaces_round_trips_through_its_text(text: str) -> None:
    once = Replaces.parse(text)
    assert Replaces.parse(str(once)) == once


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("abc@h;to-tag=1", "from-tag"),
        ("abc@h;from-tag=2", "to-tag"),
        (";to-tag=1;from-tag=2", "Call-ID"),
        ("abc@h;to-tag=;from-tag=2", "to-tag"),
    ],
)
def test_replaces_without_call_id_or_a_tag_is_a_400(text: str, missing: str) -> None:
    with pytest.raises(ReplacesError) as caught:
        Replaces.parse(text)
    assert caught.value.status == 400
    assert missing in caught.value.reason


def test_matching_uses_to_tag_as_the_recipients_own_tag() -> None:
    r = Replaces.parse("cid;to-tag=ours;from-tag=theirs")
    assert r.matches("cid", "ours", "theirs")
    assert not r.matches("cid", "theirs", "ours")
    assert not r.matches("other", "ours", "theirs")


@pytest.mark.parametrize(
    ("text", "dialog", "terminated", "verdict"),
    [
        ("cid;to-tag=a;from-tag=b", ("cid", "a", "b"), False, 200),
        ("cid;to-tag=a;from-tag=b", None, False, 481),  # no such dialog (or still early)
        ("cid;to-tag=b;from-tag=a", ("cid", "a", "b"), False, 481),  # tags the wrong way round
        ("cid;to-tag=a;from-tag=b", ("cid", "a", "b"), True, 481),  # confirmed, already over
        ("cid;to-tag=a;from-tag=b;early-only", ("cid", "a", "b"), False, 486),  # confirmed, early-only
    ],
)
def test_judge_follows_rfc3891_section_3(
    text: str, dialog: tuple[str, str, str] | None, terminated: bool, verdict: int
) -> None:
    status, _ = judge(Replaces.parse(text), dialog, terminated=terminated)
    assert status == verdict


def test_refer_to_with_escaped_replaces_is_an_attended_target() -> None:
    target = refer_target(
        "<sip:1002@pbx.example.com?Replaces=a1b2%40host%3Bto-tag%3Dx9%3Bfrom-tag%3Dy8&Priority=urgent>"
    )
    assert target.attended
    assert target.replaces == Replaces("a1b2@host", "x9", "y8")
    assert str(target.uri) == "sip:1002@pbx.example.com"
    assert target.headers == (("Priority", "urgent"),)


def test_refer_to_without_replaces_is_blind() -> None:
    target = refer_target('"Carol" <sip:1002@127.0.0.1;transport=udp>')
    assert not target.attended and target.replaces is None
    assert target.uri.user == "1002" and target.uri.transport == "udp"


@pytest.mark.parametrize("value", ["", "<not a uri", "<sip:1002@h?Replaces=abc%3Bto-tag%3Dx>"])
def test_unusable_refer_to_is_a_replaces_error(value: str) -> None:
    with pytest.raises(ReplacesError):
        refer_target(value)


@pytest.mark.parametrize(
    ("text", "terminated", "verdict"),
    [
        ("cid;to-tag=ours;from-tag=b1", False, 200),  # the switch's view (RFC 3891 3)
        ("cid;to-tag=b1;from-tag=ours", False, 200),  # the ringing phone's view (RFC 4235 dialog-info)
        ("cid;to-tag=ours;from-tag=b2;early-only", False, 200),  # early-only: early is what it wants
        ("cid;to-tag=ours;from-tag=other", False, 481),  # no early dialog with that tag
        ("other;to-tag=ours;from-tag=b1", False, 481),
        ("cid;to-tag=ours;from-tag=b1", True, 481),  # the ringing leg is gone (or answered)
    ],
)
def test_judge_early_accepts_an_early_dialog_we_initiated(text: str, terminated: bool, verdict: int) -> None:
    status, _ = judge_early(Replaces.parse(text), "cid", "ours", {"b1", "b2"}, terminated=terminated)
    assert status == verdict
