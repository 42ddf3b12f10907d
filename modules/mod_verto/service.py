"""mod_verto at run time: profiles and their servers, logged-in browsers, the method table.

One `VertoService` exists per loaded module.  It owns the profiles read from
verto.conf (each with its listeners and failed-login guard), the browsers that
are logged in (by sessid), the calls (`VertoCalls`) and the event channels.
`dispatch` is the method table: every request a browser sends passes its
connection's gate (login first, then `jsonrpc-allowed-methods`) and runs one
handler, whose result becomes the reply (with `sessid` added) or whose
`RpcError` becomes the error reply.

Login (mod_verto.c check_auth, login_func): -32000 until credentials come; the
same -32001 for an unknown user and a wrong password, after a delay that grows
with each failure from the address, which is then refused for a while; a good
login takes the sessid (a live socket of the same user holding it is punted
with `verto.punt`; another user gets -32001 "Session in use"), fires
`verto::login`, re-attaches the sessid's detached calls (`verto.attach`) and
sends `verto.clientReady` listing them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from switchcore.causes import HangupCause
from switchcore.events import Event

from . import events as ev
from .calls import VertoCalls
from .client import CLOSE_NORMAL, VertoClient
from .events import EventChannels, channel_event, channel_list
from .guard import LoginGuard
from .ice import (
    add_telephone_event,
    fast_clock,
    restore_clock,
    restore_host_addresses,
    restrict_host_addresses,
)
from .protocol import (
    CLOSE_POLICY,
    AuthPolicy,
    Code,
    ConnEvent,
    ConnState,
    Json,
    Reply,
    Request,
    RpcError,
    authenticate,
    error_reply,
    parse_login,
    result_reply,
)
from .settings import ProfileSettings, VertoSettings

if TYPE_CHECKING:
    from switchcore.core import Switch

    from .server import VertoServer

log = logging.getLogger("mod_verto")

Handler = Callable[[VertoClient, Json], Awaitable[Json]]
WWW_DIR = Path(__file__).resolve().parent / "web"
LIVE_ARRAY_NAME = re.compile(r"[A-Za-z0-9@._-]{1,128}")


@dataclass(slots=True)
class VertoProfile:
    """A profile at run time: its settings, its listeners and its failed-login guard."""

    settings: ProfileSettings
    guard: LoginGuard
    servers: list[VertoServer] = field(default_factory=list)
    running: bool = False

    @property
    def name(self) -> str:
        return self.settings.name


class VertoService:
    """Everything mod_verto runs for one switch."""

    def __init__(self, switch: Switch, settings: VertoSettings, www_dir: Path = WWW_DIR) -> None:
        self.switch = switch
        self.settings = settings
        self.www_dir = www_dir
        self.profiles = [
            VertoProfile(
                p,
                LoginGuard(p.auth_delay_after, p.auth_ban_after, p.auth_ban_seconds),
            )
            for p in settings.profiles
        ]
        self.sockets: set[VertoClient] = set()
        self.clients: dict[str, VertoClient] = {}  # logged-in sockets by sessid
        self.calls = VertoCalls(self)
        self.channels = EventChannels()
        self.logins_ok = 0
        self.logins_failed = 0
        self._unlisten: Callable[[], None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self.handlers: dict[str, Handler] = {
            "login": self._login,
            "echo": self._echo,
            "jsapi": self._jsapi,
            "verto.ping": self._ping,
            "verto.invite": self.calls.invite,
            "verto.answer": self.calls.answer,
            "verto.bye": self.calls.bye,
            "verto.info": self.calls.info,
            "verto.modify": self.calls.modify,
            "verto.attach": self.calls.attach,
            "verto.subscribe": self._subscribe,
            "verto.unsubscribe": self._unsubscribe,
            "verto.broadcast": self._broadcast,
        }

    # ---- life cycle --------------------------------------------------------------------------

    async def start(self) -> list[str]:
        """Listen on every profile's bindings; returns listener descriptions ("verto ws 127.0.0.1:8081")."""
        from .server import VertoServer

        add_telephone_event()
        fast_clock()
        if self.profiles:
            restrict_host_addresses(self.profiles[0].settings.rtp_ip)
        listeners: list[str] = []
        for profile in self.profiles:
            for listen in profile.settings.listen:
                context = self._ssl_context(profile.settings) if listen.secure else None
                if listen.secure and context is None:
                    log.error(
                        "verto profile %s: wss on %s:%d needs secure-combined",
                        profile.name,
                        listen.host,
                        listen.port,
                    )
                    continue
                server = VertoServer(self, profile, listen, context)
                await server.start()
                profile.servers.append(server)
                listeners.append(f"verto {'wss' if listen.secure else 'ws'} {listen.host}:{listen.port}")
            profile.running = bool(profile.servers)
        self._unlisten = self.switch.events.listen(self._on_event, names=("CHANNEL_BRIDGE", "CUSTOM"))
        return listeners

    @staticmethod
    def _ssl_context(settings: ProfileSettings) -> ssl.SSLContext | None:
        if not settings.secure_combined:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(settings.secure_combined)
        if settings.secure_chain:
            context.load_verify_locations(settings.secure_chain)
        return context

    async def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        await self.calls.hangup_all(HangupCause.SYSTEM_SHUTDOWN)
        for client in list(self.sockets):
            await client.close(1001, "switch shutting down")
        for profile in self.profiles:
            for server in profile.servers:
                await server.stop()
            profile.servers.clear()
            profile.running = False
        if self._background:
            await asyncio.wait(list(self._background), timeout=2)
        restore_host_addresses()
        restore_clock()

    def background(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run `work` on its own, keeping a reference until it ends (asyncio keeps only weak ones)."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ---- sockets -----------------------------------------------------------------------------

    def client(self, sessid: str) -> VertoClient | None:
        return self.clients.get(sessid)

    def contacts(self, uid: str) -> list[VertoClient]:
        """Logged-in sockets of `user@domain` (domain compared without case)."""
        user, _, domain = uid.partition("@")
        found = []
        for client in self.clients.values():
            login = client.connection.login
            if client.logged_in and login.user_id == user and login.domain.lower() == domain.lower():
                found.append(client)
        return found

    def connected(self, client: VertoClient) -> None:
        self.sockets.add(client)
        ev.fire(
            self.switch,
            ev.CLIENT_CONNECT,
            verto_profile_name=client.profile.name,
            verto_client_address=client.name,
        )

    def disconnected(self, client: VertoClient) -> None:
        """The socket is gone: forget it; its calls are detached unless another socket took its sessid."""
        self.sockets.discard(client)
        self.channels.drop(client)
        was = client.connection.state
        if was is not ConnState.CLOSED:
            client.connection.handle(ConnEvent.CLOSE)
        if was is ConnState.LOGGED_IN and self.clients.get(client.sessid) is client:
            del self.clients[client.sessid]
            self.calls.detach_owner(client.sessid, asyncio.get_running_loop().time())
        headers = {"verto_profile_name": client.profile.name, "verto_client_address": client.name}
        if client.uid:
            headers["verto_login"] = client.uid
            headers["verto_sessid"] = client.sessid
        ev.fire(self.switch, ev.CLIENT_DISCONNECT, **headers)

    # ---- requests ----------------------------------------------------------------------------

    async def dispatch(self, client: VertoClient, req: Request) -> Json | None:
        refused = client.connection.gate(req)
        if refused is not None:
            return error_reply(req.id, refused.code, refused.message)
        handler = self.handlers.get(req.method)
        if handler is None:
            return error_reply(req.id, Code.METHOD_NOT_FOUND)
        try:
            result = await handler(client, req.params)
        except RpcError as exc:
            return {"jsonrpc": "2.0", "id": req.id, "error": exc.error_object()}
        echo = req.params.get("echoParams")
        if echo is True or (isinstance(echo, str) and echo.lower() in ("true", "yes", "1")):
            result["requestParams"] = req.params
        elif echo is not None and echo is not False:
            result["requestParams"] = echo
        return result_reply(req.id, result, client.sessid)

    def on_reply(self, client: VertoClient, reply: Reply) -> None:
        """The browser answered one of our requests."""
        ours = client.connection.take_reply(reply)
        if ours is None:
            return
        method, call_id = ours
        if reply.error is not None:
            log.info("%s answered %s for %s with an error: %s", client.name, method, call_id, reply.error)
            if method == "verto.invite":
                self.calls.invite_refused(client, call_id)

    # ---- login -------------------------------------------------------------------------------

    async def _login(self, client: VertoClient, params: Json) -> Json:
        if client.logged_in:
            login = params.get("login")
            if login is not None and login not in (client.uid, client.connection.login.user_id):
                raise RpcError(Code.AUTH_FAILED)
            return {"message": "logged in"}
        profile = client.profile
        loop = asyncio.get_running_loop()
        if profile.guard.refused_for(client.address, loop.time()) > 0:
            client.after_reply(lambda: client.close(CLOSE_POLICY, "too many failed logins"))
            raise RpcError(Code.AUTH_FAILED)
        login_text = params.get("login") if isinstance(params.get("login"), str) else ""
        try:
            request = parse_login(params)
            settings = profile.settings
            policy = AuthPolicy(
                settings.userauth,
                settings.force_register_domain,
                self.switch.global_vars.get("domain", ""),
                settings.blind_reg,
                settings.root_password,
            )
            result = authenticate(request, self.switch.directory.user, policy)
        except RpcError as exc:
            if exc.code is not Code.AUTH_FAILED:
                raise
            result = None
        if result is None or not result.ok:
            return await self._login_failed(client, str(login_text))
        profile.guard.succeeded(client.address)
        holder = self.clients.get(request.sessid)
        held_by = self.calls.owner_uid(request.sessid)
        if (holder is not None and holder is not client and holder.uid != result.uid) or (
            held_by and held_by != result.uid
        ):
            ev.fire_login(
                self.switch, profile.name, client.name, str(login_text), "", False, "Session in use"
            )
            raise RpcError(Code.AUTH_FAILED, "Session in use")
        client.connection.logged_in_as(result, request.sessid)
        self.clients[request.sessid] = client
        self.logins_ok += 1
        if holder is not None and holder is not client:
            self._punt(holder)
        ev.fire_login(
            self.switch, profile.name, client.name, str(login_text), request.sessid, True, "Logged in"
        )
        client.after_reply(lambda: self._client_ready(client))
        return {"message": "logged in"}

    async def _login_failed(self, client: VertoClient, login: str) -> Json:
        self.logins_failed += 1
        verdict = client.profile.guard.failed(client.address, asyncio.get_running_loop().time())
        ev.fire_login(
            self.switch, client.profile.name, client.name, login, "", False, "Authentication Failure"
        )
        if verdict.delay:
            await asyncio.sleep(verdict.delay)
        if verdict.banned:
            log.warning(
                "%s: too many failed logins, refused for %ss",
                client.address,
                client.profile.guard.ban_seconds,
            )
            client.after_reply(lambda: client.close(CLOSE_POLICY, "too many failed logins"))
        raise RpcError(Code.AUTH_FAILED)

    def _punt(self, old: VertoClient) -> None:
        """A new socket took `old`'s sessid: tell it (verto.punt) and close it; its calls follow the sessid."""
        log.info("%s punted: sessid %s logged in again elsewhere", old.name, old.sessid)
        old.request("verto.punt", {})
        old.connection.handle(ConnEvent.PUNT)
        self.calls.detach_owner(old.sessid, asyncio.get_running_loop().time())
        self.background(old.close(CLOSE_NORMAL, "punted"))

    async def _client_ready(self, client: VertoClient) -> None:
        reattached = await self.calls.reattach_owner(client)
        client.request("verto.clientReady", {"reattached_sessions": reattached})

    # ---- small methods -----------------------------------------------------------------------

    async def _echo(self, client: VertoClient, params: Json) -> Json:
        return dict(params)

    async def _ping(self, client: VertoClient, params: Json) -> Json:
        return {"message": "PONG"}

    async def _jsapi(self, client: VertoClient, params: Json) -> Json:
        """Only commands in `jsonrpc-allowed-jsapi`, and only `mediaStats` of the caller's own calls."""
        command = params.get("command")
        if not isinstance(command, str) or command not in client.connection.login.permissions.jsapi:
            raise RpcError(Code.INVALID_PARAMS, "Permission Denied")
        if command != "mediaStats":
            raise RpcError(Code.INVALID_PARAMS, "Permission Denied")
        data = params.get("data")
        call_id = data.get("uuid") if isinstance(data, dict) else None
        call = self.calls.by_id.get(call_id) if isinstance(call_id, str) else None
        if call is None or call.owner != client.sessid:
            raise RpcError(Code.SESSION_ERROR, "CALL DOES NOT EXIST")
        media = call.driver.media
        return {
            "uuid": call.call_id,
            "codec": call.driver.read_codec,
            "rate": call.driver.rate,
            "framesIn": media.frames_in if media is not None else 0,
            "framesOut": media.track.frames_sent if media is not None else 0,
            "state": media.connection_state if media is not None else "none",
        }

    # ---- event channels ----------------------------------------------------------------------

    def _may_use(self, client: VertoClient, channel: str) -> bool:
        """Its own sessid, its calls' uuids and channels a conference opened to it; otherwise the
        user's jsonrpc-allowed-event-channels."""
        if channel == client.sessid or channel in client.granted_channels:
            return True
        call = self.calls.by_id.get(channel)
        if call is not None and call.owner == client.sessid:
            return True
        main = channel.partition(".")[0]
        if not self.settings.enable_fs_events and main.lower() == "fsevent":
            return False
        return client.connection.login.permissions.allows_channel(channel)

    async def _subscribe(self, client: VertoClient, params: Json) -> Json:
        names = channel_list(params.get("eventChannel"))
        if names is None:
            raise RpcError(Code.INVALID_PARAMS, "eventChannel must be a string or an array of strings")
        result = self.channels.subscribe(client, names, lambda c: self._may_use(client, c))
        if not result.subscribed and not result.already:
            raise RpcError(Code.SESSION_ERROR, "Permission Denied", **result.as_result())
        return result.as_result()

    async def _unsubscribe(self, client: VertoClient, params: Json) -> Json:
        names = channel_list(params.get("eventChannel"))
        if names is None:
            raise RpcError(Code.INVALID_PARAMS, "eventChannel must be a string or an array of strings")
        done, missing = self.channels.unsubscribe(client, names)
        out: Json = {}
        if done:
            out["unsubscribedChannels"] = done
        if missing:
            out["notSubscribedChannels"] = missing
        if missing and not done:
            raise RpcError(Code.SESSION_ERROR, "Not subscribed", **out)
        return out

    async def _broadcast(self, client: VertoClient, params: Json) -> Json:
        channel = params.get("eventChannel")
        if not isinstance(channel, str) or not channel:
            raise RpcError(Code.SESSION_ERROR, "eventChannel not specified.")
        if not self._may_use(client, channel):
            raise RpcError(Code.SESSION_ERROR, "Permission Denied.")
        event = {k: v for k, v in params.items() if k not in ("sessid", "echoParams")}
        event["userid"] = client.uid
        event["sessid"] = client.sessid
        login = client.connection.login
        display = login.user.variable("effective_caller_id_name") if login.user is not None else None
        if display:
            event["fromDisplay"] = display
        data = params.get("data")
        command = data.get("liveArray") if isinstance(data, dict) else None
        if isinstance(command, dict):
            # A live-array command (bootstrap) is for the switch, not for the other subscribers.
            await self._live_array(client, channel, command)
            delivered = 0
        else:
            delivered = self.deliver(channel, event)
        # Modules that own channels (conference chat and moderator controls) hear browsers here.
        ev.fire_client_broadcast(self.switch, channel, client.uid, client.sessid, event)
        return {"message": "SENT", "eventChannel": channel, "delivered": delivered}

    async def _live_array(self, client: VertoClient, channel: str, command: Json) -> None:
        """`bootstrap`: the room's current rows, for this browser only (switch_live_array_bootstrap),
        asked of mod_conference through its API (`conference <room> la_bootstrap <sessid>`)."""
        name = command.get("name")
        if (
            command.get("command") != "bootstrap"
            or not isinstance(name, str)
            or not LIVE_ARRAY_NAME.fullmatch(name)
        ):
            return
        reply = await self.switch.api(f"conference {name} la_bootstrap {client.sessid}")
        try:
            message = json.loads(reply)
        except ValueError:
            log.info("live array %s: no bootstrap (%s)", name, reply.strip()[:80])
            return
        if isinstance(message, dict) and isinstance(message.get("data"), dict):
            client.request(
                "verto.event", {"eventChannel": message.get("eventChannel", channel), "data": message["data"]}
            )

    def deliver(self, channel: str, event: Json) -> int:
        """Send `verto.event` for `channel`.

        A channel that is a logged-in sessid, or the uuid of a Verto call, goes to
        that one socket without any subscription (mod_verto.c jsock_send_event: the
        implicit channel of a connection or session); any other goes to the
        channel's subscribers and its main channel's.
        """
        direct = self.clients.get(channel)
        call = self.calls.by_id.get(channel)
        if direct is None and call is not None and call.owner:
            direct = self.clients.get(call.owner)
        if direct is not None:
            self._grant(direct, event.get("pvtData"))
            direct.request("verto.event", dict(event))
            return 1
        count = 0
        for who, params in self.channels.deliveries(channel, event):
            if isinstance(who, VertoClient):
                who.request("verto.event", params)
                count += 1
        return count

    @staticmethod
    def _grant(client: VertoClient, pvt: Any) -> None:
        """A conference join opens its channels to this socket; leaving closes them again (FreeSWITCH's
        conference does this with switch_event_channel_permission_modify)."""
        if not isinstance(pvt, dict):
            return
        names = [pvt.get(key) for key in ("laChannel", "chatChannel", "infoChannel", "modChannel")]
        channels = {name for name in names if isinstance(name, str) and name}
        if pvt.get("action") == "conference-liveArray-join":
            client.granted_channels |= channels
        elif pvt.get("action") == "conference-liveArray-part":
            client.granted_channels -= channels

    def _on_event(self, event: Event) -> None:
        if event.name == "CHANNEL_BRIDGE":
            self.calls.on_bridge(event)
            return
        channel = ev.broadcast_target(event)
        if channel is None:
            return
        try:
            body: Any = json.loads(event.body) if event.body else {}
        except ValueError:
            log.warning("verto::broadcast for %s with a body that is not JSON", channel)
            return
        self.deliver(channel, channel_event(channel, body, event.get("Event-Channel-Type")))
