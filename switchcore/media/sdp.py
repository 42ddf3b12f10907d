"""SDP, the Session Description Protocol (RFC 8866, formerly RFC 4566), as values.

`SessionDescription.parse(text)` reads a description; `str(sdp)` writes it back
with CRLF line ends.  Every line is kept: fields the media core reads (o=, c=,
m=, ...) are typed, attributes are an ordered tuple of `Attribute`s kept
verbatim, so an SDP that follows the RFC 8866 5 line order round-trips exactly
(`str(SessionDescription.parse(text)) == text`).

Typed views of the attributes the switch uses are methods on `MediaDescription`
(`rtpmaps()`, `fmtp(pt)`, `direction`, `ptime`, `rtcp`, `rtcp_mux`, ICE and DTLS
values); they read the attribute list, they do not replace it.  Everything is a
frozen value: build a changed description with `dataclasses.replace` or the
`with_*` helpers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum

from ..errors import SwitchError

CRLF = "\r\n"


class SdpError(SwitchError):
    """The text is not a session description we can read (the peer sent bad SDP: 400/488)."""

    sip_status = 400

    def __init__(self, reason: str, line: int = 0) -> None:
        self.reason = reason
        self.line = line
        super().__init__(f"SDP line {line}: {reason}" if line else f"SDP: {reason}")


class Direction(Enum):
    """RFC 8866 6.7 media direction attributes; values are the attribute names."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        return self in (Direction.SENDRECV, Direction.RECVONLY)

    @classmethod
    def of(cls, sends: bool, receives: bool) -> Direction:
        if sends and receives:
            return cls.SENDRECV
        if sends:
            return cls.SENDONLY
        if receives:
            return cls.RECVONLY
        return cls.INACTIVE

    def reversed(self) -> Direction:
        """The same stream seen from the other end (sendonly <-> recvonly)."""
        return Direction.of(sends=self.receives, receives=self.sends)


DIRECTIONS = frozenset(d.value for d in Direction)


# --- line values -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Origin:
    """RFC 8866 5.2 `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`."""

    username: str = "-"
    session_id: str = "0"
    session_version: str = "0"
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "127.0.0.1"

    @classmethod
    def parse(cls, value: str) -> Origin:
        parts = value.split()
        if len(parts) != 6:
            raise ValueError(f"o= needs 6 fields, got {len(parts)}")
        return cls(*parts)

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass(frozen=True, slots=True)
class Connection:
    """RFC 8866 5.7 `c=<nettype> <addrtype> <connection-address>` (multicast TTL/count stay in `address`)."""

    address: str
    nettype: str = "IN"
    addrtype: str = "IP4"

    @classmethod
    def parse(cls, value: str) -> Connection:
        parts = value.split()
        if len(parts) != 3:
            raise ValueError(f"c= needs 3 fields, got {len(parts)}")
        return cls(address=parts[2], nettype=parts[0], addrtype=parts[1])

    @property
    def host(self) -> str:
        """The address without a multicast /ttl/count suffix."""
        return self.address.split("/", 1)[0]

    @property
    def is_null(self) -> bool:
        """RFC 3264 8.4 / RFC 2543 hold: `c=IN IP4 0.0.0.0` (or `::`)."""
        return self.host in ("0.0.0.0", "::")

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"


@dataclass(frozen=True, slots=True)
class Bandwidth:
    """RFC 8866 5.8 `b=<bwtype>:<bandwidth>` (AS, CT, TIAS, RS, RR)."""

    bwtype: str
    value: int

    @classmethod
    def parse(cls, value: str) -> Bandwidth:
        kind, sep, amount = value.partition(":")
        if not sep or not amount.strip().isdigit():
            raise ValueError(f"b= is not <type>:<number>: {value!r}")
        return cls(kind, int(amount))

    def __str__(self) -> str:
        return f"{self.bwtype}:{self.value}"


