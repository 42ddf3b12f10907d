"""The switch: configuration, modules, sessions, events and the store, started and stopped as one.

Start-up order: read the XML configuration (a broken tree stops start-up with
file:line), open the store (migrations applied), start the media clock and the
heartbeat, load the modules listed in modules.conf.xml in order (a missing or
failing module is reported, the rest still load), then log one line that
begins `switchcore ready`.  Stopping hangs up every call with SYSTEM_SHUTDOWN,
waits for their CDRs, shuts the modules down in reverse order and closes the
store.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import shlex
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .causes import HangupCause
from .cdr import cdr_for
from .cdr_writer import CdrWriter
from .channel_mirror import ChannelMirror
from .directory import Directory
from .errors import ConfigError, ModuleError, UsageError
from .events import Event, EventBus
from .media.builtin_codecs import builtin_codecs
from .media.clock import MediaClock
from .module import ApiContext, Module
from .registry import ModuleLoader, Registry
from .session import Session
from .store import Store
from .xmlconf import ConfigHolder

log = logging.getLogger("switchcore")

HEARTBEAT_SECONDS = 20.0


@dataclass(slots=True)
class StartupReport:
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class Switch:
    """One running switch."""

    def __init__(
        self,
        conf_dir: Path | str | None = None,
        data_dir: Path | str | None = None,
        base_dir: Path | str | None = None,
        sounds_dir: Path | str | None = None,
        node: str | None = None,
    ) -> None:
        here = Path(__file__).resolve().parent.parent
        self.base_dir = Path(base_dir) if base_dir else here
        self.conf_dir = Path(conf_dir) if conf_dir else self.base_dir / "conf"
        self.data_dir = Path(data_dir) if data_dir else self.base_dir / "data"
        self.sounds_dir = Path(sounds_dir) if sounds_dir else self.base_dir / "sounds"
        self.node = node or socket.gethostname()
        self.events = EventBus()
        self.registry = Registry()
        self.registry.codecs.extend(builtin_codecs())
        self.loader = ModuleLoader(self)
        self.sessions: dict[str, Session] = {}
        self.global_vars: dict[str, str] = {}
        self.sessions_since_start = 0
        self.peak_sessions = 0
        self.started = time.time()
        self.report = StartupReport()
        self.listeners: list[str] = []
        self.config: ConfigHolder | None = None  # set by start()
        self.store: Store | None = None
        self.cdr_writer: CdrWriter | None = None
        self.channel_mirror: ChannelMirror | None = None
        self.clock: MediaClock = MediaClock(20)
        self.stopping = asyncio.Event()
        self.settings: dict[str, str] = {}
        self._heartbeat: asyncio.Task[None] | None = None
        self._directory: Directory | None = None
        self._directory_tree: object = None
        self._shutdown_hooks: list[Callable[[], Awaitable[None]]] = []

    # ---- start and stop -------------------------------------------------------------------------

    def base_vars(self) -> dict[str, str]:
        return {
            "base_dir": str(self.base_dir),
            "conf_dir": str(self.conf_dir),
            "data_dir": str(self.data_dir),
            "sounds_dir": str(self.sounds_dir),
            "recordings_dir": str(self.data_dir / "recordings"),
            "log_dir": str(self.data_dir / "log"),
            "local_ip_v4": "127.0.0.1",
            "local_ip_v6": "::1",
            "hostname": socket.gethostname(),
            "switch_serial": self.node,
        }

    async def start(self, modules: list[str] | None = None) -> StartupReport:
        """Boot: config, store, clock, modules; `modules` overrides modules.conf.xml (tests)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config = ConfigHolder(self.conf_dir, self.base_vars())
        loaded = self.config.load_initial()
        for warning in loaded.warnings:
            log.warning("%s", warning)
        if not loaded.ok:
            raise ConfigError(loaded.reply.removeprefix("-ERR "))
        self.global_vars = dict(self.config.current.global_vars)
        self.settings = self._switch_settings()
        url = self.settings.get("db-url") or f"sqlite:///{self.data_dir / 'switchcore.db'}"
        self.store = Store(url)
        await asyncio.to_thread(self.store.open)
        await asyncio.to_thread(self.store.clear_node, self.node)
        self.cdr_writer = CdrWriter(self.store)
        self.cdr_writer.start()
        self.channel_mirror = ChannelMirror(self.store, self.node)
        self.channel_mirror.start()
        self.clock.start()
        self._heartbeat = asyncio.get_running_loop().create_task(self._beat())
        for name in modules if modules is not None else self._module_list():
            try:
                await self.loader.load(name)
                self.report.loaded.append(name)
            except ModuleError as exc:
                if "not found" in str(exc):
                    self.report.missing.append(name)
                    log.warning("%s (listed in modules.conf.xml); skipped", exc)
                else:
                    self.report.failed[name] = str(exc)
                    log.error("%s", exc)
        for module in self.registry.modules.values():
            self.listeners.extend(module.listeners)
        # Everything loaded so far lives as long as the switch: keep it out of the collector's
        # scans, and collect young objects less often (calls allocate many short-lived ones).
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 20, 20)
        self.events.fire(Event.create("STARTUP"))
        log.info("%s", self.ready_line())
        return self.report

    def ready_line(self) -> str:
        parts = [f"switchcore ready version={__version__} modules={len(self.registry.modules)}"]
        parts.append("listeners=" + (",".join(self.listeners) if self.listeners else "none"))
        if self.report.missing:
            parts.append("missing=" + ",".join(self.report.missing))
        if self.report.failed:
            parts.append("failed=" + ",".join(self.report.failed))
        return " ".join(parts)

    def _module_list(self) -> list[str]:
        assert self.config is not None
        element = self.config.current.configuration("modules.conf")
        if element is None:
            log.warning("modules.conf is missing from the configuration; no modules loaded")
            return []
        return [load.get("module", "") for load in element.iter("load") if load.get("module")]

    def _switch_settings(self) -> dict[str, str]:
        assert self.config is not None
        element = self.config.current.configuration("switch.conf")
        settings: dict[str, str] = {}
        if element is None:
            return settings
        for param in element.iter("param"):
            name, value = param.get("name"), param.get("value")
            if name and value is not None:
                settings[name] = value
        return settings

    async def stop(self, cause: HangupCause = HangupCause.SYSTEM_SHUTDOWN, timeout: float = 3.0) -> None:
        """Hang up every call, write their CDRs, shut the modules down, close the store."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        self.events.fire(Event.create("SHUTDOWN"))
        await self.hangup_all(cause, timeout)
        for name in reversed(list(self.registry.modules)):
            try:
                await asyncio.wait_for(self.loader.unload(name, force=True), timeout=1.0)
            except (TimeoutError, ModuleError) as exc:
                log.warning("module %s did not stop cleanly: %s", name, exc)
        for hook in self._shutdown_hooks:
            await hook()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        self.clock.stop()
        if self.channel_mirror is not None:
            await self.channel_mirror.stop()
        if self.cdr_writer is not None:
            await self.cdr_writer.stop()
        if self.store is not None:
            await asyncio.to_thread(self.store.close)

    async def hangup_all(self, cause: HangupCause, timeout: float = 3.0) -> int:
        sessions = list(self.sessions.values())
        for session in sessions:
            session.hangup(cause)
        if sessions:
            await asyncio.wait(
                [asyncio.ensure_future(s.wait_destroyed()) for s in sessions], timeout=timeout
            )
        return len(sessions)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            up = int(time.time() - self.started)
            self.events.fire(
                Event.create(
                    "HEARTBEAT",
                    **{
                        "Event-Info": "System Ready",
                        "Up-Time": _uptime(up),
                        "Uptime-msec": str(up * 1000),
                        "Session-Count": str(len(self.sessions)),
                        "Max-Sessions": self.settings.get("max-sessions", "1000"),
                        "Session-Since-Startup": str(self.sessions_since_start),
                        "FreeSWITCH-Version": __version__,
                    },
                )
            )

    def fire_module_event(self, name: str, module: Module) -> None:
        self.events.fire(Event.create(name, **{"type": "module", "name": module.name, "key": module.name}))

    # ---- APIs and expansion -----------------------------------------------------------------------

    async def api(self, line: str, session: Session | None = None) -> str:
        """Run one API command line (`status`, `show channels` ...) and return its text."""
        line = line.strip()
        command, _, args = line.partition(" ")
        iface = self.registry.apis.get(command)
        if iface is None:
            return f"-ERR {command} Command not found!\n"
        self.registry.acquire(iface.module)
        try:
            return await iface.func(ApiContext(self, session), args.strip())
        except UsageError as exc:
            return f"-USAGE: {exc.syntax}\n"
        except ConfigError as exc:
            return f"-ERR {exc}\n"
        except Exception as exc:
            log.exception("api %s failed", command)
            return f"-ERR {command}: {exc}\n"
        finally:
            self.registry.release(iface.module)

    async def expand(self, template: str, session: Session | None = None) -> str:
        if "$" not in template:
            return template
        from .expand import expand

        get = session.get_var if session is not None else self.global_vars.get

        async def run_api(command: str, args: str) -> str:
            return (await self.api(f"{command} {args}", session)).rstrip("\n")

        return await expand(template, get, run_api)

    # ---- CDRs -------------------------------------------------------------------------------------

    async def write_cdr(self, session: Session) -> None:
        """Write the leg's CDR (REPORTING); a failure is logged, never raised into the call."""
        if self.cdr_writer is None:
            return
        try:
            await self.cdr_writer.write(cdr_for(session))
        except Exception:
            log.exception("[%s] CDR write failed", session.uuid)

    # ---- configuration --------------------------------------------------------------------------

    @property
    def directory(self) -> Directory:
        """The user directory of the configuration in force (rebuilt when the tree is reloaded)."""
        assert self.config is not None, "the switch is not started"
        tree = self.config.current
        if self._directory is None or self._directory_tree is not tree:
            self._directory, self._directory_tree = Directory(tree), tree
        return self._directory

    async def reload_config(self) -> str:
        """reloadxml: swap in the whole new tree, or keep the running one and say where it broke."""
        assert self.config is not None
        result = await asyncio.to_thread(self.config.reload)
        for warning in result.warnings:
            log.warning("%s", warning)
        if not result.ok:
            log.error("reloadxml failed, keeping the running configuration: %s", result.reply)
            return result.reply + "\n"
        self.global_vars.update(self.config.current.global_vars)
        self.events.fire(Event.create("RELOADXML"))
        summary = result.diff_text.strip()
        log.info("reloadxml: %s", summary or "no changes")
        return result.reply + "\n" + (summary + "\n" if summary else "")

    def on_shutdown(self, hook: Callable[[], Awaitable[None]]) -> None:
        self._shutdown_hooks.append(hook)


def _uptime(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return (
        f"0 years, {days} days, {hours} hours, {minutes} minutes, {secs} seconds, 0 milliseconds, 0 microseconds"
    )


def split_args(args: str) -> list[str]:
    """Split API arguments as a shell would, but never fail on an unbalanced quote."""
    try:
        return shlex.split(args)
    except ValueError:
        return args.split()


__all__ = ["StartupReport", "Switch", "split_args"]
