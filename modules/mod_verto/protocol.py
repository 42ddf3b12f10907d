"""The Verto protocol core: JSON-RPC 2.0 frames, login, permissions and one connection's state (no I/O).

Theory of operation.  Verto is JSON-RPC 2.0 over WebSocket (JSON-RPC 2.0
specification; FreeSWITCH mod_verto.c `process_input`/`process_jrpc`).  Each
text frame holds one message or a batch (an array).  `parse_frame` turns a
frame into values: `Request` (a method call from the browser), `Reply` (the
browser's answer to one of our requests) and `Rejected` (an element we answer
with an error without running anything).  A frame that breaks a limit (size,
nesting depth, batch length) raises `FrameRejected`: the transport closes that
connection only, with WebSocket close code 1009 (RFC 6455 7.4.1 "message too
big").

A connection starts OPEN: only `login` is served (anything else gets -32000
"Authentication Required", as FreeSWITCH's check_auth).  A good login moves it
to LOGGED_IN, where each method is checked against the user's
`jsonrpc-allowed-methods` (-32601 otherwise).  A second socket logging in with
the same sessid punts this one (PUNTED); the transport closing it ends in
CLOSED.  Transitions are the table `CONNECTION_TRANSITIONS`; anything missing
raises `InvalidTransition`.

Error codes (mod_verto.h): -32000 authentication required, -32001
authentication failure (and "Session in use"), -32002 session (call) error,
-32600 invalid request, -32601 invalid method or permission denied, -32602
invalid params (JSON-RPC 2.0 section 5.1).
"""

from __future__ import annotations

import hmac
import itertools
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any

from switchcore.directory import User
from switchcore.errors import InvalidTransition, SwitchError

JSONRPC = "2.0"
CLOSE_TOO_BIG = 1009  # RFC 6455 7.4.1
CLOSE_POLICY = 1008  # RFC 6455 7.4.1: a message that violates policy (a banned address)

JsonId = int | str | None
Json = dict[str, Any]


class Code(IntEnum):
    """JSON-RPC error codes as mod_verto uses them."""

    AUTH_REQUIRED = -32000
    AUTH_FAILED = -32001
    SESSION_ERROR = -32002
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602


MESSAGES: Mapping[Code, str] = {
    Code.AUTH_REQUIRED: "Authentication Required",
    Code.AUTH_FAILED: "Authentication Failure",
    Code.SESSION_ERROR: "Session Error",
    Code.INVALID_REQUEST: "Invalid Request",
    Code.METHOD_NOT_FOUND: "Invalid Method, Missing Method or Permission Denied",
    Code.INVALID_PARAMS: "Invalid params",
}

# Methods a browser may call (mod_verto.c jrpc_init, plus `verto.ping`).  `fsapi` (any API
# command) is deliberately absent: there is no general API pass-through for browsers.
METHODS: frozenset[str] = frozenset(
    {
        "login",
        "echo",
        "jsapi",
        "verto.invite",
        "verto.answer",
        "verto.bye",
        "verto.info",
        "verto.modify",
        "verto.attach",
        "verto.subscribe",
        "verto.unsubscribe",
        "verto.broadcast",
        "verto.ping",
    }
)

_SESSID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


# ---- errors -----------------------------------------------------------------------------------


class VertoError(SwitchError):
    """Root of mod_verto's errors."""


class RpcError(VertoError):
    """A method failed: answered with a JSON-RPC error object (`code`, `message` and extra members)."""

    def __init__(self, code: Code, message: str = "", **extra: Any) -> None:
        self.code = code
        self.message = message or MESSAGES[code]
        self.extra = extra
        super().__init__(f"{int(code)} {self.message}")

    def error_object(self) -> Json:
        return {"code": int(self.code), "message": self.message, **self.extra}


class FrameRejected(VertoError):
    """The frame breaks a limit: close the connection with `close_code`."""

    def __init__(self, reason: str, close_code: int = CLOSE_TOO_BIG) -> None:
        self.reason = reason
        self.close_code = close_code
        super().__init__(reason)


# ---- messages ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """A method call.  `notification` (no `id` member) gets no reply (JSON-RPC 2.0 section 4.1)."""

    method: str
    params: Json
    id: JsonId = None
    notification: bool = False


@dataclass(frozen=True, slots=True)
class Reply:
    """The browser's answer to one of our requests (`{"result":{"method":"verto.answer"}}`)."""

    id: JsonId
    result: Json | None = None
    error: Json | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """An element answered with an error before any method runs."""

    id: JsonId
    code: Code
    message: str

    def reply(self) -> Json:
        return error_reply(self.id, self.code, self.message)