@dataclass(frozen=True, slots=True)
class Timing:
    """RFC 8866 5.9/5.10 `t=<start> <stop>` with its `r=` repeat lines kept verbatim."""

    start: int = 0
    stop: int = 0
    repeats: tuple[str, ...] = ()

    @classmethod
    def parse(cls, value: str) -> Timing:
        parts = value.split()
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"t= needs two numbers: {value!r}")
        return cls(int(parts[0]), int(parts[1]))

    def __str__(self) -> str:
        return f"{self.start} {self.stop}"


@dataclass(frozen=True, slots=True)
class Attribute:
    """RFC 8866 5.13 `a=<name>` (property, value None) or `a=<name>:<value>`, verbatim."""

    name: str
    value: str | None = None

    @classmethod
    def parse(cls, text: str) -> Attribute:
        name, sep, value = text.partition(":")
        return cls(name, value if sep else None)

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


@dataclass(frozen=True, slots=True)
class RtpMap:
    """RFC 8866 6.6 `a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]`."""

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int | None = None

    @classmethod
    def parse(cls, value: str) -> RtpMap:
        pt, _, rest = value.strip().partition(" ")
        parts = rest.strip().split("/")
        if not pt.isdigit() or len(parts) < 2 or not parts[1].isdigit():
            raise ValueError(f"bad rtpmap {value!r}")
        channels = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None
        return cls(int(pt), parts[0], int(parts[1]), channels)

    @property
    def name(self) -> str:
        """The encoding name in upper case, as codec specs spell it."""
        return self.encoding.upper()

    def __str__(self) -> str:
        suffix = f"/{self.channels}" if self.channels is not None else ""
        return f"{self.payload_type} {self.encoding}/{self.clock_rate}{suffix}"


def parse_fmtp_params(text: str) -> dict[str, str]:
    """`a=fmtp` parameters `k=v; k2=v2` as a dict (RFC 8866 6.15); a bare token (`0-16`) maps to ''."""
    params: dict[str, str] = {}
    for item in text.split(";"):
        item = item.strip()
        if not item:
            continue
        key, _, value = item.partition("=")
        params[key.strip()] = value.strip()
    return params


def format_fmtp_params(params: Mapping[str, str]) -> str:
    """The inverse of `parse_fmtp_params`, `k=v;k2=v2` in the mapping's order."""
    return ";".join(f"{k}={v}" if v != "" else k for k, v in params.items())


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """RFC 8122 5 `a=fingerprint:<hash-func> <fingerprint>`."""

    algorithm: str
    value: str

    @classmethod
    def parse(cls, value: str) -> Fingerprint:
        algorithm, _, digest = value.strip().partition(" ")
        return cls(algorithm.lower(), digest.strip())

    def __str__(self) -> str:
        return f"{self.algorithm} {self.value}"


@dataclass(frozen=True, slots=True)
class Candidate:
    """RFC 8839 5.1 `a=candidate:` (foundation component transport priority address port typ type ...)."""

    foundation: str
    component: int
    transport: str
    priority: int
    address: str
    port: int
    type: str
    extensions: tuple[str, ...] = ()  # raddr/rport/generation/... as tokens, verbatim

    @classmethod
    def parse(cls, value: str) -> Candidate:
        bits = value.split()
        if len(bits) < 8 or bits[6] != "typ":
            raise ValueError(f"bad candidate {value!r}")
        return cls(
            bits[0], int(bits[1]), bits[2], int(bits[3]), bits[4], int(bits[5]), bits[7], tuple(bits[8:])
        )

    def __str__(self) -> str:
        head = (
            f"{self.foundation} {self.component} {self.transport} {self.priority} "
            f"{self.address} {self.port} typ {self.type}"
        )
        return " ".join((head, *self.extensions))


def _attribute_values(attributes: Iterable[Attribute], name: str) -> Iterator[str]:
    for attribute in attributes:
        if attribute.name == name and attribute.value is not None:
            yield attribute.value


def _first(attributes: Iterable[Attribute], name: str) -> str | None:
    return next(_attribute_values(attributes, name), None)


