"""The registrar: REGISTER per RFC 3261 10.3, bindings in memory and in the store.

Processing, in RFC 3261 10.3's order:
 1-4. the request is authenticated (`auth.py`, 401 / 403) for the realm the
      profile's `challenge-realm` names; the digest user must be the To user;
 5.   the address-of-record is the To user at the registration domain
      (`force-register-db-domain`, else `force-register-domain`, else the To host);
 6.   `Contact: *` with `Expires: 0` removes every binding; no Contact is a query;
 7.   each contact's interval comes from its `expires` param, else the Expires
      header, else `default_expires`; 0 removes it, a non-zero interval under
      `min_expires` is refused with 423 and Min-Expires, one over `max_expires`
      is shortened.  A binding refreshed with the same Call-ID must carry a
      higher CSeq.  `multiple-registrations` (FreeSWITCH's) decides what a new
      registration replaces: "false" every other binding of the user, "true"
      the bindings of the same Call-ID, "contact" only the same contact;
 8.   the 200 lists every current binding with its remaining `expires`.

NAT (freeswitch-behaviour.md S4): when the address a REGISTER came from is not
the address in its Contact (over UDP the port counts too), the binding is
marked NATed and stored as FreeSWITCH stores it, with the real source as a
next hop: `"user" <sip:1000@10.0.0.5:5060;fs_nat=yes;fs_path=sip%3A1000%40203.0.113.9%3A40000>`.
`split_fs_path()` turns such a contact back into (target URI, next hop URI).

Bindings live in memory (the registrar answers from there) and are written
behind to the switch's store, coalesced by key, so they survive a restart
(`load()` reads them back).  A periodic `sweep()` removes expired bindings and
fires `sofia::expire`; `sofia::register` / `sofia::unregister` carry
FreeSWITCH's headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import ipaddress
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote, unquote

from switchcore.events import Event
from switchcore.store import RegistrationRecord

from .auth import Authenticator, AuthOutcome
from .incoming import ServerRequest
from .message import Request
from .tu import Source
from .uri import URI, NameAddr, ParseError

if TYPE_CHECKING:
    from switchcore.store import Store

log = logging.getLogger("mod_sofia.registrar")

REGISTER_EVENT = "sofia::register"
UNREGISTER_EVENT = "sofia::unregister"
EXPIRE_EVENT = "sofia::expire"


class DomainDirectory(Protocol):
    def domain(self, name: str) -> object | None: ...


@dataclass(frozen=True, slots=True)
class RegistrarSettings:
    force_register_domain: str | None = None
    force_register_db_domain: str | None = None
    multiple_registrations: str = "false"
    max_per_extension: int = 0
    min_expires: int = 60
    max_expires: int = 7200
    default_expires: int = 3600
    sweep_interval: float = 5.0
    write_delay: float = 0.05


@dataclass(slots=True)
class Binding:
    """One registered contact: the stored record plus what the 200 OK needs."""

    record: RegistrationRecord
    uri: str  # the Contact URI as the phone sent it
    cseq: int
    expires: int  # the interval granted, seconds
    status: str  # FreeSWITCH's "Registered(UDP-NAT)" ...
    auth_user: str
    auth_realm: str
    registered_at: float = field(default_factory=time.time)

    def remaining(self, now: float) -> int:
        return max(0, math.ceil(self.record.expires_at.timestamp() - now))


def _key(user: str, domain: str) -> tuple[str, str]:
    return user.lower(), domain.lower()


def status_text(transport: str, nat: bool) -> str:
    return f"Registered({transport.upper()}{'-NAT' if nat else ''})"


_IPS: dict[str, ipaddress.IPv4Address | ipaddress.IPv6Address | None] = {}


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if text in _IPS:
        return _IPS[text]
    try:
        found: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(text)
    except ValueError:
        found = None
    if len(_IPS) < 4096:  # bounded: addresses come from the network
        _IPS[text] = found
    return found


def detect_nat(uri: URI, source: Source) -> bool:
    """The phone is behind NAT when its Contact is not where its REGISTER came from.

    Over UDP the port must match too (default 5060); over TCP only the address,
    since connections leave from passing ports.  A host name cannot be compared.
    """
    host = uri.host.strip("[]")
    if host != source.addr[0]:
        contact_ip, source_ip = _ip(host), _ip(source.addr[0])
        if contact_ip is None or source_ip is None:
            return False
        if contact_ip != source_ip:
            return True
    if source.transport == "udp":
        default = 5061 if uri.scheme == "sips" else 5060
        return (uri.port or default) != source.addr[1]
    return False


def fs_contact(contact: NameAddr, display: str, source: Source, nat: bool, text: str | None = None) -> str:
    """The contact as FreeSWITCH stores it (sofia_reg.c): display, URI, NAT marks.

    `text` is `str(contact.uri)` when the caller has it already."""
    uri = contact.uri
    text = str(uri) if text is None else text
    if nat:
        host = source.addr[0]
        host = f"[{host}]" if ":" in host else host
        userinfo = f"{uri.user}@" if uri.user else ""
        params = "".join(f";{k}" if v is None else f";{k}={v}" for k, v in uri.params)
        path = f"sip:{userinfo}{host}:{source.addr[1]}{params}"
        text += ";fs_nat=yes;fs_path=" + quote(path, safe="")
    return f"{display} <{text}>"


def split_fs_path(target: str) -> tuple[str, str | None]:
    """(URI without `fs_nat` / `fs_path`, the unescaped `fs_path` next hop or None).

    A NATed registration's contact (what `sofia_contact` returns) must be dialled
    at its Request-URI but sent to the address in `fs_path`.
    """
    parts = target.split(";")
    kept: list[str] = []
    path: str | None = None
    for part in parts:
        name, _, value = part.partition("=")
        low = name.lower()
        if low == "fs_path" and kept:
            path = unquote(value)
        elif low != "fs_nat" or not kept:
            kept.append(part)
    return ";".join(kept), path


def original_uri(stored_contact: str) -> str:
    """The phone's own Contact URI inside a stored FreeSWITCH-style contact."""
    try:
        uri = NameAddr.parse(stored_contact).uri
    except ParseError:
        inner = stored_contact[stored_contact.find("<") + 1 : stored_contact.rfind(">")]
        return split_fs_path(inner)[0]
    for name in ("fs_nat", "fs_path", "received"):
        uri = uri.without_param(name)
    return str(uri)


