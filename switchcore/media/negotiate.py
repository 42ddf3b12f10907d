"""RFC 3264 offer/answer for one audio stream, with FreeSWITCH's codec-prefs rules.

Theory of operation.  A profile or channel has a `MediaPolicy`: the codec
preference list (`codec-prefs`, e.g. `OPUS,G722,PCMU@20i,PCMA`), the
`inbound-codec-negotiation` mode, whether RFC 4733 telephone-events are offered
(`rfc2833-pt`, 101 by default) and fmtp hooks keyed by codec name.  Against
the `CodecSpec`s the switch has loaded:

- `build_offer` writes an offer: codecs in preference order, static payload
  types where RFC 3551 assigns one, dynamic ones from 96 upwards, plus
  `telephone-event/8000` on `rfc2833-pt` (and `telephone-event/48000` when Opus
  is offered, since RFC 4733 2.1 wants the event clock to match the audio).
- `answer_offer` picks one codec from a remote offer (RFC 3264 6.1) and writes
  the answer, reusing the offerer's payload type numbers.  GENEROUS walks the
  offer in the offerer's order, GREEDY walks our list, SCROOGE is GREEDY that
  also imposes our ptime.  Streams we do not take are rejected with port 0.
- `accept_answer` reads the answer to an offer we made (RFC 3264 7).

Each returns a `Negotiated`: the codec, the payload types for each direction,
ptime, the effective fmtp, the telephone-event type, the remote RTP/RTCP
address, our media direction and whether the remote put us on hold.  When
nothing fits, `NoCommonCodec` (an `IncompatibleMedia`, SIP 488,
INCOMPATIBLE_DESTINATION) says what was offered and what we had.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Protocol

from ..causes import HangupCause
from ..errors import CallError, ConfigError
from .codec import CodecSpec
from .sdp import (
    Attribute,
    Connection,
    Direction,
    MediaDescription,
    Origin,
    RtpMap,
    SessionDescription,
    format_fmtp_params,
    parse_fmtp_params,
)

TELEPHONE_EVENT = "TELEPHONE-EVENT"
DEFAULT_PTIME = 20
DYNAMIC_PTS = range(96, 128)

# RFC 3551 6, table 4: the static audio payload types (an rtpmap may be absent).
STATIC_PAYLOADS: Mapping[int, RtpMap] = {
    pt: RtpMap(pt, name, rate, channels)
    for pt, name, rate, channels in (
        (0, "PCMU", 8000, None),
        (3, "GSM", 8000, None),
        (4, "G723", 8000, None),
        (5, "DVI4", 8000, None),
        (6, "DVI4", 16000, None),
        (7, "LPC", 8000, None),
        (8, "PCMA", 8000, None),
        (9, "G722", 8000, None),
        (10, "L16", 44100, 2),
        (11, "L16", 44100, None),
        (12, "QCELP", 8000, None),
        (13, "CN", 8000, None),
        (14, "MPA", 90000, None),
        (15, "G728", 8000, None),
        (16, "DVI4", 11025, None),
        (17, "DVI4", 22050, None),
        (18, "G729", 8000, None),
    )
}

# How encoding names are spelled on the wire when we write an rtpmap.
_WIRE_NAMES = {"OPUS": "opus", TELEPHONE_EVENT: "telephone-event", "SPEEX": "speex", "ILBC": "iLBC"}


# --- errors ----------------------------------------------------------------


class IncompatibleMedia(CallError):
    """The media offered cannot be used: reject with 488 Not Acceptable Here (RFC 3261 21.4.26)."""

    sip_status = 488

    def __init__(self, reason: str) -> None:
        super().__init__(HangupCause.INCOMPATIBLE_DESTINATION, reason)


class NoCommonCodec(IncompatibleMedia):
    """No offered codec is one we have and want."""


# --- preferences -----------------------------------------------------------


class CodecNegotiation(Enum):
    """FreeSWITCH's `inbound-codec-negotiation`."""

    GENEROUS = "generous"  # the offerer's order wins
    GREEDY = "greedy"  # our codec-prefs order wins
    SCROOGE = "scrooge"  # greedy, and our ptime wins over the offer's


