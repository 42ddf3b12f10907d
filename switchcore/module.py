"""How a plug-in module declares what it offers.

A module is one `Module("mod_x")` object built at import time with no side
effects; the registry validates it when it is loaded (names, signatures,
duplicates) and calls its `on_load` / `on_shutdown` hooks.  Usage:

    module = Module("mod_dptools", "Dialplan tools")

    @module.application("answer", "Answer the call")
    async def answer(session: Session, arg: str) -> None: ...

    @module.api("status", "Show the switch status", "")
    async def status(ctx: ApiContext, args: str) -> str: ...

Endpoints, codecs, dialplans and file formats are added with `add_endpoint`,
`add_codec`, `add_dialplan` and `add_file_format`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .media.codec import CodecSpec

if TYPE_CHECKING:
    from .core import Switch
    from .session import Session

AppFunc = Callable[["Session", str], Coroutine[Any, Any, None]]
ApiFunc = Callable[["ApiContext", str], Awaitable[str]]
LoadHook = Callable[["Switch"], Awaitable[None]]


@dataclass(slots=True)
class ApiContext:
    """What an API command runs with: the switch, and the session when run from a call."""

    switch: Switch
    session: Session | None = None


@dataclass(frozen=True, slots=True)
class ApplicationInterface:
    name: str
    description: str
    syntax: str
    func: AppFunc
    module: str = ""


@dataclass(frozen=True, slots=True)
class ApiInterface:
    name: str
    description: str
    syntax: str
    func: ApiFunc
    module: str = ""


class Endpoint(Protocol):
    """An endpoint makes outgoing channels for its dial-string prefix (`sofia`, `loopback`, `user`)."""

    name: str

    async def outgoing(self, request: OutgoingRequest) -> Session:
        """Create (not yet answered) the B-leg for `request.dest`; raise CallError to refuse."""
        ...


@dataclass(slots=True)
class OutgoingRequest:
    """One leg of an originate: the part of the dial string after `<endpoint>/`, and its variables."""

    dest: str
    variables: dict[str, str]
    originator: Session | None = None
    timeout: float = 60.0


class Dialplan(Protocol):
    """A dialplan finds the application list for a session (`XML`, `inline`)."""

    name: str

    async def hunt(self, session: Session, arg: str) -> list[tuple[str, str]] | None:
        """The (application, data) list to run, or None when no extension matched."""
        ...


class FileFormat(Protocol):
    """Opens audio files (or streams) for `playback` and `record` by scheme or extension."""

    name: str
    schemes: tuple[str, ...]  # "tone_stream", "silence_stream" ...; "" for plain paths
    extensions: tuple[str, ...]  # "wav" ...


@dataclass(slots=True)
class Module:
    """A module's declaration: everything it offers, registered in one readable line each."""

    name: str
    description: str = ""
    applications: dict[str, ApplicationInterface] = field(default_factory=dict)
    apis: dict[str, ApiInterface] = field(default_factory=dict)
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    codecs: list[CodecSpec] = field(default_factory=list)
    dialplans: dict[str, Dialplan] = field(default_factory=dict)
    file_formats: dict[str, Any] = field(default_factory=dict)
    on_load: LoadHook | None = None
    on_shutdown: LoadHook | None = None
    # Listener descriptions for the `switchcore ready` line ("sip udp 127.0.0.1:5060" ...).
    listeners: list[str] = field(default_factory=list)

    def application(self, name: str, description: str, syntax: str = "") -> Callable[[AppFunc], AppFunc]:
        def register(func: AppFunc) -> AppFunc:
            self._unique(self.applications, name, "application")
            self.applications[name] = ApplicationInterface(name, description, syntax, func, self.name)
            return func

        return register

    def api(self, name: str, description: str, syntax: str = "") -> Callable[[ApiFunc], ApiFunc]:
        def register(func: ApiFunc) -> ApiFunc:
            self._unique(self.apis, name, "api")
            self.apis[name] = ApiInterface(name, description, syntax, func, self.name)
            return func

        return register

    def add_endpoint(self, endpoint: Endpoint) -> None:
        self._unique(self.endpoints, endpoint.name, "endpoint")
        self.endpoints[endpoint.name] = endpoint

    def add_codec(self, spec: CodecSpec) -> None:
        self.codecs.append(spec)

    def add_dialplan(self, dialplan: Dialplan) -> None:
        self._unique(self.dialplans, dialplan.name, "dialplan")
        self.dialplans[dialplan.name] = dialplan

    def add_file_format(self, name: str, fmt: Any) -> None:
        self._unique(self.file_formats, name, "file format")
        self.file_formats[name] = fmt

    def loaded(self, hook: LoadHook) -> LoadHook:
        self.on_load = hook
        return hook

    def shutdown(self, hook: LoadHook) -> LoadHook:
        self.on_shutdown = hook
        return hook

    def _unique(self, table: dict[str, Any], name: str, kind: str) -> None:
        if name in table:
            raise ValueError(f"{self.name}: {kind} {name!r} is declared twice")
