"""A Verto client for tests and benchmarks: the protocol over `websockets`, media over aiortc.

`VertoTestClient` speaks JSON-RPC the way the Verto JS client does: requests
with increasing ids, replies matched by id, and the server's own requests
(verto.invite, verto.answer, verto.bye ...) collected in order and acknowledged
with `{"result":{"method":...}}`.  `RtcPeer` plays a browser's media: it sends
a sine tone and keeps what it hears, so a test can check which tone came back.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import itertools
import json
import time
import uuid
from typing import Any

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from websockets.asyncio.client import ClientConnection, connect

Json = dict[str, Any]


class VertoTestClient:
    def __init__(self, ws: ClientConnection, sessid: str, auto_ack: bool = True) -> None:
        self.ws = ws
        self.sessid = sessid
        self.auto_ack = auto_ack
        self._ids = itertools.count(1)
        self._waiting: dict[Any, asyncio.Future[Json]] = {}
        self.requests: asyncio.Queue[Json] = asyncio.Queue()  # the server's requests, in order
        self.orphans: asyncio.Queue[Any] = asyncio.Queue()  # replies we did not wait for (id null, arrays)
        self.seen: list[Json] = []  # every server request, for schema checks
        self.closed = asyncio.Event()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, port: int, sessid: str | None = None, **kwargs: Any) -> VertoTestClient:
        ws = await connect(f"ws://127.0.0.1:{port}/", max_size=None, open_timeout=5, **kwargs)
        return cls(ws, sessid or str(uuid.uuid4()))

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                message = json.loads(text)
                if isinstance(message, list):
                    await self.orphans.put(message)
                elif "method" in message:
                    self.seen.append(message)
                    if self.auto_ack:
                        await self.ack(message)
                    await self.requests.put(message)
                else:
                    waiter = self._waiting.pop(message.get("id"), None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(message)
                    else:
                        await self.orphans.put(message)
        except Exception:
            pass
        finally:
            self.closed.set()

    async def ack(self, message: Json) -> None:
        with contextlib.suppress(Exception):
            await self.ws.send(
                json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": {"method": message["method"]}})
            )

    async def call(
        self, method: str, params: Json | None = None, timeout: float = 10.0, with_sessid: bool = True
    ) -> Json:
        """Send a request and wait for its reply (the whole message: result or error)."""
        ident = next(self._ids)
        body = dict(params or {})
        if with_sessid:
            body.setdefault("sessid", self.sessid)
        future: asyncio.Future[Json] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        await self.ws.send(json.dumps({"jsonrpc": "2.0", "method": method, "params": body, "id": ident}))
        return await asyncio.wait_for(future, timeout)

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def orphan(self, timeout: float = 5.0) -> Any:
        return await asyncio.wait_for(self.orphans.get(), timeout)

    async def login(self, user: str, password: str = "1234", domain: str = "127.0.0.1") -> Json:
        first = await self.call("login", {})
        assert first["error"]["code"] == -32000, first
        reply = await self.call(
            "login", {"login": f"{user}@{domain}", "passwd": password, "loginParams": {}, "userVariables": {}}
        )
        assert "result" in reply, reply
        return reply

    async def next_request(self, method: str | None = None, timeout: float = 10.0) -> Json:
        """The next request the server sent (skipping others when `method` is given)."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {method or 'request'} from the server")
            message = await asyncio.wait_for(self.requests.get(), left)
            if method is None or message["method"] == method:
                return message

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader


def dialog(call_id: str, destination: str = "9196", **extra: Any) -> Json:
    """The dialogParams the Verto JS client sends (the whole set, as it does)."""
    params: Json = {
        "useVideo": False,
        "useStereo": False,
        "screenShare": False,
        "useCamera": False,
        "useMic": "any",
        "useSpeak": "any",
        "tag": "webcam",
        "login": "1000@127.0.0.1",
        "videoParams": {},
        "destination_number": destination,
        "caller_id_name": "Test Browser",
        "caller_id_number": "1000",
        "callID": call_id,
        "remote_caller_id_name": "Outbound Call",
        "remote_caller_id_number": destination,
    }
    params.update(extra)
    return params


class ToneTrack(MediaStreamTrack):
    """A microphone playing a sine tone (or silence), paced by the wall clock like a browser's."""

    kind = "audio"

    def __init__(self, freq: float | None = 1000.0, rate: int = 48000, amplitude: float = 8000.0) -> None:
        super().__init__()
        self.freq = freq
        self.rate = rate
        self.amplitude = amplitude
        self._t = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._t / self.rate - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        n = self.rate // 50
        if self.freq:
            x = np.sin(2 * np.pi * self.freq * np.arange(self._t, self._t + n) / self.rate) * self.amplitude
            samples = x.astype(np.int16)
        else:
            samples = np.zeros(n, dtype=np.int16)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.rate
        frame.pts = self._t
        frame.time_base = fractions.Fraction(1, self.rate)
        self._t += n
        return frame


class RtcPeer:
    """A browser's media side: one peer connection sending a tone and recording what it hears."""

    def __init__(
        self, freq: float | None = 1000.0, codecs: tuple[str, ...] | None = None, keep_seconds: float = 5.0
    ) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.tone = ToneTrack(freq)
        self.transceiver = self.pc.addTransceiver(self.tone, direction="sendrecv")
        if codecs:
            caps = RTCRtpSender.getCapabilities("audio").codecs
            self.transceiver.setCodecPreferences(
                [c for name in codecs for c in caps if c.mimeType.lower() == f"audio/{name.lower()}"]
            )
        self.heard: list[np.ndarray] = []
        self.rate = 48000
        self.frames = 0
        self._keep = int(keep_seconds * 50)
        self._tasks: list[asyncio.Task[None]] = []
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(self._read(track)))

    async def _read(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                pcm = frame.to_ndarray().reshape(-1)
                channels = len(frame.layout.channels)
                if channels == 2:
                    pcm = pcm[0::2]
                self.rate = frame.sample_rate
                self.heard.append(pcm.astype(np.int16))
                self.frames += 1
                if len(self.heard) > self._keep:
                    del self.heard[0]

    def recent(self, seconds: float = 1.0) -> np.ndarray:
        frames = int(seconds * 50)
        return np.concatenate(self.heard[-frames:]) if self.heard else np.zeros(0, dtype=np.int16)

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def answer(self, offer_sdp: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))

    async def wait_frames(self, count: int, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while self.frames < count:
            if time.monotonic() > end:
                raise TimeoutError(f"heard {self.frames} frames, wanted {count}")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        self.tone.stop()
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