@dataclass(frozen=True, slots=True)
class CodecPref:
    """One item of a FreeSWITCH codec string: `NAME[@<rate>h|k][@<ms>i][@<n>c][@<bps>b][~fmtp]`."""

    name: str
    rate: int | None = None
    ptime: int | None = None
    channels: int | None = None
    bitrate: int | None = None
    fmtp: str | None = None

    @classmethod
    def parse(cls, item: str) -> CodecPref:
        text = item.strip().strip("'\"")
        text, _, fmtp = text.partition("~")
        name, *options = text.split("@")
        if not name:
            raise ConfigError(f"bad codec preference {item!r}: no codec name")
        values: dict[str, int] = {}
        for option in options:
            suffix, number = option[-1:].lower(), option[:-1]
            if option.isdigit():
                suffix, number = "h", option
            if not number.isdigit() or suffix not in "hkicb":
                raise ConfigError(f"bad codec preference {item!r}: cannot read @{option}")
            values[suffix] = int(number) * (1000 if suffix == "k" else 1)
        return cls(
            name=name.upper(),
            rate=values.get("h", values.get("k")),
            ptime=values.get("i"),
            channels=values.get("c"),
            bitrate=values.get("b"),
            fmtp=fmtp or None,
        )

    def matches(self, spec: CodecSpec) -> bool:
        """Whether `spec` is an implementation of this item (rate may name the PCM or the RTP clock rate)."""
        return (
            spec.name.upper() == self.name
            and self.rate in (None, spec.rate, spec.clock_rate)
            and self.channels in (None, spec.channels)
            and (self.ptime is None or self.ptime in spec.ptimes)
        )

    def __str__(self) -> str:
        text = self.name
        if self.rate is not None:
            text += f"@{self.rate}h"
        if self.ptime is not None:
            text += f"@{self.ptime}i"
        if self.channels is not None:
            text += f"@{self.channels}c"
        if self.bitrate is not None:
            text += f"@{self.bitrate}b"
        return text + (f"~{self.fmtp}" if self.fmtp else "")


def parse_codec_prefs(text: str) -> tuple[CodecPref, ...]:
    """`"OPUS,G722,PCMU@20i,PCMA"` -> CodecPrefs; blank items are skipped."""
    return tuple(CodecPref.parse(item) for item in text.split(",") if item.strip())


class FmtpNegotiator(Protocol):
    """The fmtp rules of one codec (mod_opus registers one for OPUS).

    `local` gives the parameters we write in our SDP: for an offer `remote` is
    None, for an answer it is the offerer's parameters.  `merge` gives the
    parameters the encoder and decoder are built with once both sides are known.
    """

    def local(self, spec: CodecSpec, remote: Mapping[str, str] | None) -> Mapping[str, str]: ...

    def merge(
        self, spec: CodecSpec, local: Mapping[str, str], remote: Mapping[str, str]
    ) -> Mapping[str, str]: ...


class PassthroughFmtp:
    """The default rule: offer the codec's default fmtp, echo the offerer's in an answer, remote wins on merge."""

    def local(self, spec: CodecSpec, remote: Mapping[str, str] | None) -> Mapping[str, str]:
        return dict(spec.default_fmtp) if remote is None else dict(remote)

    def merge(
        self, spec: CodecSpec, local: Mapping[str, str], remote: Mapping[str, str]
    ) -> Mapping[str, str]:
        return {**local, **remote}


PASSTHROUGH = PassthroughFmtp()


