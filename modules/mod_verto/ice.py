"""How aiortc is made to fit a switch: host candidates, remote candidates, telephone-event.

- Host candidates (RFC 8445 5.1.1.1): aioice gathers on every interface but
  leaves out 127.0.0.1.  A switch announces exactly its configured `rtp-ip`, so
  `restrict_host_addresses` replaces aioice's address lookup with that one
  address (process-wide; `restore_host_addresses` undoes it at unload).
- Remote candidates: a browser offers every interface it has, IPv6, mDNS
  names and TCP.  `filter_candidates` keeps the ones our `rtp-ip` can reach
  (loopback with loopback; otherwise anything but loopback), so ICE checks do
  not waste time on pairs that cannot work (FreeSWITCH's apply-candidate-acl).
- `ext-rtp-ip` (1:1 NAT): our SDP announces that address instead of `rtp-ip`.
- aiortc reads the wall clock through `datetime` for every RTP packet it sends
  and receives (abs-send-time, NTP times); `fast_clock` gives it the same
  values from `time.time()` at a fraction of the cost (process-wide, undone by
  `restore_clock`).
- RFC 4733 telephone-event: aiortc negotiates only codecs it can decode.
  `add_telephone_event` lists telephone-event/8000 and /48000 among aiortc's
  audio codecs, so browsers may send DTMF as RTP events; media.py takes those
  packets off the receive path before they reach a decoder.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Callable

import aioice.ice
import aiortc.clock
from aiortc.codecs import CODECS
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

TELEPHONE_EVENT = "audio/telephone-event"
_TE_CODECS = (
    RTCRtpCodecParameters(mimeType=TELEPHONE_EVENT, clockRate=48000, channels=1, payloadType=110),
    RTCRtpCodecParameters(mimeType=TELEPHONE_EVENT, clockRate=8000, channels=1, payloadType=101),
)
_original_host_addresses: Callable[[bool, bool], list[str]] | None = None


def restrict_host_addresses(rtp_ip: str) -> None:
    """Make aioice gather host candidates on `rtp_ip` only (unless it is a wildcard)."""
    global _original_host_addresses
    if rtp_ip in ("", "auto", "0.0.0.0", "::"):
        return
    if _original_host_addresses is None:
        _original_host_addresses = aioice.ice.get_host_addresses

    def only(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [rtp_ip]

    aioice.ice.get_host_addresses = only


def restore_host_addresses() -> None:
    global _original_host_addresses
    if _original_host_addresses is not None:
        aioice.ice.get_host_addresses = _original_host_addresses  # type: ignore[assignment]
        _original_host_addresses = None


NTP_OFFSET = 2_208_988_800  # seconds from 1900 (NTP) to 1970 (Unix), RFC 5905 figure 4
_original_clock: tuple[Callable[[], int], Callable[[], int]] | None = None


def _ntp_time() -> int:
    now = time.time() + NTP_OFFSET
    seconds = int(now)
    return (seconds << 32) | int((now - seconds) * 4294967296.0)


def _ms() -> int:
    return int((time.time() + NTP_OFFSET) * 1000)


def fast_clock() -> None:
    """Give aiortc its NTP time and milliseconds from time.time() instead of datetime arithmetic."""
    global _original_clock
    if _original_clock is None:
        _original_clock = (aiortc.clock.current_ntp_time, aiortc.clock.current_ms)
        aiortc.clock.current_ntp_time = _ntp_time
        aiortc.clock.current_ms = _ms


def restore_clock() -> None:
    global _original_clock
    if _original_clock is not None:
        aiortc.clock.current_ntp_time, aiortc.clock.current_ms = _original_clock
        _original_clock = None


def add_telephone_event() -> None:
    """List telephone-event among aiortc's audio codecs (once)."""
    audio = CODECS["audio"]
    for codec in _TE_CODECS:
        if not any(c.mimeType == codec.mimeType and c.clockRate == codec.clockRate for c in audio):
            audio.append(codec)


