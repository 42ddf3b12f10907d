"""The Replaces header (RFC 3891) and the Replaces carried in a REFER's Refer-To (RFC 3515, RFC 5589 7).

Sans-I/O: values in, values out.

    Replaces        = "Replaces" HCOLON callid *(SEMI replaces-param)
    replaces-param  = to-tag / from-tag / early-flag / generic-param
    to-tag          = "to-tag" EQUAL token
    from-tag        = "from-tag" EQUAL token
    early-flag      = "early-only"                       (RFC 3891 6.1)

RFC 3891 3: the tags are named from the point of view of the UA that sent
the INVITE carrying the header, which is also how the recipient matches
them: `to-tag` is the recipient's own (local) tag of the dialog to replace,
`from-tag` the remote one.  A transferor that puts its consultation dialog
into a Refer-To (RFC 5589 7.1) writes its remote tag as `to-tag` and its
own as `from-tag`, so a switch that holds the other end of that dialog
finds it the same way.

In a Refer-To the header travels as a URI header, escaped
(`<sip:1002@pbx?Replaces=abc%40h%3Bto-tag%3Dx%3Bfrom-tag%3Dy>`); `uri.py`
unescapes URI headers, so `refer_target` sees the plain header value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .uri import URI, NameAddr, SipError


class ReplacesError(SipError):
    """A Replaces header (or a Refer-To carrying one) we cannot read; answer `status`."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True, slots=True)
class Replaces:
    """The dialog a new INVITE replaces: Call-ID, the recipient's tag, the sender's tag (RFC 3891 6.1)."""

    call_id: str
    to_tag: str
    from_tag: str
    early_only: bool = False
    params: tuple[tuple[str, str], ...] = ()  # generic params, kept for the round trip

    @staticmethod
    def parse(value: str) -> Replaces:
        """`abc@host;to-tag=1;from-tag=2[;early-only]` -> Replaces; ReplacesError (400) if unusable."""
        call_id, *items = value.split(";")
        call_id = call_id.strip()
        if not call_id or len(call_id.split()) != 1:
            raise ReplacesError(f"Replaces without a usable Call-ID: {value!r}")
        to_tag = from_tag = None
        early_only = False
        params: list[tuple[str, str]] = []
        for item in items:
            name, eq, val = item.partition("=")
            name = name.strip()
            if not name:
                continue
            key = name.lower()
            val = val.strip()
            if key == "to-tag" and eq:
                to_tag = val
            elif key == "from-tag" and eq:
                from_tag = val
            elif key == "early-only" and not eq:
                early_only = True
            else:
                params.append((name, val if eq else ""))
        # RFC 3891 6.1: to-tag and from-tag are both required.
        if not to_tag or not from_tag:
            raise ReplacesError(f"Replaces needs both to-tag and from-tag: {value!r}")
        return Replaces(call_id, to_tag, from_tag, early_only, tuple(params))

    def __str__(self) -> str:
        text = f"{self.call_id};to-tag={self.to_tag};from-tag={self.from_tag}"
        if self.early_only:
            text += ";early-only"
        for name, value in self.params:
            text += f";{name}={value}" if value else f";{name}"
        return text

    def matches(self, call_id: str, local_tag: str, remote_tag: str) -> bool:
        """Does this name the dialog (call_id, our tag, their tag) of the recipient? (RFC 3891 3)"""
        return self.call_id == call_id and self.to_tag == local_tag and self.from_tag == remote_tag


@dataclass(frozen=True, slots=True)
class ReferTarget:
    """A REFER's Refer-To: where to send the referee, and the dialog it should replace, if any."""

    uri: URI  # without its URI headers
    replaces: Replaces | None
    headers: tuple[tuple[str, str], ...] = ()  # the other URI headers (RFC 3261 19.1.5)

    @property
    def attended(self) -> bool:
        return self.replaces is not None


def judge(replaces: Replaces, dialog: tuple[str, str, str] | None, *, terminated: bool) -> tuple[int, str]:
    """RFC 3891 3: what an INVITE with `replaces` deserves, given the confirmed dialog it found.

    `dialog` is (Call-ID, local tag, remote tag) of our confirmed dialog with
    that Call-ID, or None when there is none: no such call, or an early
    dialog that this UA did not initiate (an inbound call still ringing here),
    which RFC 3891 3 answers 481.  Early dialogs we initiated: `judge_early`.
    Returns (200, "OK") when the replacement may go ahead.
    """
    # A dialog that has ended (its BYE sent or received) is no more replaceable than an unknown
    # one: 481, as FreeSWITCH's sofia-sip answers (RFC 3891 3 would also allow a 603).
    if dialog is None or terminated or not replaces.matches(*dialog):
        return 481, "Call/Transaction Does Not Exist"
    if replaces.early_only:
        return 486, "Busy Here"  # early-only and the dialog is confirmed
    return 200, "OK"


def judge_early(
    replaces: Replaces, call_id: str, local_tag: str, remote_tags: Iterable[str], *, terminated: bool
) -> tuple[int, str]:
    """RFC 3891 3 for the early dialogs of a call this UA initiated and that still rings: call pickup.

    "If the Replaces header field matches an early dialog that was initiated
    by this UA, it MUST be terminated (CANCEL)" and the new INVITE goes ahead;
    `early-only` allows exactly that.  The tags are matched either way round:
    a phone doing directed pickup learns the dialog from a dialog-info
    notification (RFC 4235 4.1.6), whose local-tag and remote-tag are the
    ringing phone's, and phones differ in which way round they copy them.
    """
    if terminated or replaces.call_id != call_id:
        return 481, "Call/Transaction Does Not Exist"
    for remote_tag in remote_tags:
        if replaces.matches(call_id, local_tag, remote_tag) or replaces.matches(
            call_id, remote_tag, local_tag
        ):
            return 200, "OK"
    return 481, "Call/Transaction Does Not Exist"


def refer_target(refer_to: str) -> ReferTarget:
    """Read a Refer-To value (RFC 3515 2.1); ReplacesError (400) when it is not a usable target."""
    try:
        uri = NameAddr.parse(refer_to.strip()).uri
    except Exception as exc:
        raise ReplacesError(f"unreadable Refer-To {refer_to!r}") from exc
    replaces: Replaces | None = None
    others: list[tuple[str, str]] = []
    for name, value in uri.headers:
        if name.lower() == "replaces":
            replaces = Replaces.parse(value)
        else:
            others.append((name, value))
    return ReferTarget(uri.replace(headers=()), replaces, tuple(others))


__all__ = ["ReferTarget", "Replaces", "ReplacesError", "judge", "judge_early", "refer_target"]