@dataclass(frozen=True, slots=True)
class MediaPolicy:
    """What a profile/channel wants from negotiation (FreeSWITCH profile params in comments)."""

    codecs: tuple[CodecPref, ...]  # codec-prefs / absolute_codec_string
    negotiation: CodecNegotiation = CodecNegotiation.GENEROUS  # inbound-codec-negotiation
    dtmf: bool = True  # dtmf-type rfc2833 (False: none/info)
    rfc2833_pt: int = 101  # rfc2833-pt
    ptime: int | None = None  # default ptime when the preference item has no @<ms>i
    rtcp_mux: bool = True  # accept RFC 5761 rtcp-mux when offered
    offer_rtcp_mux: bool = False
    protos: tuple[str, ...] = ("RTP/AVP", "RTP/AVPF")
    fmtp: Mapping[str, FmtpNegotiator] = field(default_factory=dict)

    @classmethod
    def from_prefs(cls, codec_prefs: str, **options: object) -> MediaPolicy:
        return cls(parse_codec_prefs(codec_prefs), **options)  # type: ignore[arg-type]

    def negotiator(self, spec: CodecSpec) -> FmtpNegotiator:
        return self.fmtp.get(spec.name.upper(), PASSTHROUGH)


@dataclass(frozen=True, slots=True)
class LocalMedia:
    """Where we receive RTP, and the o=/s= values of our SDP."""

    address: str
    port: int
    session_id: str = "1"
    session_version: int = 1
    username: str = "switchcore"
    session_name: str = "switchcore"
    rtcp_port: int | None = None  # written as a=rtcp only when it is not port + 1


# --- results ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OfferedCodec:
    """One codec of our offer: the implementation, its payload type, ptime and fmtp."""

    spec: CodecSpec
    pt: int
    ptime: int
    fmtp: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Negotiated:
    """The outcome of offer/answer for the audio stream, from our side.

    `pt`/`dtmf_pt` are what we send with, `recv_pt`/`recv_dtmf_pt` what the
    remote sends with (equal unless an answerer renumbered).  `fmtp` is what
    the encoder/decoder are built with.  `remote_addr` is None when the remote
    gave no usable address (port 0, c=0.0.0.0, or ICE to be done elsewhere).
    """

    codec: CodecSpec
    pt: int
    ptime: int
    fmtp: Mapping[str, str]
    dtmf_pt: int | None
    remote_addr: tuple[str, int] | None
    direction: Direction
    recv_pt: int
    recv_dtmf_pt: int | None = None
    remote_rtcp_addr: tuple[str, int] | None = None
    rtcp_mux: bool = False
    hold: bool = False
    local_fmtp: Mapping[str, str] = field(default_factory=dict)
    remote_fmtp: Mapping[str, str] = field(default_factory=dict)

    @property
    def samples_per_packet(self) -> int:
        """The RTP timestamp step of one packet (RTP clock, not PCM rate: G722 is 160 per 20 ms)."""
        return self.codec.clock_rate * self.ptime // 1000

    @property
    def dtmf_clock_rate(self) -> int:
        return self.codec.clock_rate


@dataclass(frozen=True, slots=True)
class Offer:
    sdp: SessionDescription
    codecs: tuple[OfferedCodec, ...]
    dtmf_pts: Mapping[int, int]  # telephone-event clock rate -> payload type


@dataclass(frozen=True, slots=True)
class Answer:
    sdp: SessionDescription
    negotiated: Negotiated


# --- helpers other code uses -----------------------------------------------


def answer_direction(offered: Direction, local: Direction = Direction.SENDRECV) -> Direction:
    """RFC 3264 6.1: we may send only if the offerer receives, receive only if it sends."""
    return Direction.of(sends=offered.receives and local.sends, receives=offered.sends and local.receives)


def is_hold(sdp: SessionDescription, media: MediaDescription) -> bool:
    """RFC 3264 8.4: sendonly or inactive; or RFC 2543's c=0.0.0.0 (but not an ICE offer's 0.0.0.0)."""
    if sdp.direction_of(media) in (Direction.SENDONLY, Direction.INACTIVE):
        return True
    return _null_hold(sdp, media)


def _null_hold(sdp: SessionDescription, media: MediaDescription) -> bool:
    connection = sdp.connection_of(media)
    return connection is not None and connection.is_null and sdp.ice_ufrag_of(media) is None


def remote_rtp_address(sdp: SessionDescription, media: MediaDescription) -> tuple[str, int] | None:
    """The address to send RTP to: the effective c= host and the m= port (None for 0.0.0.0 or port 0)."""
    connection = sdp.connection_of(media)
    if connection is None or connection.is_null or media.port == 0:
        return None
    return connection.host, media.port