def _reachable(address: str, rtp_ip: str) -> bool:
    try:
        remote = ipaddress.ip_address(address)
    except ValueError:
        return False  # mDNS names (".local") and host names: not resolvable here
    try:
        local = ipaddress.ip_address(rtp_ip)
    except ValueError:
        return not remote.is_loopback
    if remote.version != local.version:
        return False
    return remote.is_loopback == local.is_loopback


_CANDIDATE = re.compile(r"^a=candidate:\S+ \d+ (\S+) \d+ (\S+) \d+ typ \S+", re.IGNORECASE)


def filter_candidates(sdp: str, rtp_ip: str) -> str:
    """The SDP without the `a=candidate` lines `rtp_ip` cannot reach (and without TCP candidates)."""
    kept: list[str] = []
    for line in sdp.splitlines():
        match = _CANDIDATE.match(line)
        if match is not None:
            transport, address = match.group(1).lower(), match.group(2)
            if transport != "udp" or not _reachable(address, rtp_ip):
                continue
        kept.append(line)
    return "\r\n".join(kept) + "\r\n"


def announce_address(sdp: str, rtp_ip: str, ext_ip: str) -> str:
    """Our SDP with `rtp_ip` replaced by `ext_ip` in `c=` and candidate lines (1:1 NAT)."""
    if not ext_ip or ext_ip == rtp_ip:
        return sdp
    out: list[str] = []
    for line in sdp.splitlines():
        if line.startswith("c=") or line.startswith("a=candidate:"):
            line = re.sub(rf"(?<![\d.]){re.escape(rtp_ip)}(?![\d.])", ext_ip, line)
        out.append(line)
    return "\r\n".join(out) + "\r\n"


_RTPMAP = re.compile(r"^a=rtpmap:(\d+) ([^/\s]+)/(\d+)", re.IGNORECASE)


def audio_codecs(sdp: str) -> list[tuple[int, str, int]]:
    """(payload type, upper-case name, clock rate) of the first audio m-line, in m-line order."""
    order: list[int] = []
    maps: dict[int, tuple[str, int]] = {}
    in_audio = False
    for line in sdp.splitlines():
        if line.startswith("m="):
            if in_audio:
                break
            parts = line[2:].split()
            in_audio = bool(parts) and parts[0] == "audio"
            if in_audio:
                order = [int(p) for p in parts[3:] if p.isdigit()]
            continue
        if in_audio:
            match = _RTPMAP.match(line)
            if match is not None:
                maps[int(match.group(1))] = (match.group(2).upper(), int(match.group(3)))
    return [(pt, *maps[pt]) for pt in order if pt in maps]


MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
_EXTMAP = re.compile(r"^a=extmap:(\d+)(?:/\S+)? (\S+)", re.IGNORECASE)


def mid_extension_id(sdp: str) -> tuple[int, str] | None:
    """(extension id, MID) when the first audio m-line negotiated the RFC 8843 15.2 MID extension."""
    in_audio = False
    ext_id: int | None = None
    mid: str | None = None
    for line in sdp.splitlines():
        if line.startswith("m="):
            if in_audio:
                break
            in_audio = line[2:].startswith("audio ")
        elif in_audio:
            match = _EXTMAP.match(line)
            if match is not None and match.group(2) == MID_URI:
                ext_id = int(match.group(1))
            elif line.startswith("a=mid:"):
                mid = line[6:].strip()
    return (ext_id, mid) if ext_id is not None and mid else None


def telephone_event_pts(*sdps: str) -> frozenset[int]:
    return frozenset(pt for sdp in sdps for pt, name, _ in audio_codecs(sdp) if name == "TELEPHONE-EVENT")


def first_codec(sdp: str) -> tuple[str, int] | None:
    """The codec the answer chose: the first non-DTMF, non-comfort-noise payload of the audio m-line."""
    for _, name, rate in audio_codecs(sdp):
        if name not in ("TELEPHONE-EVENT", "CN", "RED"):
            return name, rate
    return None
