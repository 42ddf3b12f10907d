"""The `socket` dialplan application: hand a call to a call-control server (outbound event socket).

`socket <host>[:<port>][/<path>] [async] [full]` connects to the server (port
8084 by default), which sends `connect` and gets the call's channel data, then
drives the call with `sendmsg` (no uuid needed), `myevents`, `linger` ...
(mod_event_socket.c socket_function).

static (the default): this application runs the server's messages itself and
answers each `sendmsg` once its application has finished; when the server
closes the socket, the dialplan goes on with its next action.
async: `sendmsg` is answered at once and its application queued; the call is
parked meanwhile, and stays parked when the socket closes unless the server
sent `resume`.
Without `full` only the call's own commands are allowed (FreeSWITCH's
single-channel control).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from switchcore.eslwire import DISCONNECT_GOODBYE
from switchcore.session import Session
from switchcore.states import ChannelState

from .control import InlineRunner
from .declaration import module, running

log = logging.getLogger("mod_event_socket")

DEFAULT_PORT = 8084
CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class SocketTarget:
    host: str
    port: int = DEFAULT_PORT
    path: str = ""
    async_mode: bool = False
    full: bool = False


def parse_target(arg: str) -> SocketTarget | None:
    """`127.0.0.1:8084 async full`, `[::1]:8084`, `host:port/path`; None without a host."""
    words = arg.split()
    if not words:
        return None
    target, flags = words[0], {w.lower() for w in words[1:]}
    path = ""
    host, sep, port_text = target.rpartition(":")
    if not sep or "]" in port_text:
        host, port_text = target, ""
    if "/" in (port_text or host):
        if port_text:
            port_text, _, path = port_text.partition("/")
        else:
            host, _, path = host.partition("/")
    host = host.strip("[]")
    if not host:
        return None
    port = int(port_text) if port_text.isdigit() else DEFAULT_PORT
    return SocketTarget(host, port, path, "async" in flags, "full" in flags)


@module.application("socket", "Connect to an outbound event socket", "<ip>[:<port>] [async] [full]")
async def socket_app(session: Session, arg: str) -> None:
    hub = running.get(session.switch)
    target = parse_target(arg)
    if hub is None or target is None:
        log.error("[%s] socket: %s", session.uuid, "mod_event_socket is not running" if hub is None else "Missing Host!")
        return
    session.set_var("socket_host", target.host)
    if target.path:
        session.set_var("socket_path", target.path)
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(target.host, target.port), CONNECT_TIMEOUT
        )
    except (OSError, TimeoutError) as exc:
        log.error("[%s] socket: cannot connect to %s:%d: %s", session.uuid, target.host, target.port, exc)
        return
    conn = hub.outbound(reader, writer, session, target.full, target.async_mode)
    runner = InlineRunner(session)
    hub.control.attach(session.uuid, runner)
    try:
        if target.async_mode and not session.hungup:
            session.set_state(ChannelState.PARK)
            session.fire("CHANNEL_PARK")
        await runner.serve(conn.closed.wait())
        if target.async_mode and not conn.state.resume and not session.hungup:
            # The server went away without `resume`: the call stays parked until hung up.
            await runner.serve(asyncio.get_running_loop().create_future())
    finally:
        hub.control.detach(session.uuid)
        # A hung-up call's socket is closed by the connection itself, after its last reply
        # (and after lingering); one whose call goes on elsewhere (a transfer) is closed here.
        if not session.hungup and not conn.closed.is_set():
            await conn.close(DISCONNECT_GOODBYE)