def remote_rtcp_address(sdp: SessionDescription, media: MediaDescription) -> tuple[str, int] | None:
    """RFC 5761 (mux: the RTP address), RFC 3605 (a=rtcp), else RFC 3550 11 (RTP port + 1)."""
    rtp = remote_rtp_address(sdp, media)
    if media.rtcp_mux:
        return rtp
    declared = media.rtcp
    if declared is not None:
        port, connection = declared
        if connection is not None:
            return None if connection.is_null else (connection.host, port)
        return (rtp[0], port) if rtp else None
    return (rtp[0], rtp[1] + 1) if rtp else None


@dataclass(frozen=True, slots=True)
class _RemoteCodec:
    pt: int
    rtpmap: RtpMap

    @property
    def name(self) -> str:
        return self.rtpmap.name

    def matches(self, spec: CodecSpec) -> bool:
        if self.name != spec.name.upper() or self.rtpmap.clock_rate != spec.clock_rate:
            return False
        # RFC 7587 7: Opus is always opus/48000/2; mono or stereo is an fmtp matter.
        return self.name == "OPUS" or (self.rtpmap.channels or 1) == spec.channels


def _remote_codecs(media: MediaDescription) -> list[_RemoteCodec]:
    maps = media.rtpmaps()
    codecs = []
    for pt in media.payload_types:
        rtpmap = maps.get(pt) or STATIC_PAYLOADS.get(pt)
        if rtpmap is not None:
            codecs.append(_RemoteCodec(pt, rtpmap))
    return codecs


def _choose_ptime(spec: CodecSpec, *wanted: int | None) -> int:
    """The first wanted ptime the codec can do, else its default (the first of `spec.ptimes`)."""
    for ptime in wanted:
        if ptime is not None and ptime in spec.ptimes:
            return ptime
    return spec.ptimes[0] if spec.ptimes else DEFAULT_PTIME


def _limit_ptime(spec: CodecSpec, ptime: int, maxptime: int | None) -> int:
    if maxptime is None or ptime <= maxptime:
        return ptime
    fitting = [p for p in spec.ptimes if p <= maxptime]
    return max(fitting) if fitting else ptime


def _wire_rtpmap(pt: int, name: str, clock_rate: int, channels: int) -> RtpMap:
    wire = _WIRE_NAMES.get(name.upper(), name)
    if name.upper() == "OPUS":
        return RtpMap(pt, wire, clock_rate, 2)
    return RtpMap(pt, wire, clock_rate, channels if channels > 1 else None)


def _session(local: LocalMedia, media: Sequence[MediaDescription]) -> SessionDescription:
    addrtype = "IP6" if ":" in local.address else "IP4"
    return SessionDescription(
        origin=Origin(
            local.username, local.session_id, str(local.session_version), "IN", addrtype, local.address
        ),
        name=local.session_name,
        connection=Connection(local.address, "IN", addrtype),
        media=tuple(media),
    )


def _codec_attributes(pt: int, rtpmap: RtpMap, fmtp: Mapping[str, str]) -> list[Attribute]:
    attributes = [Attribute("rtpmap", str(rtpmap))]
    if fmtp:
        attributes.append(Attribute("fmtp", f"{pt} {format_fmtp_params(fmtp)}"))
    return attributes


def _transport_attributes(local: LocalMedia, mux: bool) -> list[Attribute]:
    if mux:
        return [Attribute("rtcp-mux")]
    if local.rtcp_port is not None and local.rtcp_port != local.port + 1:
        return [Attribute("rtcp", str(local.rtcp_port))]
    return []


# --- the offer -------------------------------------------------------------


