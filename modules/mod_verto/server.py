"""The HTTP side of a Verto profile: the WebSocket endpoint and the browser phone, on one port.

A request that asks for a WebSocket upgrade (RFC 6455 4.2.1), on any path,
becomes a Verto connection (the Verto JS client connects to the bare
`wss://host:port`).  Any other GET serves the browser phone from `web/`: `/`
is `index.html`; only files inside that directory are served.  An address
refused for failed logins gets 403 before the upgrade.

aiohttp enforces the frame size (`max_msg_size`: a bigger message closes the
socket with 1009) and the keep-alive (`heartbeat`: a ping every `ws-ping-sec`;
no pong within half of it drops the socket, and its calls are detached).
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import hdrs, web

from .client import VertoClient
from .settings import Listen

if TYPE_CHECKING:
    from .service import VertoProfile, VertoService

log = logging.getLogger("mod_verto.server")

_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
        "style-src 'self'; script-src 'self'; media-src 'self' blob:"
    ),
}


class VertoServer:
    """One `bind-local` of a profile."""

    def __init__(
        self, service: VertoService, profile: VertoProfile, listen: Listen, context: ssl.SSLContext | None
    ) -> None:
        self.service = service
        self.profile = profile
        self.listen = listen
        self.context = context
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_route("GET", "/{path:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(
            runner, self.listen.host, self.listen.port, ssl_context=self.context, reuse_address=True
        )
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("verto profile %s listening on %s", self.profile.name, self.listen.url)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        upgrade = request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"
        if upgrade:
            return await self._websocket(request)
        return self._static(request.match_info.get("path", ""))

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        address, port = "", 0
        peer = request.transport.get_extra_info("peername") if request.transport is not None else None
        if isinstance(peer, tuple) and len(peer) >= 2:
            address, port = str(peer[0]), int(peer[1])
        now = asyncio.get_running_loop().time()
        if self.profile.guard.refused_for(address, now) > 0:
            return web.Response(status=403, text="too many failed logins\n")
        settings = self.profile.settings
        ws = web.WebSocketResponse(
            heartbeat=settings.ws_ping_sec or None,
            max_msg_size=settings.max_frame_size,
            compress=False,
            autoping=True,
        )
        await ws.prepare(request)
        client = VertoClient(self.service, self.profile, ws, address, port, self.listen.secure)
        self.service.connected(client)
        try:
            await client.run()
        finally:
            self.service.disconnected(client)
        return ws

    def _static(self, path: str) -> web.StreamResponse:
        root = self.service.www_dir.resolve()
        name = path.strip("/") or "index.html"
        target = (root / name).resolve()
        if root not in target.parents or not target.is_file():
            return web.Response(status=404, text="not found\n", headers=_HEADERS)
        content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return web.FileResponse(target, headers={**_HEADERS, hdrs.CONTENT_TYPE: content_type})


def www_files(root: Path) -> list[str]:
    """The files the browser phone is made of (for `verto status` and tests)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