# --- media and session -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class MediaDescription:
    """RFC 8866 5.14 one `m=` section with its i=, c=, b=, k= and a= lines."""

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    port_count: int | None = None
    information: str | None = None
    connections: tuple[Connection, ...] = ()
    bandwidths: tuple[Bandwidth, ...] = ()
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()

    @property
    def connection(self) -> Connection | None:
        return self.connections[0] if self.connections else None

    @property
    def payload_types(self) -> tuple[int, ...]:
        """The m= formats as RTP payload types (non-numeric formats skipped)."""
        return tuple(int(f) for f in self.formats if f.isdigit())

    def attribute(self, name: str) -> str | None:
        """The value of the first `a=name:value`, or None."""
        return _first(self.attributes, name)

    def attributes_named(self, name: str) -> tuple[str, ...]:
        return tuple(_attribute_values(self.attributes, name))

    def has_attribute(self, name: str) -> bool:
        return any(a.name == name for a in self.attributes)

    def rtpmaps(self) -> dict[int, RtpMap]:
        """a=rtpmap by payload type; malformed lines are skipped."""
        maps: dict[int, RtpMap] = {}
        for value in self.attributes_named("rtpmap"):
            try:
                rtpmap = RtpMap.parse(value)
            except ValueError:
                continue
            maps.setdefault(rtpmap.payload_type, rtpmap)
        return maps

    def fmtp(self, payload_type: int) -> dict[str, str]:
        """The parsed `a=fmtp:<pt>` parameters ({} when there is none)."""
        prefix = str(payload_type)
        for value in self.attributes_named("fmtp"):
            pt, _, params = value.partition(" ")
            if pt == prefix:
                return parse_fmtp_params(params)
        return {}

    @property
    def direction(self) -> Direction | None:
        """The media-level direction attribute, None when absent (see `SessionDescription.direction_of`)."""
        for attribute in self.attributes:
            if attribute.value is None and attribute.name in DIRECTIONS:
                return Direction(attribute.name)
        return None

    @property
    def ptime(self) -> int | None:
        """RFC 8866 6.4 a=ptime in ms (fractions rounded)."""
        value = self.attribute("ptime")
        try:
            return round(float(value)) if value is not None else None
        except ValueError:
            return None

    @property
    def maxptime(self) -> int | None:
        value = self.attribute("maxptime")
        try:
            return round(float(value)) if value is not None else None
        except ValueError:
            return None

    @property
    def rtcp(self) -> tuple[int, Connection | None] | None:
        """RFC 3605 `a=rtcp:<port> [<nettype> <addrtype> <address>]`."""
        value = self.attribute("rtcp")
        if value is None:
            return None
        parts = value.split()
        if not parts or not parts[0].isdigit():
            return None
        connection = Connection(parts[3], parts[1], parts[2]) if len(parts) == 4 else None
        return int(parts[0]), connection

    @property
    def rtcp_mux(self) -> bool:
        """RFC 5761 5.1.1 a=rtcp-mux."""
        return self.has_attribute("rtcp-mux")

    @property
    def mid(self) -> str | None:
        return self.attribute("mid")

    @property
    def setup(self) -> str | None:
        """RFC 4145 a=setup (actpass/active/passive/holdconn)."""
        return self.attribute("setup")

    @property
    def ice_ufrag(self) -> str | None:
        return self.attribute("ice-ufrag")

    @property
    def ice_pwd(self) -> str | None:
        return self.attribute("ice-pwd")

    def candidates(self) -> tuple[Candidate, ...]:
        found = []
        for value in self.attributes_named("candidate"):
            try:
                found.append(Candidate.parse(value))
            except ValueError:
                continue
        return tuple(found)

    def fingerprints(self) -> tuple[Fingerprint, ...]:
        return tuple(Fingerprint.parse(v) for v in self.attributes_named("fingerprint"))

    def with_attributes(self, attributes: Iterable[Attribute]) -> MediaDescription:
        return replace(self, attributes=tuple(attributes))

    def without_attributes(self, *names: str) -> MediaDescription:
        return replace(self, attributes=tuple(a for a in self.attributes if a.name not in names))

    def with_direction(self, direction: Direction) -> MediaDescription:
        """Replace (or add) the direction attribute, keeping its place in the list."""
        out: list[Attribute] = []
        placed = False
        for attribute in self.attributes:
            if attribute.value is None and attribute.name in DIRECTIONS:
                if not placed:
                    out.append(Attribute(direction.value))
                    placed = True
                continue
            out.append(attribute)
        if not placed:
            out.append(Attribute(direction.value))
        return replace(self, attributes=tuple(out))

    def lines(self) -> Iterator[str]:
        port = f"{self.port}/{self.port_count}" if self.port_count is not None else str(self.port)
        yield " ".join(("m=" + self.media, port, self.proto, *self.formats))
        if self.information is not None:
            yield f"i={self.information}"
        for connection in self.connections:
            yield f"c={connection}"
        for bandwidth in self.bandwidths:
            yield f"b={bandwidth}"
        if self.key is not None:
            yield f"k={self.key}"
        for attribute in self.attributes:
            yield f"a={attribute}"


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """RFC 8866 5 a whole session description."""

    origin: Origin = Origin()
    name: str = "-"
    version: int = 0
    information: str | None = None
    uri: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    connection: Connection | None = None
    bandwidths: tuple[Bandwidth, ...] = ()
    timings: tuple[Timing, ...] = (Timing(),)
    zone: str | None = None
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()
    media: tuple[MediaDescription, ...] = ()

    @classmethod
    def parse(cls, text: str | bytes) -> SessionDescription:
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        return _parse(text)

    def __str__(self) -> str:
        return "".join(line + CRLF for line in self.lines())

    def __bytes__(self) -> bytes:
        return str(self).encode()

    def lines(self) -> Iterator[str]:
        yield f"v={self.version}"
        yield f"o={self.origin}"
        yield f"s={self.name}"
        if self.information is not None:
            yield f"i={self.information}"
        if self.uri is not None:
            yield f"u={self.uri}"
        yield from (f"e={e}" for e in self.emails)
        yield from (f"p={p}" for p in self.phones)
        if self.connection is not None:
            yield f"c={self.connection}"
        yield from (f"b={b}" for b in self.bandwidths)
        for timing in self.timings:
            yield f"t={timing}"
            yield from (f"r={r}" for r in timing.repeats)
        if self.zone is not None:
            yield f"z={self.zone}"
        if self.key is not None:
            yield f"k={self.key}"
        yield from (f"a={a}" for a in self.attributes)
        for media in self.media:
            yield from media.lines()

    def attribute(self, name: str) -> str | None:
        return _first(self.attributes, name)

    def has_attribute(self, name: str) -> bool:
        return any(a.name == name for a in self.attributes)

    @property
    def direction(self) -> Direction | None:
        """The session-level direction attribute, None when absent."""
        for attribute in self.attributes:
            if attribute.value is None and attribute.name in DIRECTIONS:
                return Direction(attribute.name)
        return None

    def direction_of(self, media: MediaDescription) -> Direction:
        """RFC 8866 6.7: media-level direction, else session-level, else sendrecv."""
        return media.direction or self.direction or Direction.SENDRECV

    def connection_of(self, media: MediaDescription) -> Connection | None:
        """RFC 8866 5.7: the media-level c= overrides the session-level one."""
        return media.connection or self.connection

    def ice_ufrag_of(self, media: MediaDescription) -> str | None:
        return media.ice_ufrag or self.attribute("ice-ufrag")

    def audio(self) -> MediaDescription | None:
        """The first audio stream with a non-zero port, else the first audio stream."""
        streams = [m for m in self.media if m.media == "audio"]
        return next((m for m in streams if m.port != 0), streams[0] if streams else None)


