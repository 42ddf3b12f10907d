"""One browser's WebSocket: the thin I/O adapter around a protocol `Connection`.

Reading: each text frame goes through `parse_frame`; its requests run one at a
time, in order, and the replies go back as one message (or one array for a
batch).  A frame over a limit closes this socket only (1009).  No handler ever
waits for the browser's answer to one of our requests, so a reader that is busy
with a request can never deadlock against the browser.

Writing: everything we send goes through one bounded queue and one writer
task, so replies, call signalling and events keep their order, and a browser
that stops reading is dropped (its calls detached) instead of growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from .protocol import (
    CLOSE_POLICY,
    Code,
    Connection,
    FrameRejected,
    Json,
    Limits,
    Rejected,
    Reply,
    Request,
    encode,
    error_reply,
    parse_frame,
)

if TYPE_CHECKING:
    from .service import VertoProfile, VertoService

log = logging.getLogger("mod_verto.client")

CLOSE_GOING_AWAY = 1001  # RFC 6455 7.4.1
CLOSE_NORMAL = 1000


class VertoClient:
    """A connected browser (logged in or not)."""

    def __init__(
        self,
        service: VertoService,
        profile: VertoProfile,
        ws: web.WebSocketResponse,
        address: str,
        port: int,
        secure: bool,
    ) -> None:
        self.service = service
        self.profile = profile
        self.ws = ws
        self.address = address
        self.port = port
        self.secure = secure
        self.connection = Connection(f"{address}:{port}")
        settings = profile.settings
        self.limits = Limits(settings.max_frame_size, settings.max_json_depth, settings.max_batch_size)
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(settings.max_queue)
        self._after: list[Callable[[], Awaitable[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.messages_in = 0
        self.messages_out = 0
        self.dropped = False
        self.granted_channels: set[str] = set()  # opened by a conference join (see service._grant)

    def __repr__(self) -> str:
        return f"<VertoClient {self.name} {self.connection.state.value} {self.sessid}>"

    @property
    def name(self) -> str:
        return f"{self.address}:{self.port}"

    @property
    def sessid(self) -> str:
        return self.connection.sessid

    @property
    def uid(self) -> str:
        return self.connection.uid

    @property
    def logged_in(self) -> bool:
        return self.connection.logged_in

    # ---- sending -----------------------------------------------------------------------------

    def send(self, message: Json | list[Json]) -> None:
        """Queue one message; a browser that lets `max-queue` messages pile up is dropped."""
        if self.close_code is not None:
            return
        text = encode(message)
        if self.service.settings.debug or self.profile.settings.debug:
            log.info("WRITE %s %s", self.name, text)
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("%s does not read its messages: dropping it", self.name)
            self.dropped = True
            self.abort(CLOSE_POLICY, "too many unread messages")

    def request(self, method: str, params: Json, call_id: str = "") -> None:
        """Send a request of ours (verto.invite, verto.bye ...); its reply is matched by id later."""
        self.send(self.connection.new_request(method, params, call_id))

    def after_reply(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work` once the replies of the frame being handled are queued (clientReady after login)."""
        self._after.append(work)

    async def _write(self) -> None:
        while True:
            text = await self._queue.get()
            if text is None:
                return
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return
            self.messages_out += 1

    def abort(self, code: int, reason: str) -> None:
        """Close this socket soon (from synchronous code)."""
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
            self.service.background(self._close_now(code, reason))

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "", flush: bool = True) -> None:
        """Close after what is queued has gone out (when `flush`)."""
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        if flush and self._writer is not None and not self._writer.done():
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._writer), 2.0)
        await self._close_now(code, reason)

    async def _close_now(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, message=reason.encode()[:120])

    # ---- reading -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the socket until it closes."""
        self._writer = asyncio.get_running_loop().create_task(self._write())
        timer = self._login_timer()
        try:
            async for message in self.ws:
                if message.type is WSMsgType.TEXT or message.type is WSMsgType.BINARY:
                    await self.on_frame(message.data)
                else:
                    break
                if self.close_code is not None:
                    break
        finally:
            if timer is not None:
                timer.cancel()
            if self.ws.close_code is not None and self.close_code is None:
                self.close_code = self.ws.close_code
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await writer

    def _login_timer(self) -> asyncio.TimerHandle | None:
        timeout = self.profile.settings.login_timeout_sec
        if not timeout:
            return None

        def expire() -> None:
            if not self.logged_in and self.close_code is None:
                log.info("%s did not log in within %ss", self.name, timeout)
                self.abort(CLOSE_POLICY, "login timeout")

        return asyncio.get_running_loop().call_later(timeout, expire)

    async def on_frame(self, data: str | bytes) -> None:
        self.messages_in += 1
        if self.service.settings.debug or self.profile.settings.debug:
            log.info("READ %s %s", self.name, data if isinstance(data, str) else f"<{len(data)} bytes>")
        try:
            incoming = parse_frame(data, self.limits)
        except FrameRejected as exc:
            log.warning("%s: %s; closing it", self.name, exc.reason)
            await self.close(exc.close_code, exc.reason, flush=False)
            return
        replies: list[Json] = []
        for message in incoming.messages:
            if isinstance(message, Rejected):
                replies.append(message.reply())
            elif isinstance(message, Reply):
                self.service.on_reply(self, message)
            elif isinstance(message, Request):
                reply = await self._dispatch(message)
                if reply is not None and not message.notification:
                    replies.append(reply)
        if replies:
            self.send(replies if incoming.batch else replies[0])
        after, self._after = self._after, []
        for work in after:
            await work()

    async def _dispatch(self, message: Request) -> Json | None:
        try:
            return await self.service.dispatch(self, message)
        except Exception:
            log.exception("%s: %s failed", self.name, message.method)
            return error_reply(message.id, Code.SESSION_ERROR, "Internal error")