Message = Request | Reply | Rejected


@dataclass(frozen=True, slots=True)
class Limits:
    """What one frame may hold (bytes, nesting depth, batch elements)."""

    max_frame: int = 1 << 20
    max_depth: int = 32
    max_batch: int = 32


@dataclass(frozen=True, slots=True)
class Incoming:
    """The messages of one frame; `batch` frames are answered with one array (section 6)."""

    messages: tuple[Message, ...]
    batch: bool = False


def parse_frame(data: str | bytes, limits: Limits = Limits()) -> Incoming:
    """Decode one WebSocket text frame; raises FrameRejected when it breaks `limits`."""
    size = len(data.encode() if isinstance(data, str) else data)
    if size > limits.max_frame:
        raise FrameRejected(f"frame of {size} bytes is over the {limits.max_frame}-byte limit")
    try:
        document = json.loads(data)
    except RecursionError:
        raise FrameRejected("JSON nested too deeply") from None
    except ValueError:
        # Not JSON at all: mod_verto answers -32600 "Invalid Request" with a null id.
        return Incoming((Rejected(None, Code.INVALID_REQUEST, MESSAGES[Code.INVALID_REQUEST]),))
    if _depth(document, limits.max_depth + 1) > limits.max_depth:
        raise FrameRejected(f"JSON nested deeper than {limits.max_depth} levels")
    if isinstance(document, list):
        if not document:
            return Incoming((Rejected(None, Code.INVALID_REQUEST, MESSAGES[Code.INVALID_REQUEST]),))
        if len(document) > limits.max_batch:
            raise FrameRejected(f"batch of {len(document)} messages is over the {limits.max_batch} limit")
        return Incoming(tuple(_message(item) for item in document), batch=True)
    return Incoming((_message(document),))


def _depth(value: Any, stop: int) -> int:
    """Nesting depth of a decoded document, counting no further than `stop`."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest >= stop:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _valid_id(value: Any) -> bool:
    return value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _message(item: Any) -> Message:
    if not isinstance(item, dict):
        return Rejected(None, Code.INVALID_REQUEST, MESSAGES[Code.INVALID_REQUEST])
    ident = item.get("id")
    if not _valid_id(ident):
        return Rejected(None, Code.INVALID_REQUEST, MESSAGES[Code.INVALID_REQUEST])
    if item.get("jsonrpc") != JSONRPC:
        return Rejected(ident, Code.INVALID_REQUEST, "Invalid message")
    if "method" in item:
        method = item["method"]
        if not isinstance(method, str) or not method:
            return Rejected(ident, Code.INVALID_REQUEST, MESSAGES[Code.INVALID_REQUEST])
        params = item.get("params", {})
        if params is None:
            params = {}
        if not isinstance(params, dict):
            # Verto passes parameters by name only.
            return Rejected(ident, Code.INVALID_PARAMS, "params must be an object")
        return Request(method, params, ident, notification="id" not in item)
    if "result" in item or "error" in item:
        result, error = item.get("result"), item.get("error")
        return Reply(
            ident,
            result if isinstance(result, dict) else None,
            error if isinstance(error, dict) else None,
        )
    return Rejected(ident, Code.INVALID_REQUEST, MESSAGES[Code.INVALID_REQUEST])


def encode(message: Json | list[Json]) -> str:
    """Compact JSON, as cJSON_PrintUnformatted writes it."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def result_reply(ident: JsonId, result: Json, sessid: str = "") -> Json:
    """`{"jsonrpc":"2.0","id":..,"result":{...,"sessid":..}}`: the server adds `sessid` to every result."""
    body = dict(result)
    if sessid:
        body["sessid"] = sessid
    return {"jsonrpc": JSONRPC, "id": ident, "result": body}


def error_reply(ident: JsonId, code: Code, message: str = "", **extra: Any) -> Json:
    return {
        "jsonrpc": JSONRPC,
        "id": ident,
        "error": {"code": int(code), "message": message or MESSAGES[code], **extra},
    }


def request(ident: int, method: str, params: Json) -> Json:
    return {"jsonrpc": JSONRPC, "id": ident, "method": method, "params": params}


def client_ack(ident: JsonId, method: str) -> Json:
    """What a client answers to our requests: `{"result":{"method":"verto.invite"}}`."""
    return {"jsonrpc": JSONRPC, "id": ident, "result": {"method": method}}


