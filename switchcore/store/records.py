"""The values the store takes and gives back: frozen dataclasses, never ORM rows.

Every timestamp is a timezone-aware `datetime`; the store keeps UTC with
microseconds and refuses naive values (`NaiveTimestamp`) rather than guess
which clock they came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ..causes import HangupCause
from ..states import CallState, ChannelState
from .errors import NaiveTimestamp


def _require_aware(name: str, value: datetime | None) -> None:
    if value is not None and value.utcoffset() is None:
        raise NaiveTimestamp(name)


@dataclass(frozen=True, slots=True)
class MediaQuality:
    """One leg's media figures, as the quality tap measured them; None = not measured.

    `jitter_ms` is the RFC 3550 6.4.1 interarrival jitter converted to
    milliseconds; `mos` the E-model estimate (ITU-T G.107) on a 1.0-4.5 scale.
    """

    packets_in: int | None = None
    packets_out: int | None = None
    packets_lost: int | None = None
    jitter_ms: float | None = None
    mos: float | None = None
    plc_frames: int | None = None
    fec_frames: int | None = None


@dataclass(frozen=True, slots=True)
class CdrRecord:
    """One call detail record: one leg, written when the leg reaches REPORTING.

    `call_uuid` is the A-leg of the call the leg belongs to (its own uuid for an
    A-leg), `bleg_uuid` the leg it was bridged to, "" if none.  `answer` is None
    for a leg that was never answered.  `hangup_cause` gives both the
    `hangup_cause` name and the `hangup_cause_q850` code, as FreeSWITCH's CDRs
    carry them.  `id` is assigned by the store and is None before the write.
    """

    uuid: str
    direction: str
    start: datetime
    end: datetime
    hangup_cause: HangupCause
    answer: datetime | None = None
    call_uuid: str = ""
    bleg_uuid: str = ""
    channel_name: str = ""
    caller_id_name: str = ""
    caller_id_number: str = ""
    destination_number: str = ""
    context: str = ""
    node: str = ""
    sip_status: int | None = None
    endpoint_disposition: str = ""
    read_codec: str = ""
    write_codec: str = ""
    quality: MediaQuality = MediaQuality()
    variables: Mapping[str, str] = field(default_factory=dict)
    id: int | None = None

    def __post_init__(self) -> None:
        _require_aware("start", self.start)
        _require_aware("answer", self.answer)
        _require_aware("end", self.end)

    @property
    def duration(self) -> int:
        """Whole seconds from start to end (FreeSWITCH's `duration`)."""
        return max(0, int((self.end - self.start).total_seconds()))

    @property
    def billsec(self) -> int:
        """Whole seconds from answer to end, 0 if never answered (FreeSWITCH's `billsec`)."""
        if self.answer is None:
            return 0
        return max(0, int((self.end - self.answer).total_seconds()))


@dataclass(frozen=True, slots=True)
class RegistrationRecord:
    """One registered contact of a user on a profile ("internal" for SIP, "verto").

    One user may hold several contacts (RFC 3261 10.2.1.2); the store keys a
    registration on (profile, user, realm, contact).  `received` is the source
    address the request came from ("ip:port") when the switch had to rewrite the
    contact for NAT, and `nat` tells that it did.  `node` is the switch that
    holds the connection, for several nodes sharing one database.
    """

    profile: str
    user: str
    realm: str
    contact: str
    expires_at: datetime
    call_id: str = ""
    network_ip: str = ""
    network_port: int = 0
    transport: str = "udp"
    user_agent: str = ""
    received: str = ""
    nat: bool = False
    node: str = ""

    def __post_init__(self) -> None:
        _require_aware("expires_at", self.expires_at)

    def expired(self, now: datetime) -> bool:
        """True once `now` has reached the expiry time."""
        return self.expires_at <= now


@dataclass(frozen=True, slots=True)
class ChannelRecord:
    """A live channel as `show channels` lists it; the row goes when the channel is destroyed."""

    uuid: str
    name: str
    created: datetime
    direction: str = "inbound"
    state: ChannelState = ChannelState.NEW
    callstate: CallState = CallState.DOWN
    cid_name: str = ""
    cid_num: str = ""
    ip_addr: str = ""
    dest: str = ""
    context: str = ""
    application: str = ""
    application_data: str = ""
    read_codec: str = ""
    write_codec: str = ""
    call_uuid: str = ""
    node: str = ""

    def __post_init__(self) -> None:
        _require_aware("created", self.created)
