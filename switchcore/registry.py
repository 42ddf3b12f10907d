"""The module registry: loads `Module` declarations, validates them, and counts their use.

Modules are Python packages `modules.<name>` that expose a `module` attribute
(a `switchcore.module.Module`).  Loading validates every interface (coroutine
functions with the right arity, no name taken by another module) before
anything is added, so a bad module changes nothing.  Each application run and
each channel of an endpoint holds a reference on its module; `unload` refuses
while any is held unless forced (FreeSWITCH's `unload -f`).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ModuleError, SwitchError
from .media.codec import CodecSpec
from .module import ApiInterface, ApplicationInterface, Dialplan, Endpoint, Module

if TYPE_CHECKING:
    from .core import Switch

log = logging.getLogger("switchcore.registry")

PACKAGE = "modules"


@dataclass(slots=True)
class Registry:
    """Everything the loaded modules offer, by name."""

    modules: dict[str, Module] = field(default_factory=dict)
    applications: dict[str, ApplicationInterface] = field(default_factory=dict)
    apis: dict[str, ApiInterface] = field(default_factory=dict)
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    codecs: list[CodecSpec] = field(default_factory=list)
    dialplans: dict[str, Dialplan] = field(default_factory=dict)
    file_formats: dict[str, Any] = field(default_factory=dict)
    refs: Counter[str] = field(default_factory=Counter)
    endpoint_owner: dict[str, str] = field(default_factory=dict)

    # ---- reference counts ---------------------------------------------------------------------

    def acquire(self, module: str) -> None:
        if module:
            self.refs[module] += 1

    def release(self, module: str) -> None:
        if module and self.refs[module] > 0:
            self.refs[module] -= 1

    # ---- validation ---------------------------------------------------------------------------

    def validate(self, module: Module) -> None:
        """Raise ModuleError if `module` is malformed or clashes with what is loaded."""
        if not isinstance(module, Module):
            raise ModuleError(f"{module!r} is not a switchcore Module")
        if module.name in self.modules:
            raise ModuleError(f"module {module.name} is already loaded")
        for kind, table, mine in (
            ("application", self.applications, module.applications),
            ("api", self.apis, module.apis),
        ):
            for name, iface in mine.items():
                if name in table:
                    raise ModuleError(f"{module.name}: {kind} {name!r} is already provided by {table[name].module}")
                _check_callable(module.name, kind, name, iface.func, 2)
        for name in module.endpoints:
            if name in self.endpoints:
                raise ModuleError(f"{module.name}: endpoint {name!r} is already provided by {self.endpoint_owner[name]}")
        for name in module.dialplans:
            if name in self.dialplans:
                raise ModuleError(f"{module.name}: dialplan {name!r} is already loaded")
        taken = {c.key for c in self.codecs}
        for spec in module.codecs:
            if spec.key in taken:
                raise ModuleError(f"{module.name}: codec {spec.key} is already registered")

    def add(self, module: Module) -> None:
        self.validate(module)
        self.modules[module.name] = module
        self.applications.update({n: _owned(i, module.name) for n, i in module.applications.items()})
        self.apis.update({n: _owned(i, module.name) for n, i in module.apis.items()})
        self.endpoints.update(module.endpoints)
        self.endpoint_owner.update({n: module.name for n in module.endpoints})
        self.codecs.extend(module.codecs)
        self.dialplans.update(module.dialplans)
        self.file_formats.update(module.file_formats)

    def remove(self, name: str) -> Module:
        module = self.modules.pop(name)
        for n in module.applications:
            self.applications.pop(n, None)
        for n in module.apis:
            self.apis.pop(n, None)
        for n in module.endpoints:
            self.endpoints.pop(n, None)
            self.endpoint_owner.pop(n, None)
        self.codecs = [c for c in self.codecs if c not in module.codecs]
        for n in module.dialplans:
            self.dialplans.pop(n, None)
        for n in module.file_formats:
            self.file_formats.pop(n, None)
        self.refs.pop(name, None)
        return module

    def find_codec(self, name: str, rate: int | None = None, channels: int | None = None) -> CodecSpec | None:
        name = name.upper()
        for spec in self.codecs:
            rate_ok = rate is None or rate in (spec.rate, spec.clock_rate)
            if spec.name == name and rate_ok and (channels is None or spec.channels == channels):
                return spec
        return None


def _owned(iface: Any, module: str) -> Any:
    return type(iface)(iface.name, iface.description, iface.syntax, iface.func, module)


def _check_callable(module: str, kind: str, name: str, func: Any, arity: int) -> None:
    if not inspect.iscoroutinefunction(func):
        raise ModuleError(f"{module}: {kind} {name!r} must be an async function")
    params = [
        p
        for p in inspect.signature(func).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    if len(params) != arity:
        raise ModuleError(f"{module}: {kind} {name!r} must take {arity} arguments, not {len(params)}")


class ModuleLoader:
    """Imports, loads, unloads and reloads modules for one switch."""

    def __init__(self, switch: Switch) -> None:
        self.switch = switch
        self.registry = switch.registry

    def import_module(self, name: str, fresh: bool = False) -> Module:
        if not name.replace("_", "").isalnum():
            raise ModuleError(f"invalid module name {name!r}")
        qualified = f"{PACKAGE}.{name}"
        try:
            if fresh:
                for key in [k for k in sys.modules if k == qualified or k.startswith(qualified + ".")]:
                    del sys.modules[key]
            package = importlib.import_module(qualified)
        except ModuleNotFoundError as exc:
            if exc.name in (qualified, PACKAGE):
                raise ModuleError(f"module {name} not found") from None
            raise ModuleError(f"module {name} failed to import: {exc}") from exc
        except Exception as exc:
            raise ModuleError(f"module {name} failed to import: {exc!r}") from exc
        module = getattr(package, "module", None)
        if not isinstance(module, Module):
            raise ModuleError(f"module {name} has no `module` declaration")
        if module.name != name:
            raise ModuleError(f"module {name} declares itself as {module.name}")
        return module

    async def load(self, name: str, fresh: bool = False) -> Module:
        module = self.import_module(name, fresh)
        self.registry.validate(module)
        if module.on_load is not None:
            try:
                await module.on_load(self.switch)
            except (OSError, SwitchError) as exc:
                # An expected failure (a port in use, a config error) says why in one line.
                raise ModuleError(f"module {name} failed to load: {exc}") from exc
            except Exception as exc:
                log.exception("module %s failed to load", name)
                raise ModuleError(f"module {name} failed to load: {exc}") from exc
        self.registry.add(module)
        self.switch.fire_module_event("MODULE_LOAD", module)
        log.info("loaded %s", name)
        return module

    async def unload(self, name: str, force: bool = False) -> None:
        if name not in self.registry.modules:
            raise ModuleError(f"module {name} is not loaded")
        in_use = self.registry.refs[name]
        if in_use and not force:
            raise ModuleError(f"module {name} is in use ({in_use} references); use unload -f to force")
        module = self.registry.remove(name)
        if module.on_shutdown is not None:
            try:
                await module.on_shutdown(self.switch)
            except Exception:
                log.exception("module %s failed to shut down cleanly", name)
        self.switch.fire_module_event("MODULE_UNLOAD", module)
        log.info("unloaded %s", name)

    async def reload(self, name: str, force: bool = False) -> Module:
        if name in self.registry.modules:
            await self.unload(name, force)
        return await self.load(name, fresh=True)