@dataclass(slots=True)
class _MediaBuilder:
    media: str
    port: int
    port_count: int | None
    proto: str
    formats: tuple[str, ...]
    information: str | None = None
    connections: list[Connection] = field(default_factory=list)
    bandwidths: list[Bandwidth] = field(default_factory=list)
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)

    @classmethod
    def start(cls, value: str) -> _MediaBuilder:
        parts = value.split()
        if len(parts) < 3:
            raise ValueError(f"m= needs <media> <port> <proto> <fmt>...: {value!r}")
        port, _, count = parts[1].partition("/")
        if not port.isdigit() or (count and not count.isdigit()):
            raise ValueError(f"bad m= port {parts[1]!r}")
        return cls(parts[0], int(port), int(count) if count else None, parts[2], tuple(parts[3:]))

    def add(self, kind: str, value: str) -> None:
        if kind == "i":
            self.information = value
        elif kind == "c":
            self.connections.append(Connection.parse(value))
        elif kind == "b":
            self.bandwidths.append(Bandwidth.parse(value))
        elif kind == "k":
            self.key = value
        elif kind == "a":
            self.attributes.append(Attribute.parse(value))
        else:
            raise ValueError(f"{kind}= is not allowed inside a media section")

    def build(self) -> MediaDescription:
        return MediaDescription(
            media=self.media,
            port=self.port,
            proto=self.proto,
            formats=self.formats,
            port_count=self.port_count,
            information=self.information,
            connections=tuple(self.connections),
            bandwidths=tuple(self.bandwidths),
            key=self.key,
            attributes=tuple(self.attributes),
        )