def offer_codecs(policy: MediaPolicy, available: Sequence[CodecSpec]) -> tuple[OfferedCodec, ...]:
    """Resolve the preference list against the loaded codecs and number them (RFC 3551 static, else 96+)."""
    taken = {policy.rfc2833_pt} if policy.dtmf else set()
    chosen: list[tuple[CodecSpec, CodecPref]] = []
    seen: set[tuple[str, int]] = set()
    for pref in policy.codecs:
        spec = next((s for s in available if pref.matches(s)), None)
        if spec is None or (spec.name.upper(), spec.clock_rate) in seen:
            continue
        seen.add((spec.name.upper(), spec.clock_rate))
        chosen.append((spec, pref))
        if spec.static_pt is not None:
            taken.add(spec.static_pt)
    dynamic = (pt for pt in DYNAMIC_PTS if pt not in taken)
    offered = []
    for spec, pref in chosen:
        pt = spec.static_pt if spec.static_pt is not None else next(dynamic, None)
        if pt is None:
            break  # RFC 3551 3: no dynamic payload types left
        negotiator = policy.negotiator(spec)
        fmtp = dict(negotiator.local(spec, None))
        if pref.fmtp:
            fmtp.update(parse_fmtp_params(pref.fmtp))
        offered.append(OfferedCodec(spec, pt, _choose_ptime(spec, pref.ptime, policy.ptime), fmtp))
    return tuple(offered)


def build_offer(
    local: LocalMedia,
    policy: MediaPolicy,
    available: Sequence[CodecSpec],
    direction: Direction = Direction.SENDRECV,
) -> Offer:
    """An RFC 3264 5 offer with one audio stream; raises NoCommonCodec if no preference is loaded."""
    codecs = offer_codecs(policy, available)
    if not codecs:
        names = ", ".join(str(p) for p in policy.codecs) or "(none)"
        raise NoCommonCodec(f"no codec to offer: codec-prefs {names} match no loaded codec")
    dtmf_pts: dict[int, int] = {}
    if policy.dtmf:
        used = {c.pt for c in codecs} | {policy.rfc2833_pt}
        spare = (pt for pt in reversed(DYNAMIC_PTS) if pt not in used)
        dtmf_pts[8000] = policy.rfc2833_pt
        for codec in codecs:
            rate = codec.spec.clock_rate
            if rate not in dtmf_pts and codec.spec.name.upper() == "OPUS":
                pt = next(spare, None)
                if pt is not None:
                    dtmf_pts[rate] = pt
    attributes: list[Attribute] = []
    for codec in codecs:
        attributes += _codec_attributes(
            codec.pt,
            _wire_rtpmap(codec.pt, codec.spec.name, codec.spec.clock_rate, codec.spec.channels),
            codec.fmtp,
        )
    events = sorted(dtmf_pts.items(), key=lambda item: item[1] != policy.rfc2833_pt)  # rfc2833-pt first
    for rate, pt in events:
        attributes += _codec_attributes(pt, _wire_rtpmap(pt, TELEPHONE_EVENT, rate, 1), {"0-16": ""})
    attributes.append(Attribute("ptime", str(codecs[0].ptime)))
    attributes += _transport_attributes(local, policy.offer_rtcp_mux)
    attributes.append(Attribute(direction.value))
    formats = [str(c.pt) for c in codecs] + [str(pt) for _, pt in events]
    media = MediaDescription("audio", local.port, "RTP/AVP", tuple(formats), attributes=tuple(attributes))
    return Offer(_session(local, [media]), codecs, dtmf_pts)


# --- the answer ------------------------------------------------------------


def _pick(
    remote: Sequence[_RemoteCodec], policy: MediaPolicy, available: Sequence[CodecSpec]
) -> tuple[_RemoteCodec, CodecSpec, CodecPref] | None:
    pairs = [
        (r, spec, pref)
        for pref in policy.codecs
        for r in remote
        for spec in available
        if pref.matches(spec) and r.matches(spec)
    ]
    if not pairs:
        return None
    if policy.negotiation is CodecNegotiation.GENEROUS:
        order = {id(r): i for i, r in enumerate(remote)}
        return min(pairs, key=lambda pair: order[id(pair[0])])
    return pairs[0]