# ---- permissions ------------------------------------------------------------------------------


def _perm_set(value: str | None) -> frozenset[str] | None:
    """mod_verto's set_perm: `__ANY__` allows everything (None); a missing value allows nothing."""
    if value is not None and value.strip() == "__ANY__":
        return None
    if not value:
        return frozenset()
    sep = " " if " " in value.strip() else ","
    return frozenset(part.strip() for part in value.split(sep) if part.strip())


def _allowed(name: str, allowed: frozenset[str] | None) -> bool:
    """`name` or its main part before the first dot (`verto` allows `verto.invite`)."""
    if allowed is None:
        return True
    return name in allowed or name.partition(".")[0] in allowed


@dataclass(frozen=True, slots=True)
class Permissions:
    """What a logged-in user may call and hear (jsonrpc-allowed-methods/-event-channels/-jsapi)."""

    methods: frozenset[str] | None = frozenset()
    event_channels: frozenset[str] | None = frozenset()
    jsapi: frozenset[str] = frozenset()

    @classmethod
    def of_user(cls, user: User) -> Permissions:
        return cls(
            _perm_set(user.param("jsonrpc-allowed-methods")),
            _perm_set(user.param("jsonrpc-allowed-event-channels")),
            _perm_set(user.param("jsonrpc-allowed-jsapi")) or frozenset(),
        )

    @classmethod
    def everything(cls) -> Permissions:
        """root, or blind-reg logins (a deliberate choice in verto.conf)."""
        return cls(None, None, frozenset())

    def allows_method(self, method: str) -> bool:
        return method == "login" or _allowed(method, self.methods)

    def allows_channel(self, channel: str) -> bool:
        return _allowed(channel, self.event_channels)


# ---- login ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoginRequest:
    login: str
    passwd: str
    sessid: str


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    """The profile's login rules (verto.conf: userauth, force-register-domain, blind-reg, root-password)."""

    userauth: str = "true"  # "true": domain from the login; "@dom": always that domain
    force_domain: str = ""
    default_domain: str = ""
    blind_reg: bool = False
    root_password: str = ""


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A login's outcome: who logged in and what they may do, or the one failure reply."""

    ok: bool
    user_id: str = ""
    domain: str = ""
    user: User | None = None
    permissions: Permissions = field(default_factory=Permissions)

    @property
    def uid(self) -> str:
        return f"{self.user_id}@{self.domain}"


FAILED = LoginResult(False)


def new_sessid() -> str:
    return str(uuid.uuid4())


def parse_login(params: Mapping[str, Any]) -> LoginRequest:
    """The credentials of a `login`; raises RpcError -32000 when there are none (the first step)."""
    login, passwd, sessid = params.get("login"), params.get("passwd"), params.get("sessid")
    if sessid is not None and (not isinstance(sessid, str) or not _SESSID.fullmatch(sessid)):
        raise RpcError(Code.INVALID_PARAMS, "sessid must be 1-64 letters, digits or -._:")
    if not isinstance(login, str) or not login:
        raise RpcError(Code.AUTH_REQUIRED)
    if not isinstance(passwd, str) or not passwd:
        raise RpcError(Code.AUTH_FAILED)
    return LoginRequest(login, passwd, sessid or new_sessid())


def authenticate(
    login: LoginRequest, lookup: Callable[[str, str], User | None], policy: AuthPolicy
) -> LoginResult:
    """Check credentials against the directory (`action=jsonrpc-authenticate`).

    An unknown user and a wrong password give the very same result (FreeSWITCH
    answers "Login Incorrect" for one and "Authentication Failure" for the other,
    which tells a caller which users exist; we do not).
    """
    if login.login == "root":
        if policy.root_password and hmac.compare_digest(login.passwd, policy.root_password):
            return LoginResult(
                True, "root", policy.force_domain or policy.default_domain, None, Permissions.everything()
            )
        return FAILED
    user_id, _, domain = login.login.partition("@")
    if policy.userauth.startswith("@"):
        domain = policy.userauth[1:]
    domain = policy.force_domain or domain or policy.default_domain
    if not user_id or not domain:
        return FAILED
    user = lookup(user_id, domain)
    if user is None:
        if policy.blind_reg:
            return LoginResult(True, user_id, domain, None, Permissions.everything())
        # Spend the same work as a real comparison so timing does not tell either.
        hmac.compare_digest(login.passwd, "\0" * max(1, len(login.passwd)))
        return FAILED
    expected = user.param("jsonrpc-password") or user.param("password") or ""
    if not expected or not hmac.compare_digest(login.passwd.encode(), expected.encode()):
        return FAILED
    return LoginResult(True, user.id, domain, user, Permissions.of_user(user))