def _expires_param(contact: NameAddr) -> int | None:
    value = contact.param("expires")
    if value is None:
        return None
    value = value.strip()
    return min(int(value), 2**32 - 1) if value.isdigit() else None


class _Refused(Exception):
    def __init__(self, status: int, reason: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers


class Registrar:
    """REGISTER handling and the registered contacts of one profile."""

    def __init__(
        self,
        profile_name: str,
        auth: Authenticator,
        settings: RegistrarSettings | None = None,
        *,
        store: Callable[[], Store | None] = lambda: None,
        directory: Callable[[], DomainDirectory | None] = lambda: None,
        fire: Callable[[Event], None] | None = None,
        node: str = "",
        clock: Callable[[], float] = time.time,
        wanted: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.profile_name = profile_name
        self.auth = auth
        self.settings = settings or RegistrarSettings()
        self.store = store
        self.directory = directory
        self.fire = fire
        # Whether anyone listens for an event (`EventBus.wanted`); None: assume someone does.
        self.wanted = wanted
        self.node = node
        self.clock = clock
        self._date: tuple[int, str] = (-1, "")
        self._aors: dict[tuple[str, str], dict[str, Binding]] = {}
        self._dirty: dict[tuple[str, str, str], RegistrationRecord | None] = {}
        self._wake: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._write_lock = asyncio.Lock()
        self.registrations_handled = 0

    # ---- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Read the stored bindings back and start the writer and the expiry sweep."""
        await self.load()
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._writer = loop.create_task(self._write_loop(), name=f"sofia-{self.profile_name}-regwriter")
        self._sweeper = loop.create_task(self._sweep_loop(), name=f"sofia-{self.profile_name}-regsweep")

    async def stop(self) -> None:
        """Stop the sweep, write what is pending, stop the writer (bindings stay stored)."""
        for task in (self._sweeper, self._writer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._sweeper = self._writer = None
        await self.flush()

    async def load(self) -> int:
        store = self.store()
        if store is None:
            return 0
        try:
            records = await store.aregistrations(profile=self.profile_name)
        except Exception as exc:
            log.warning("sofia profile '%s': cannot read stored registrations: %s", self.profile_name, exc)
            return 0
        count = 0
        for record in records:
            if record.node not in ("", self.node):
                continue
            remaining = int(record.expires_at.timestamp() - self.clock())
            binding = Binding(
                record=record,
                uri=original_uri(record.contact),
                cseq=0,
                expires=max(remaining, 0),
                status=status_text(record.transport, record.nat),
                auth_user=record.user,
                auth_realm=record.realm,
            )
            self._aors.setdefault(_key(record.user, record.realm), {})[binding.uri] = binding
            count += 1
        if count:
            log.info("sofia profile '%s': %d registrations restored", self.profile_name, count)
        return count

    # ---- REGISTER -------------------------------------------------------------------------------

    def realm_for(self, request: Request) -> str:
        """The digest realm of a REGISTER (the authenticator's challenge-realm rule)."""
        return self.auth.realm_for(request)

    def on_register(self, incoming: ServerRequest) -> Awaitable[None] | None:
        """Process one REGISTER; answered at once, or a coroutine when the answer must wait."""
        self.registrations_handled += 1
        request = incoming.request
        to_uri = request.to_addr.uri
        user = to_uri.user or request.from_addr.uri.user
        if not user:
            incoming.reply(400, "Missing User")
            return None
        realm = self.realm_for(request)
        outcome, delay = self.auth.verify(
            request, incoming.source, realm, "www", domain=self.settings.force_register_domain or realm
        )
        if delay > 0:
            return self._answer_later(incoming, outcome, delay)
        self._answer(incoming, outcome, user, realm)
        return None

    async def handle(self, incoming: ServerRequest) -> None:
        """Process one REGISTER and answer it."""
        work = self.on_register(incoming)
        if work is not None:
            await work

    async def _answer_later(self, incoming: ServerRequest, outcome: AuthOutcome, delay: float) -> None:
        await self.auth.sleep(delay)  # a failing address is answered slowly
        incoming.reply(outcome.status, outcome.reason, outcome.headers)

    def _answer(self, incoming: ServerRequest, outcome: AuthOutcome, user: str, realm: str) -> None:
        if not outcome.ok:
            incoming.reply(outcome.status, outcome.reason, outcome.headers)
            return
        request = incoming.request
        settings = self.settings
        domain = (
            settings.force_register_db_domain or settings.force_register_domain or request.to_addr.uri.host
        )
        try:
            changed = self._apply(request, incoming.source, user, domain, outcome.username, realm)
        except _Refused as refused:
            incoming.reply(refused.status, refused.reason, refused.headers)
            return
        now = self.clock()
        bindings = self._aors.get(_key(user, domain), {})
        headers = [("Contact", f"<{b.uri}>;expires={b.remaining(now)}") for b in bindings.values()]
        headers.append(("Date", self._date_header(now)))
        incoming.reply(200, "OK", headers)
        for event in changed:
            self._fire(event)

    def _date_header(self, now: float) -> str:
        """RFC 3261 20.17 Date, written once a second however many REGISTERs are answered."""
        second = int(now)
        if self._date[0] != second:
            self._date = (second, email.utils.formatdate(second, usegmt=True))
        return self._date[1]

    def _apply(
        self, request: Request, source: Source, user: str, domain: str, auth_user: str, realm: str
    ) -> list[Event]:
        """Change the bindings as the REGISTER asks; returns the events to fire (those wanted)."""
        settings = self.settings
        key = _key(user, domain)
        bindings = self._aors.setdefault(key, {})
        call_id = request.call_id
        cseq = request.cseq.number
        events: list[Event] = []
        contacts = request.contacts  # empty for `Contact: *` and for a query
        if not contacts and request.contact_star:
            # RFC 3261 10.3 step 6: "*" only with Expires: 0 and no other contact.
            if request.expires != 0 or len(request.values("contact")) != 1:
                raise _Refused(400, "Invalid Contact")
            for binding in list(bindings.values()):
                self._collect(events, self._remove(key, binding, UNREGISTER_EVENT, request))
            return events
        if not contacts:
            return events  # a query
        header_expires = request.expires
        default = header_expires if header_expires is not None else settings.default_expires
        wanted: list[tuple[NameAddr, int, str]] = []
        for contact in contacts:
            expires = _expires_param(contact)
            expires = default if expires is None else expires
            if 0 < expires < settings.min_expires:
                raise _Refused(423, "Interval Too Brief", (("Min-Expires", str(settings.min_expires)),))
            wanted.append((contact, min(expires, settings.max_expires), str(contact.uri)))
        registering = False
        uris: set[str] = set()
        for _, expires, uri in wanted:  # (a loop: comprehensions are calls of their own)
            registering = registering or expires > 0
            uris.add(uri)
        mode = settings.multiple_registrations
        if mode == "false":
            doomed = []
            for b in bindings.values():
                if b.uri not in uris:
                    doomed.append(b)
        elif mode == "true":
            doomed = [b for b in bindings.values() if b.record.call_id == call_id and b.uri not in uris]
        else:
            doomed = []
        if registering and settings.max_per_extension > 0:
            others = [b for b in bindings.values() if b.record.call_id != call_id and b not in doomed]
            if len(others) + 1 > settings.max_per_extension:
                log.warning(
                    "SIP auth failure (REGISTER) due to reaching max allowed registrations.  Count: %d",
                    len(others),
                )
                raise _Refused(403, "Forbidden")
        for _, _, uri in wanted:
            existing = bindings.get(uri)
            if existing is not None and existing.record.call_id == call_id and existing.cseq >= cseq > 0:
                raise _Refused(500, "Out Of Order")  # RFC 3261 10.3 step 7
        for binding in doomed:
            self._collect(events, self._remove(key, binding, UNREGISTER_EVENT, request))
        now = self.clock()
        to_display = request.to_addr.display
        user_agent = request.get("User-Agent", "") or ""
        announce = self._wants(REGISTER_EVENT)
        for contact, expires, uri in wanted:
            existing = bindings.get(uri)
            if expires == 0:
                if existing is not None:
                    self._collect(events, self._remove(key, existing, UNREGISTER_EVENT, request))
                continue
            nat = detect_nat(contact.uri, source)
            display = (
                f'"{contact.display}"' if contact.display else (f'"{to_display}"' if to_display else '"user"')
            )
            record = RegistrationRecord(
                profile=self.profile_name,
                user=user,
                realm=domain,
                contact=fs_contact(contact, display, source, nat, uri),
                expires_at=datetime.fromtimestamp(now + expires, UTC),
                call_id=call_id,
                network_ip=source.addr[0],
                network_port=source.addr[1],
                transport=source.transport,
                user_agent=user_agent,
                received=f"{source.addr[0]}:{source.addr[1]}" if nat else "",
                nat=nat,
                node=self.node,
            )
            if existing is not None and existing.record.contact != record.contact:
                self._stage(existing.record, delete=True)
            binding = Binding(
                record, uri, cseq, expires, status_text(source.transport, nat), auth_user, realm
            )
            bindings[uri] = binding
            self._stage(record)
            if announce:
                events.append(self._event(REGISTER_EVENT, binding, request))
        if bindings:
            self._aors[key] = bindings  # _remove() drops an emptied entry on the way
        else:
            self._aors.pop(key, None)
        return events

    def _remove(
        self, key: tuple[str, str], binding: Binding, name: str, request: Request | None
    ) -> Event | None:
        """Drop a binding; returns its event, or None when nobody listens for it."""
        bindings = self._aors.get(key)
        if bindings is not None:
            bindings.pop(binding.uri, None)
            if not bindings:
                del self._aors[key]
        self._stage(binding.record, delete=True)
        return self._event(name, binding, request) if self._wants(name) else None

    @staticmethod
    def _collect(events: list[Event], event: Event | None) -> None:
        if event is not None:
            events.append(event)

    def _wants(self, name: str) -> bool:
        """Is an event worth building?  Not without a bus, nor when nobody listens for it."""
        return self.fire is not None and (self.wanted is None or self.wanted("CUSTOM", name))

    # ---- events ---------------------------------------------------------------------------------

    def _event(self, name: str, binding: Binding, request: Request | None) -> Event:
        record = binding.record
        if name == EXPIRE_EVENT:
            headers = {
                "profile-name": self.profile_name,
                "call-id": record.call_id,
                "user": record.user,
                "host": record.realm,
                "contact": record.contact,
                "expires": str(int(record.expires_at.timestamp())),
                "user-agent": record.user_agent,
            }
            return Event.create("CUSTOM", name, **headers)
        from_uri = request.from_addr.uri if request is not None else None
        headers = {
            "profile-name": self.profile_name,
            "from-user": record.user,
            "from-host": record.realm,
        }
        if name == REGISTER_EVENT:
            headers["presence-hosts"] = record.realm
        headers.update({"contact": record.contact, "call-id": record.call_id, "rpid": "unknown"})
        if name == REGISTER_EVENT:
            headers.update(
                {
                    "status": binding.status,
                    "expires": str(binding.expires),
                    "to-user": (from_uri.user or "") if from_uri is not None else "",
                    "to-host": from_uri.host if from_uri is not None else "",
                    "network-ip": record.network_ip,
                    "network-port": str(record.network_port),
                    "username": binding.auth_user,
                    "realm": binding.auth_realm,
                    "user-agent": record.user_agent,
                }
            )
        else:
            headers["expires"] = "0"
        return Event.create("CUSTOM", name, **headers)

    def _fire(self, event: Event | None) -> None:
        if self.fire is not None and event is not None:
            self.fire(event)

    # ---- lookups ----------------------------------------------------------------------------------

    def _domain_names(self, domain: str) -> list[str]:
        names = [domain]
        directory = self.directory()
        found = directory.domain(domain) if directory is not None else None
        if found is not None:
            names += [getattr(found, "name", domain), *getattr(found, "aliases", ())]
        return list(dict.fromkeys(n.lower() for n in names))

    def bindings(self, user: str | None = None, domain: str | None = None) -> list[Binding]:
        """Current bindings (all, one user's, or one user's in one domain), oldest first."""
        now = self.clock()
        out: list[Binding] = []
        domains = set(self._domain_names(domain)) if domain is not None else None
        for (u, d), bindings in self._aors.items():
            if user is not None and u != user.lower():
                continue
            if domains is not None and d not in domains:
                continue
            out += [b for b in bindings.values() if b.record.expires_at.timestamp() > now]
        return sorted(out, key=lambda b: b.registered_at)

    async def contacts(self, user: str, domain: str) -> list[RegistrationRecord]:
        """The registered contacts of user@domain (this node's first, then the store's)."""
        found = [b.record for b in self.bindings(user, domain)]
        if found:
            return found
        store = self.store()
        if store is None:
            return []
        try:
            rows: list[RegistrationRecord] = []
            for name in self._domain_names(domain):
                rows += await store.aregistrations(profile=self.profile_name, user=user, realm=name)
            return rows
        except Exception as exc:
            log.warning("sofia profile '%s': registration lookup failed: %s", self.profile_name, exc)
            return []

    def count(self) -> int:
        return sum(len(b) for b in self._aors.values())

    # ---- expiry ---------------------------------------------------------------------------------

    def sweep(self, now: float | None = None) -> list[RegistrationRecord]:
        """Remove expired bindings, firing `sofia::expire` for each; returns them."""
        now = self.clock() if now is None else now
        gone: list[RegistrationRecord] = []
        for key, bindings in list(self._aors.items()):
            for binding in list(bindings.values()):
                if binding.record.expires_at.timestamp() <= now:
                    self._fire(self._remove(key, binding, EXPIRE_EVENT, None))
                    gone.append(binding.record)
        return gone

    def flush_user(self, user: str | None = None, domain: str | None = None) -> int:
        """Drop bindings at once (`flush_inbound_reg`), firing `sofia::unregister`."""
        removed = 0
        for binding in self.bindings(user, domain):
            key = _key(binding.record.user, binding.record.realm)
            self._fire(self._remove(key, binding, UNREGISTER_EVENT, None))
            removed += 1
        return removed

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval)
            try:
                self.sweep()
            except Exception:
                log.exception("sofia profile '%s': expiry sweep failed", self.profile_name)

    # ---- write-behind to the store ---------------------------------------------------------------

    def _stage(self, record: RegistrationRecord, *, delete: bool = False) -> None:
        if self.store() is None:
            return
        self._dirty[(record.user, record.realm, record.contact)] = None if delete else record
        if self._wake is not None:
            self._wake.set()

    async def _write_loop(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self.settings.write_delay)  # gather a batch
            await asyncio.shield(self.flush())

    async def flush(self) -> None:
        """Write every staged change now."""
        store = self.store()
        if store is None:
            return
        async with self._write_lock:  # batches are written in order, one at a time
            if not self._dirty:
                return
            batch, self._dirty = self._dirty, {}
            try:
                await asyncio.to_thread(self._write, store, batch)
            except Exception as exc:
                log.warning("sofia profile '%s': storing registrations failed: %s", self.profile_name, exc)

    def _write(self, store: Store, batch: dict[tuple[str, str, str], RegistrationRecord | None]) -> None:
        try:
            store.write_registrations(self.profile_name, ((*key, record) for key, record in batch.items()))
            return
        except Exception as exc:  # one bad row must not lose the others: write them one by one
            log.warning(
                "sofia profile '%s': batch of %d registrations failed (%s), writing one by one",
                self.profile_name,
                len(batch),
                exc,
            )
        for (user, realm, contact), record in batch.items():
            if record is None:
                store.delete_registration(self.profile_name, user, realm, contact)
            else:
                store.upsert_registration(record)


__all__ = [
    "EXPIRE_EVENT",
    "REGISTER_EVENT",
    "UNREGISTER_EVENT",
    "Binding",
    "Registrar",
    "RegistrarSettings",
    "detect_nat",
    "fs_contact",
    "original_uri",
    "split_fs_path",
    "status_text",
]