def _dtmf_pt(remote: Sequence[_RemoteCodec], clock_rate: int) -> _RemoteCodec | None:
    """RFC 4733 2.1: prefer telephone-event at the audio clock rate, else the common 8000 Hz one."""
    events = [r for r in remote if r.name == TELEPHONE_EVENT]
    for rate in (clock_rate, 8000):
        for event in events:
            if event.rtpmap.clock_rate == rate:
                return event
    return None


def _describe(remote: Sequence[_RemoteCodec]) -> str:
    names = [f"{r.rtpmap.encoding}/{r.rtpmap.clock_rate}" for r in remote if r.name != TELEPHONE_EVENT]
    return ", ".join(names) or "(none)"


def answer_offer(
    offer: SessionDescription,
    local: LocalMedia,
    policy: MediaPolicy,
    available: Sequence[CodecSpec],
    direction: Direction = Direction.SENDRECV,
) -> Answer:
    """RFC 3264 6: take the first usable audio stream, one codec (plus telephone-event), reject the rest."""
    chosen: tuple[int, _RemoteCodec, CodecSpec, CodecPref, list[_RemoteCodec]] | None = None
    problems: list[str] = []
    for index, media in enumerate(offer.media):
        if media.media != "audio" or media.port == 0 or chosen is not None:
            continue
        if media.proto not in policy.protos:
            problems.append(f"unsupported transport {media.proto}")
            continue
        remote = _remote_codecs(media)
        pick = _pick(remote, policy, available)
        if pick is None:
            local_names = ", ".join(str(p) for p in policy.codecs) or "(none)"
            problems.append(f"no common codec (offered {_describe(remote)}; local {local_names})")
            continue
        chosen = (index, *pick, remote)
    if chosen is None:
        if not problems:
            raise IncompatibleMedia("no audio stream in the offer")
        if all(p.startswith("no common codec") for p in problems):
            raise NoCommonCodec(problems[0])
        raise IncompatibleMedia("; ".join(problems))
    index, remote_codec, spec, pref, remote = chosen
    media = offer.media[index]
    event = _dtmf_pt(remote, spec.clock_rate) if policy.dtmf else None

    our_ptime = _choose_ptime(spec, pref.ptime, policy.ptime)
    if policy.negotiation is CodecNegotiation.SCROOGE:
        ptime = our_ptime
    else:
        ptime = _choose_ptime(spec, media.ptime, pref.ptime, policy.ptime)
    ptime = _limit_ptime(spec, ptime, media.maxptime)

    negotiator = policy.negotiator(spec)
    remote_fmtp = media.fmtp(remote_codec.pt)
    local_fmtp = dict(negotiator.local(spec, remote_fmtp))
    offered_direction = offer.direction_of(media)
    null_hold = _null_hold(offer, media)
    if null_hold:  # RFC 2543 hold: there is nowhere to send to
        offered_direction = Direction.of(sends=offered_direction.sends, receives=False)
    ours = answer_direction(offered_direction, direction)
    mux = media.rtcp_mux and policy.rtcp_mux

    attributes = _codec_attributes(remote_codec.pt, remote_codec.rtpmap, local_fmtp)
    formats = [str(remote_codec.pt)]
    if event is not None:
        event_fmtp = media.fmtp(event.pt) or {"0-16": ""}
        attributes += _codec_attributes(event.pt, event.rtpmap, event_fmtp)
        formats.append(str(event.pt))
    attributes.append(Attribute("ptime", str(ptime)))
    attributes += _transport_attributes(local, mux)
    attributes.append(Attribute(ours.value))

    answer_media: list[MediaDescription] = []
    for i, m in enumerate(offer.media):
        if i == index:
            answer_media.append(
                MediaDescription(
                    "audio", local.port, media.proto, tuple(formats), attributes=tuple(attributes)
                )
            )
        else:  # RFC 3264 6: a rejected stream keeps its place with port 0
            answer_media.append(MediaDescription(m.media, 0, m.proto, m.formats or ("0",)))

    rtp = remote_rtp_address(offer, media)
    negotiated = Negotiated(
        codec=spec,
        pt=remote_codec.pt,
        ptime=ptime,
        fmtp=negotiator.merge(spec, local_fmtp, remote_fmtp),
        dtmf_pt=event.pt if event else None,
        remote_addr=rtp,
        direction=ours,
        recv_pt=remote_codec.pt,
        recv_dtmf_pt=event.pt if event else None,
        remote_rtcp_addr=rtp if mux else remote_rtcp_address(offer, media),
        rtcp_mux=mux,
        hold=is_hold(offer, media),
        local_fmtp=local_fmtp,
        remote_fmtp=remote_fmtp,
    )
    return Answer(_session(local, answer_media), negotiated)