# ---- one connection ---------------------------------------------------------------------------


class ConnState(Enum):
    OPEN = "open"  # connected, not logged in
    LOGGED_IN = "logged-in"
    PUNTED = "punted"  # another socket took over the sessid
    CLOSED = "closed"


class ConnEvent(Enum):
    LOGIN_OK = "login-ok"
    LOGIN_FAILED = "login-failed"
    PUNT = "punt"
    CLOSE = "close"


CONNECTION_TRANSITIONS: Mapping[tuple[ConnState, ConnEvent], ConnState] = {
    (ConnState.OPEN, ConnEvent.LOGIN_OK): ConnState.LOGGED_IN,
    (ConnState.OPEN, ConnEvent.LOGIN_FAILED): ConnState.OPEN,
    (ConnState.OPEN, ConnEvent.CLOSE): ConnState.CLOSED,
    (ConnState.LOGGED_IN, ConnEvent.LOGIN_OK): ConnState.LOGGED_IN,
    (ConnState.LOGGED_IN, ConnEvent.LOGIN_FAILED): ConnState.LOGGED_IN,
    (ConnState.LOGGED_IN, ConnEvent.PUNT): ConnState.PUNTED,
    (ConnState.LOGGED_IN, ConnEvent.CLOSE): ConnState.CLOSED,
    (ConnState.PUNTED, ConnEvent.CLOSE): ConnState.CLOSED,
    (ConnState.CLOSED, ConnEvent.CLOSE): ConnState.CLOSED,
}


class Connection:
    """One socket's protocol state: login state, identity, permissions and our request ids."""

    def __init__(self, peer: str = "") -> None:
        self.peer = peer
        self.state = ConnState.OPEN
        self.sessid = ""
        self.login: LoginResult = FAILED
        self._ids = itertools.count(1)
        self.pending: dict[int, tuple[str, str]] = {}  # our request id -> (method, callID)

    @property
    def logged_in(self) -> bool:
        return self.state is ConnState.LOGGED_IN

    @property
    def uid(self) -> str:
        return self.login.uid if self.login.ok else ""

    def handle(self, event: ConnEvent) -> ConnState:
        """Apply `event` through the transition table."""
        new = CONNECTION_TRANSITIONS.get((self.state, event))
        if new is None:
            raise InvalidTransition(f"verto connection {self.state.value} -> {event.value} is not allowed")
        self.state = new
        return new

    def logged_in_as(self, result: LoginResult, sessid: str) -> None:
        self.handle(ConnEvent.LOGIN_OK)
        self.login = result
        self.sessid = sessid

    def gate(self, req: Request) -> RpcError | None:
        """The error a request gets before it may run, or None when it may."""
        if self.state is not ConnState.LOGGED_IN:
            return None if req.method == "login" else RpcError(Code.AUTH_REQUIRED)
        if req.method not in METHODS or not self.login.permissions.allows_method(req.method):
            return RpcError(Code.METHOD_NOT_FOUND)
        return None

    def new_request(self, method: str, params: Json, call_id: str = "") -> Json:
        """A request from us to the browser, remembered until its reply comes."""
        ident = next(self._ids)
        self.pending[ident] = (method, call_id)
        if len(self.pending) > 1000:  # a client that never answers must not grow this forever
            self.pending.pop(next(iter(self.pending)))
        return request(ident, method, params)

    def take_reply(self, reply: Reply) -> tuple[str, str] | None:
        """(method, callID) of our request this reply answers, or None when it answers nothing of ours."""
        if not isinstance(reply.id, int):
            return None
        return self.pending.pop(reply.id, None)


__all__ = [
    "CLOSE_POLICY",
    "CLOSE_TOO_BIG",
    "CONNECTION_TRANSITIONS",
    "METHODS",
    "AuthPolicy",
    "Code",
    "ConnEvent",
    "ConnState",
    "Connection",
    "FrameRejected",
    "Incoming",
    "Limits",
    "LoginRequest",
    "LoginResult",
    "Message",
    "Permissions",
    "Rejected",
    "Reply",
    "Request",
    "RpcError",
    "VertoError",
    "authenticate",
    "client_ack",
    "encode",
    "error_reply",
    "new_sessid",
    "parse_frame",
    "parse_login",
    "request",
    "result_reply",
]
