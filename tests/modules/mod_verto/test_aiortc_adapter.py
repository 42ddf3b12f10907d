"""Fails loudly when aiortc no longer has the private attributes the short media path relies on.

Two aiortc peer connections are connected over 127.0.0.1; the adapter must
find, on the real objects, the SRTP sessions, the nominated pair's socket,
the sender's SSRC and the hooks it replaces.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pylibsrtp
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from modules.mod_verto.aiortc_adapter import (
    AdapterError,
    missing,
    nominated_pair,
    sender_ssrc,
    srtp_sessions,
)
from modules.mod_verto.ice import restore_host_addresses, restrict_host_addresses

from .verto_client import ToneTrack


@pytest.fixture
async def connected() -> AsyncIterator[tuple[RTCPeerConnection, RTCPeerConnection]]:
    restrict_host_addresses("127.0.0.1")
    offerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    answerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        offerer.addTransceiver(ToneTrack(), direction="sendrecv")
        await offerer.setLocalDescription(await offerer.createOffer())
        await answerer.setRemoteDescription(RTCSessionDescription(offerer.localDescription.sdp, "offer"))
        answerer.addTrack(ToneTrack(500.0))
        await answerer.setLocalDescription(await answerer.createAnswer())
        await offerer.setRemoteDescription(RTCSessionDescription(answerer.localDescription.sdp, "answer"))
        end = time.monotonic() + 10
        while "connected" not in (offerer.connectionState, answerer.connectionState) or (
            offerer.connectionState != answerer.connectionState
        ):
            assert time.monotonic() < end, "aiortc peers did not connect"
            await asyncio.sleep(0.05)
        yield offerer, answerer
    finally:
        await offerer.close()
        await answerer.close()
        restore_host_addresses()


async def test_every_private_name_the_media_path_uses_is_there_on_a_connected_pair(connected):
    for pc in connected:
        (transceiver,) = pc.getTransceivers()
        dtls = transceiver.sender.transport
        assert missing(dtls, transceiver.sender, transceiver.receiver) == []


async def test_the_adapter_finds_the_srtp_sessions_socket_and_announced_ssrc(connected):
    offerer, answerer = connected
    (transceiver,) = answerer.getTransceivers()
    dtls = transceiver.sender.transport
    rx, tx = srtp_sessions(dtls)
    assert isinstance(rx, pylibsrtp.Session) and isinstance(tx, pylibsrtp.Session) and rx is not tx
    transport, remote = nominated_pair(dtls)
    assert transport.get_extra_info("sockname")[0] == "127.0.0.1"
    (other,) = offerer.getTransceivers()
    other_socket, _ = nominated_pair(other.sender.transport)
    assert remote == other_socket.get_extra_info("sockname")[:2]
    ssrc = sender_ssrc(transceiver.sender)
    assert f"a=ssrc:{ssrc} " in answerer.localDescription.sdp


async def test_a_transport_that_never_connected_is_reported_not_guessed():
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        transceiver = pc.addTransceiver("audio")
        dtls = transceiver.sender.transport
        with pytest.raises(AdapterError):
            srtp_sessions(dtls)
        with pytest.raises(AdapterError):
            nominated_pair(dtls)
        assert missing(dtls, transceiver.sender, transceiver.receiver) == [
            "RTCDtlsTransport._rx_srtp/_tx_srtp",
            "RTCIceTransport._connection._nominated[1].protocol.transport",
        ]
    finally:
        await pc.close()
