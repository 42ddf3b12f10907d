"""The aiortc and aioice internals mod_verto relies on, all in one place.

aiortc has no public API for "give me the SRTP keys and the socket", so the
short media path (srtp_path.py) reaches into a few private attributes.  Every
such name is read here and nowhere else, and `missing()` lists the ones a
given aiortc no longer has: tests/modules/mod_verto/test_aiortc_adapter.py
runs it on a connected pair, so an aiortc upgrade that renames them fails
loudly there instead of silently in a call.

Checked against aiortc 1.16.0 / aioice 0.13.0.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, cast

import pylibsrtp
from aiortc import RTCDtlsTransport, RTCRtpReceiver, RTCRtpSender

RtcpSend = Callable[[list[Any]], Coroutine[Any, Any, None]]
RtpHandler = Callable[[Any, int], Coroutine[Any, Any, None]]


class AdapterError(RuntimeError):
    """aiortc does not look the way this adapter expects (a changed private attribute)."""


def srtp_sessions(dtls: RTCDtlsTransport) -> tuple[pylibsrtp.Session, pylibsrtp.Session]:
    """(receive, send): the SRTP sessions DTLS keyed (RFC 5764 4.2), set once it is connected."""
    rx, tx = getattr(dtls, "_rx_srtp", None), getattr(dtls, "_tx_srtp", None)
    if not isinstance(rx, pylibsrtp.Session) or not isinstance(tx, pylibsrtp.Session):
        raise AdapterError("RTCDtlsTransport has no _rx_srtp/_tx_srtp sessions")
    return rx, tx


def nominated_pair(dtls: RTCDtlsTransport) -> tuple[asyncio.DatagramTransport, tuple[str, int]]:
    """The datagram transport and remote address of ICE's nominated pair for component 1 (RTP)."""
    connection = getattr(dtls.transport, "_connection", None)
    pair = getattr(connection, "_nominated", {}).get(1)
    transport = getattr(getattr(pair, "protocol", None), "transport", None)
    if pair is None or transport is None:
        raise AdapterError("the ICE connection has no nominated pair with a transport")
    return cast(asyncio.DatagramTransport, transport), cast(tuple[str, int], pair.remote_addr)


def sender_ssrc(sender: RTCRtpSender) -> int:
    """The SSRC aiortc announced for our stream in the SDP (a=ssrc)."""
    return int(sender._ssrc)


def replace_sender_rtcp(sender: RTCRtpSender, send: RtcpSend) -> None:
    """Route the RTCP compound packets aiortc's sender builds (SR + SDES, BYE) through `send`."""
    sender._send_rtcp = send  # type: ignore[method-assign, assignment]


def divert_receiver(receiver: RTCRtpReceiver, handle: RtpHandler) -> RtpHandler:
    """Take RTP packets off the receiver before its jitter buffer; returns its own handler."""
    original = cast(RtpHandler, receiver._handle_rtp_packet)
    receiver._handle_rtp_packet = handle  # type: ignore[method-assign, assignment]
    return original


def deliver_rtcp(dtls: RTCDtlsTransport, data: bytes) -> Coroutine[Any, Any, None]:
    """Hand unprotected RTCP to aiortc's router (its statistics and RTCP BYE handling)."""
    return dtls._handle_rtcp_data(data)


def deliver_rtp(dtls: RTCDtlsTransport, data: bytes, arrival_time_ms: int) -> Coroutine[Any, Any, None]:
    """Hand unprotected RTP to aiortc's router (payload types the switch does not take)."""
    return dtls._handle_rtp_data(data, arrival_time_ms=arrival_time_ms)


def missing(dtls: RTCDtlsTransport, sender: RTCRtpSender, receiver: RTCRtpReceiver) -> list[str]:
    """The private names this module uses that these (connected) objects do not have."""
    gaps: list[str] = []
    try:
        srtp_sessions(dtls)
    except AdapterError:
        gaps.append("RTCDtlsTransport._rx_srtp/_tx_srtp")
    try:
        nominated_pair(dtls)
    except AdapterError:
        gaps.append("RTCIceTransport._connection._nominated[1].protocol.transport")
    for owner, names in (
        (dtls, ("_handle_rtcp_data", "_handle_rtp_data")),
        (sender, ("_ssrc", "_send_rtcp")),
        (receiver, ("_handle_rtp_packet",)),
    ):
        gaps += [f"{type(owner).__name__}.{name}" for name in names if not hasattr(owner, name)]
    return gaps