def accept_answer(
    offer: SessionDescription,
    answer: SessionDescription,
    policy: MediaPolicy,
    available: Sequence[CodecSpec],
) -> Negotiated:
    """RFC 3264 7: read the answer to our offer; the answerer's first codec that we offered wins."""
    index = next((i for i, m in enumerate(offer.media) if m.media == "audio" and m.port != 0), None)
    if index is None:
        raise IncompatibleMedia("our offer has no audio stream")
    if index >= len(answer.media):
        raise IncompatibleMedia(f"the answer has {len(answer.media)} streams, the offer {len(offer.media)}")
    ours, theirs = offer.media[index], answer.media[index]
    if theirs.port == 0:
        raise NoCommonCodec("the answerer rejected the audio stream (port 0)")
    offered = [(r, s) for r in _remote_codecs(ours) for s in available if r.matches(s)]
    ours_maps = ours.rtpmaps()
    answered: list[_RemoteCodec] = []
    for pt in theirs.payload_types:  # an answer may lean on the offer's rtpmaps
        rtpmap = theirs.rtpmaps().get(pt) or ours_maps.get(pt) or STATIC_PAYLOADS.get(pt)
        if rtpmap is not None:
            answered.append(_RemoteCodec(pt, rtpmap))
    pick = next(((a, o, s) for a in answered for o, s in offered if o.name == a.name and a.matches(s)), None)
    if pick is None:
        raise NoCommonCodec(
            f"no common codec (answered {_describe(answered)}; offered {_describe(_remote_codecs(ours))})"
        )
    answer_codec, our_codec, spec = pick
    event = _dtmf_pt(answered, spec.clock_rate) if policy.dtmf else None
    our_event = _dtmf_pt(_remote_codecs(ours), event.rtpmap.clock_rate) if event else None
    ptime = _limit_ptime(spec, _choose_ptime(spec, theirs.ptime, ours.ptime), theirs.maxptime)
    negotiator = policy.negotiator(spec)
    local_fmtp, remote_fmtp = ours.fmtp(our_codec.pt), theirs.fmtp(answer_codec.pt)
    answered_direction = answer.direction_of(theirs)
    if _null_hold(answer, theirs):
        answered_direction = Direction.of(sends=answered_direction.sends, receives=False)
    direction = answer_direction(answered_direction, offer.direction_of(ours))
    mux = ours.rtcp_mux and theirs.rtcp_mux
    rtp = remote_rtp_address(answer, theirs)
    return Negotiated(
        codec=spec,
        pt=answer_codec.pt,
        ptime=ptime,
        fmtp=negotiator.merge(spec, local_fmtp, remote_fmtp),
        dtmf_pt=event.pt if event else None,
        remote_addr=rtp,
        direction=direction,
        recv_pt=our_codec.pt,
        recv_dtmf_pt=our_event.pt if our_event else None,
        remote_rtcp_addr=rtp if mux else remote_rtcp_address(answer, theirs),
        rtcp_mux=mux,
        hold=is_hold(answer, theirs),
        local_fmtp=local_fmtp,
        remote_fmtp=remote_fmtp,
    )


def with_direction(
    sdp: SessionDescription, direction: Direction, version: int | None = None
) -> SessionDescription:
    """Our SDP again with another direction on the audio stream (hold/unhold re-offer), o= version bumped."""
    media = tuple(m.with_direction(direction) if m.media == "audio" and m.port else m for m in sdp.media)
    origin = sdp.origin
    new_version = str(version if version is not None else int(origin.session_version) + 1)
    return replace(sdp, origin=replace(origin, session_version=new_version), media=media)
