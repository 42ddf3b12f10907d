"""SIP session timers (RFC 4028), sans-I/O: what to answer, and when to refresh or give up.

A dialog can outlive both ends: a phone that loses power never sends BYE, and
the switch would keep the call (and its licence-free but finite RTP ports) for
ever.  RFC 4028 makes one side, the *refresher*, repeat a session refresh
(re-INVITE or UPDATE) every half interval; the other side tears the call down
when no refresh came in time.

The profile's params, with FreeSWITCH's names and defaults (S9):

    enable-timer              true     take part at all (off: no "timer" in Supported)
    session-timeout           1800     the interval we ask for / accept at most (0: off)
    minimum-session-expires   120      the shortest interval we accept (RFC 4028 §4: >= 90)

`answer_request` is the UAS side of one INVITE/UPDATE (§9): accept with the
headers for the 2xx, or refuse with 422 (too short) or 420 (`Require: timer`
while disabled).  `offer_headers`, `read_answer` and `interval_after_422` are
the UAC side of our INVITEs (§7); `refresh_headers` and `refresh_outcome` that
of the refreshes we send (§7.4, §10).  The `SessionTimer` they yield says who
refreshes and the two deadlines (§10); `session_refresh.py` acts on it.

FreeSWITCH users' complaint 13 is a re-INVITE that changes the refresher and is
never answered: every refresh here is answered by the same rules as the first
request, whoever refreshed last.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum

RFC_MIN_SE = 90  # RFC 4028 §4: "MUST NOT be less than 90 seconds"


class Refresher(StrEnum):
    UAC = "uac"
    UAS = "uas"


@dataclass(frozen=True, slots=True)
class TimerPolicy:
    """The profile's session timer params."""

    enabled: bool = True
    session_expires: int = 1800
    min_se: int = 120

    @property
    def active(self) -> bool:
        return self.enabled and self.session_expires > 0

    @staticmethod
    def from_params(params: Mapping[str, str]) -> TimerPolicy:
        """From a profile's params as text (`SofiaProfile.params`); bad numbers keep the defaults."""
        enabled = params.get("enable-timer", "true").strip().lower() in ("true", "yes", "on", "1", "enabled")
        expires = _number(params.get("session-timeout"), 1800)
        min_se = max(RFC_MIN_SE, _number(params.get("minimum-session-expires"), 120))
        if expires:
            expires = max(expires, min_se)
        return TimerPolicy(enabled, expires, min_se)