@dataclass(slots=True)
class _SessionBuilder:
    origin: Origin | None = None
    name: str = "-"
    information: str | None = None
    uri: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    connection: Connection | None = None
    bandwidths: list[Bandwidth] = field(default_factory=list)
    timings: list[Timing] = field(default_factory=list)
    zone: str | None = None
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    media: list[_MediaBuilder] = field(default_factory=list)

    def add(self, kind: str, value: str) -> None:
        if kind == "m":
            self.media.append(_MediaBuilder.start(value))
        elif self.media:
            self.media[-1].add(kind, value)
        elif kind == "o":
            self.origin = Origin.parse(value)
        elif kind == "s":
            self.name = value
        elif kind == "i":
            self.information = value
        elif kind == "u":
            self.uri = value
        elif kind == "e":
            self.emails.append(value)
        elif kind == "p":
            self.phones.append(value)
        elif kind == "c":
            self.connection = Connection.parse(value)
        elif kind == "b":
            self.bandwidths.append(Bandwidth.parse(value))
        elif kind == "t":
            self.timings.append(Timing.parse(value))
        elif kind == "r":
            if not self.timings:
                raise ValueError("r= before any t=")
            last = self.timings[-1]
            self.timings[-1] = replace(last, repeats=(*last.repeats, value))
        elif kind == "z":
            self.zone = value
        elif kind == "k":
            self.key = value
        elif kind == "a":
            self.attributes.append(Attribute.parse(value))
        else:
            raise ValueError(f"unknown line type {kind}=")

    def build(self) -> SessionDescription:
        if self.origin is None:
            raise SdpError("missing o= line")
        return SessionDescription(
            origin=self.origin,
            name=self.name,
            information=self.information,
            uri=self.uri,
            emails=tuple(self.emails),
            phones=tuple(self.phones),
            connection=self.connection,
            bandwidths=tuple(self.bandwidths),
            timings=tuple(self.timings),
            zone=self.zone,
            key=self.key,
            attributes=tuple(self.attributes),
            media=tuple(m.build() for m in self.media),
        )


def _parse(text: str) -> SessionDescription:
    """Read lines; any of CRLF, LF or CR ends a line (RFC 8866 5 asks parsers to accept LF)."""
    builder: _SessionBuilder | None = None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        if len(raw) < 2 or raw[1] != "=" or not raw[0].isalpha():
            raise SdpError(f"not a <type>=<value> line: {raw!r}", number)
        kind, value = raw[0], raw[2:]
        if builder is None:
            if kind != "v":
                raise SdpError("the first line must be v=", number)
            if value.strip() != "0":
                raise SdpError(f"unsupported version v={value}", number)
            builder = _SessionBuilder()
            continue
        try:
            builder.add(kind, value)
        except ValueError as error:
            raise SdpError(str(error), number) from error
    if builder is None:
        raise SdpError("empty session description")
    return builder.build()
