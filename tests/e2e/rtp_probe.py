"""A tiny RTP endpoint for end-to-end tests: sends a PCMU tone, keeps what comes back.

sipp signals the call and puts this socket's port in its SDP (`-key rtp_port`);
the probe waits for the switch's first packet (which tells it where the switch's
RTP socket is), then streams a mu-law sine there every 20 ms and records every
PCMU payload it receives, so a test can check the tone that came back.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

import numpy as np

from tests.peers.audio import Samples, linear_to_ulaw, sine, ulaw_to_linear

PCMU = 0


class RtpProbe:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.settimeout(0.2)
        self.port = port
        self.remote: tuple[str, int] | None = None
        self.received: list[tuple[float, int, int, bytes]] = []  # (arrival, pt, seq, payload)
        self.sent = 0
        self._stop = threading.Event()
        self._got_first = threading.Event()
        self._reader = threading.Thread(target=self._read, name=f"rtp-probe-{port}", daemon=True)
        self._reader.start()
        self._sender: threading.Thread | None = None

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(data) < 12 or data[0] & 0xC0 != 0x80:
                continue
            if self.remote is None:
                self.remote = addr
                self._got_first.set()
            seq = struct.unpack_from("!H", data, 2)[0]
            self.received.append((time.monotonic(), data[1] & 0x7F, seq, data[12:]))

    def wait_first_packet(self, timeout: float = 5.0) -> tuple[str, int]:
        if not self._got_first.wait(timeout):
            raise AssertionError(f"no RTP from the switch on port {self.port} within {timeout} s")
        assert self.remote is not None
        return self.remote

    def play_tone(self, freq: float, seconds: float, amplitude: float = 10000) -> None:
        """Send `seconds` of a PCMU sine to the address the switch sends from, paced at 20 ms, in the background."""
        remote = self.wait_first_packet()
        payload = linear_to_ulaw(sine(freq, seconds, 8000, amplitude))

        def run() -> None:
            ssrc = 0x7E57_0001
            start = time.monotonic()
            for index in range(len(payload) // 160):
                if self._stop.is_set():
                    return
                delay = start + index * 0.02 - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                header = struct.pack("!BBHII", 0x80, PCMU, index & 0xFFFF, index * 160, ssrc)
                try:
                    self.sock.sendto(header + payload[index * 160 : (index + 1) * 160], remote)
                except OSError:
                    return
                self.sent += 1

        self._sender = threading.Thread(target=run, name=f"rtp-probe-send-{self.port}", daemon=True)
        self._sender.start()

    def audio_since(self, since: float) -> Samples:
        """The PCMU received after `since` (time.monotonic()), decoded, in arrival order."""
        chunks = [payload for arrival, pt, _, payload in self.received if pt == PCMU and arrival >= since]
        if not chunks:
            return np.zeros(0)
        return ulaw_to_linear(b"".join(chunks))

    def close(self) -> None:
        self._stop.set()
        if self._sender is not None:
            self._sender.join(2)
        self._reader.join(2)
        self.sock.close()

    def __enter__(self) -> RtpProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