def _number(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


class TimerHeaderError(ValueError):
    """A Session-Expires or Min-SE value that is not `delta-seconds *(;param)`."""


@dataclass(frozen=True, slots=True)
class SessionExpires:
    """`Session-Expires: 1800;refresher=uac` (RFC 4028 §4)."""

    interval: int
    refresher: Refresher | None = None

    @staticmethod
    def parse(value: str) -> SessionExpires:
        head, *params = value.split(";")
        interval = _delta_seconds(head)
        refresher: Refresher | None = None
        for param in params:
            name, _, arg = param.partition("=")
            if name.strip().lower() == "refresher":
                try:
                    refresher = Refresher(arg.strip().lower())
                except ValueError:
                    raise TimerHeaderError(f"bad refresher {arg.strip()!r}") from None
        return SessionExpires(interval, refresher)

    def __str__(self) -> str:
        return f"{self.interval};refresher={self.refresher}" if self.refresher else str(self.interval)


def _delta_seconds(text: str) -> int:
    text = text.strip()
    if not text.isdigit() or len(text) > 10:
        raise TimerHeaderError(f"bad delta-seconds {text!r}")
    return int(text)


def parse_min_se(value: str) -> int:
    """`Min-SE: 90` (params, if any, are ignored as §5 allows)."""
    return _delta_seconds(value.split(";")[0])


@dataclass(frozen=True, slots=True)
class SessionTimer:
    """A running timer as seen from our side of the dialog."""

    interval: int
    we_refresh: bool

    @property
    def refresh_after(self) -> float:
        """§10: the refresher SHOULD send its refresh at half the interval."""
        return self.interval / 2

    @property
    def expire_after(self) -> float:
        """§10: the other side gives up at the interval minus min(32 s, a third of it)."""
        return self.interval - min(32.0, self.interval / 3)


@dataclass(frozen=True, slots=True)
class Accept:
    """Answer 2xx with `headers`; `timer` runs from then on (None: no session timer)."""

    timer: SessionTimer | None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Refuse:
    """Answer with this status (422 or 420) and headers, and no dialog change."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


def supported_tags(policy: TimerPolicy) -> tuple[str, ...]:
    """The option tags this profile may advertise in Supported for session timers."""
    return ("timer",) if policy.active else ()


def answer_request(
    policy: TimerPolicy,
    *,
    session_expires: str | None,
    min_se: str | None,
    supported: Collection[str],
    require: Collection[str],
) -> Accept | Refuse:
    """The UAS side of an INVITE or UPDATE (initial or refresh), RFC 4028 §9.

    Raises TimerHeaderError for a malformed Session-Expires/Min-SE (the caller answers 400).
    """
    uac_supports = "timer" in supported or "timer" in require
    if not policy.active:
        if "timer" in require:
            return Refuse(420, "Bad Extension", (("Unsupported", "timer"),))
        return Accept(None)
    asked = SessionExpires.parse(session_expires) if session_expires is not None else None
    their_min = parse_min_se(min_se) if min_se is not None else RFC_MIN_SE
    if asked is not None and asked.interval < policy.min_se:
        if uac_supports:
            # §9: "the UAS MUST reject it with a 422" naming its minimum.
            return Refuse(422, "Session Interval Too Small", (("Min-SE", str(policy.min_se)),))
        # Errata 1687: a UAC that cannot retry after 422 gets the interval raised instead.
        asked = SessionExpires(policy.min_se, asked.refresher)
    # §9: the UAS may lower the interval it was asked for (never below the request's Min-SE),
    # never raise it; asked for none, it may set its own.
    ours = max(policy.session_expires, their_min)
    interval = ours if asked is None else min(asked.interval, ours)
    if not uac_supports:
        # The UAC will not refresh (it does not know the extension): we do, without Require.
        refresher = Refresher.UAS
    elif asked is not None and asked.refresher is not None:
        refresher = asked.refresher  # §9: a refresher the UAC chose is kept
    else:
        refresher = Refresher.UAC  # the caller refreshes, as FreeSWITCH lets it
    headers: list[tuple[str, str]] = [("Session-Expires", str(SessionExpires(interval, refresher)))]
    if refresher is Refresher.UAC:
        headers.append(("Require", "timer"))  # §9: MUST when the refresher is the UAC
    return Accept(SessionTimer(interval, we_refresh=refresher is Refresher.UAS), tuple(headers))


def offer_headers(policy: TimerPolicy) -> tuple[tuple[str, str], ...]:
    """Headers for an INVITE we send (§7.1): our interval and minimum; the answer picks the refresher."""
    if not policy.active:
        return ()
    return (("Session-Expires", str(policy.session_expires)), ("Min-SE", str(policy.min_se)))


def read_answer(
    policy: TimerPolicy, session_expires: str | None, supported: Collection[str] = ("timer",)
) -> SessionTimer | None:
    """The UAC side of a 2xx to our INVITE or refresh (§7.2).

    "If the 2xx response did not contain a Session-Expires header field, there
    is no session expiration."  A UAS that knows the extension copies our
    Session-Expires into its 2xx (§9), so a 2xx without one and without
    "timer" in its Supported/Require (`supported`) comes from a UAS that does
    not know it: then, as sofia-sip does for FreeSWITCH, we refresh at our own
    interval; the peer's session never expires, but a refresh that meets
    408/481 still ends a dead call (RFC 3261 12.2.1.2).  Raises TimerHeaderError.
    """
    if not policy.active:
        return None
    if session_expires is None:
        return None if "timer" in supported else SessionTimer(policy.session_expires, we_refresh=True)
    answer = SessionExpires.parse(session_expires)
    # §7.2: a 2xx without a refresher parameter leaves the refreshing to the UAC (us).
    return SessionTimer(answer.interval, we_refresh=answer.refresher is not Refresher.UAS)


def interval_after_422(policy: TimerPolicy, asked: int, min_se: str | None) -> int | None:
    """§7.4: after a 422 to our INVITE, the interval to ask for again (the 422's Min-SE).

    None when there is nothing to retry with: timers off, no or a bad Min-SE, or
    one that would not raise what we asked for (the same request would fail again).
    """
    if not policy.active or min_se is None:
        return None
    try:
        wanted = parse_min_se(min_se)
    except TimerHeaderError:
        return None
    return wanted if wanted > asked else None


def refresh_headers(policy: TimerPolicy, interval: int) -> tuple[tuple[str, str], ...]:
    """Headers for a refresh we send as the refresher (§7.4): the current interval, refresher=uac (us)."""
    return (
        ("Session-Expires", str(SessionExpires(interval, Refresher.UAC))),
        ("Min-SE", str(policy.min_se)),
    )


@dataclass(frozen=True, slots=True)
class Renewed:
    """A 2xx to our refresh: `timer` runs from now on (None: no session expiration any more, §7.2)."""

    timer: SessionTimer | None


@dataclass(frozen=True, slots=True)
class RetryRefresh:
    """Send the refresh again with this interval (at once, or after a pause) and method."""

    interval: int
    at_once: bool
    use_invite: bool


@dataclass(frozen=True, slots=True)
class EndSession:
    """The refresh proved the dialog gone: hang up with BYE (§10, RFC 3261 12.2.1.2)."""

    status: int


def refresh_outcome(
    policy: TimerPolicy,
    interval: int,
    *,
    method: str,
    status: int,
    session_expires: str | None,
    min_se: str | None,
    supported: Collection[str],
) -> Renewed | RetryRefresh | EndSession:
    """What the final response to a refresh we sent (UPDATE or re-INVITE) means."""
    if 200 <= status < 300:
        if session_expires is None and "timer" not in supported:
            # read_answer's UAS that does not know timers: we go on refreshing at the current interval.
            return Renewed(SessionTimer(interval, we_refresh=True))
        try:
            return Renewed(read_answer(policy, session_expires, supported))
        except TimerHeaderError:
            return Renewed(SessionTimer(interval, we_refresh=True))  # a garbled answer: keep ours
    if status in (408, 481):
        # §10: "If the session refresh request transaction times out or generates a
        # 408 or 481 response, then the UAC sends a BYE request".
        return EndSession(status)
    use_invite = method == "INVITE"
    if status == 422 and min_se is not None:
        try:
            # §7.4: retry with an interval of at least the 422's Min-SE (ours only goes up).
            return RetryRefresh(max(interval, parse_min_se(min_se)), True, use_invite)
        except TimerHeaderError:
            pass
    if method == "UPDATE" and status in (405, 501):
        return RetryRefresh(interval, True, True)  # UPDATE refused after all: re-INVITE (RFC 3311 5.1)
    # 491 (RFC 3261 14.1), 5xx and the like leave the session as it was: try again before it expires.
    return RetryRefresh(interval, False, use_invite)
