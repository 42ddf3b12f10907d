"""Digest authentication of requests against the user directory.

RFC 3261 22.2-22.4 (401/407 challenges, credentials), RFC 7616 (the digest
computation, stale nonces), RFC 8760 (SHA-256 for SIP, offered before MD5).
The registrar uses it for REGISTER (401, WWW-Authenticate) and the call layer
for INVITE with auth-calls and the other methods that act for a user (407,
Proxy-Authenticate):

    outcome = await profile.auth.check(request, source, realm, kind="proxy")
    if not outcome.ok:
        await outcome.reply(incoming)      # 407 challenge, or 403
        return

Rules that hold whatever the caller:
- The digest username must be the user the request speaks for: the To user
  of a REGISTER (its address-of-record), the From user otherwise.
- An unknown user and a wrong password look the same from outside: both get
  403 after the same work (a digest is computed either way), so a scanner
  cannot tell which extensions exist.
- Every failure logs one line in FreeSWITCH's fail2ban format,
  `SIP auth failure (REGISTER) on sofia profile 'internal' for [1000@127.0.0.1] from ip 127.0.0.1`,
  and fires `sofia::register_failure`.
- Repeated failures from one address are answered more and more slowly, and
  past `max_failures` within `window` seconds the address is refused (403,
  no challenge) for `ban` seconds (`AuthThrottle`, time as an input).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Protocol

from switchcore.events import Event

from .digest import Algorithm, AuthResult, Credentials, DigestServer, UnsupportedAlgorithm
from .headers import AuthHeader
from .message import Request, Response, make_response, new_tag
from .tu import Incoming, Source
from .uri import ParseError, quote_string

if TYPE_CHECKING:
    from switchcore.directory import User

log = logging.getLogger("mod_sofia.auth")

FAILURE_EVENT = "sofia::register_failure"


class DirectoryLike(Protocol):
    def user(self, user: str, domain: str) -> User | None: ...


@dataclass(frozen=True, slots=True)
class AuthOutcome:
    """The verdict on a request's credentials.

    `ok` with `user` (the directory user id) in `domain`; otherwise `status` /
    `reason` / `headers` are what to answer: 401 / 407 with a challenge, or 403.
    `response` is the same as a (status, reason, headers) tuple.
    """

    ok: bool
    user: str = ""
    domain: str = ""
    username: str = ""
    realm: str = ""
    status: int = 0
    reason: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    directory_user: User | None = None

    @property
    def challenged(self) -> bool:
        return self.status in (401, 407)

    @property
    def response(self) -> tuple[int, str, tuple[tuple[str, str], ...]] | None:
        """(status, reason, headers) to answer with; None when ok."""
        return None if self.ok else (self.status, self.reason, self.headers)

    async def reply(self, incoming: Incoming) -> Response | None:
        """Answer `incoming` with the challenge or refusal (nothing when ok)."""
        if self.ok:
            return None
        return await incoming.respond(self.status, self.reason, self.headers)

    def as_response(self, request: Request) -> Response | None:
        """The same answer as a stateless response to `request`."""
        if self.ok:
            return None
        return make_response(request, self.status, self.reason, to_tag=new_tag(), headers=self.headers)


# Every REGISTER gets an outcome (a challenge, then a success): built through the slot
# descriptors, positionally, instead of the frozen dataclass's keyword `__init__`
# (about half the time; as `message.new_request` does for requests).
_SET_OUTCOME = tuple(AuthOutcome.__dict__[f.name].__set__ for f in fields(AuthOutcome))


def _outcome(
    ok: bool,
    user: str,
    domain: str,
    username: str,
    realm: str,
    status: int,
    reason: str,
    headers: tuple[tuple[str, str], ...],
    directory_user: User | None,
) -> AuthOutcome:
    """`AuthOutcome(...)` with every field given, quicker."""
    outcome: AuthOutcome = object.__new__(AuthOutcome)
    set_ok, set_user, set_domain, set_username, set_realm, set_status, set_reason, set_headers, set_du = _SET_OUTCOME
    set_ok(outcome, ok)
    set_user(outcome, user)
    set_domain(outcome, domain)
    set_username(outcome, username)
    set_realm(outcome, realm)
    set_status(outcome, status)
    set_reason(outcome, reason)
    set_headers(outcome, headers)
    set_du(outcome, directory_user)
    return outcome


@dataclass(slots=True)
class _Record:
    failures: list[float] = field(default_factory=list)
    banned_until: float = 0.0


class AuthThrottle:
    """Per-address failure counting: slow down, then refuse (sans I/O: `now` is an input).

    `max_failures` 0 turns it off.  The n-th failure within `window` is answered
    after `delay(n)` seconds (0 for the first, then `step` more each time, at
    most `max_delay`); reaching `max_failures` refuses the address for `ban`
    seconds.  A success clears the address's count.
    """

    def __init__(
        self,
        max_failures: int = 5,
        window: float = 60.0,
        ban: float = 300.0,
        *,
        step: float = 0.5,
        max_delay: float = 2.0,
        max_tracked: int = 100_000,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.ban = ban
        self.step = step
        self.max_delay = max_delay
        self.max_tracked = max_tracked
        self._records: dict[str, _Record] = {}

    @property
    def enabled(self) -> bool:
        return self.max_failures > 0

    def blocked(self, ip: str, now: float) -> bool:
        record = self._records.get(ip)
        return record is not None and record.banned_until > now

    def blocked_for(self, ip: str, now: float) -> float:
        record = self._records.get(ip)
        return max(0.0, record.banned_until - now) if record is not None else 0.0

    def failure(self, ip: str, now: float) -> tuple[int, bool]:
        """Count a failure: (failures within the window, whether the address is now refused)."""
        if not self.enabled:
            return 0, False
        record = self._records.get(ip)
        if record is None:
            if len(self._records) >= self.max_tracked:
                self.prune(now)
            record = self._records[ip] = _Record()
        record.failures = [t for t in record.failures if now - t < self.window]
        record.failures.append(now)
        count = len(record.failures)
        newly = False
        if count >= self.max_failures and self.ban > 0 and record.banned_until <= now:
            record.banned_until = now + self.ban
            newly = True
        return count, newly

    def delay(self, count: int) -> float:
        if not self.enabled or count <= 1:
            return 0.0
        return min(self.max_delay, self.step * (count - 1))

    def success(self, ip: str) -> None:
        record = self._records.get(ip)
        if record is not None and record.banned_until == 0.0:
            del self._records[ip]

    def prune(self, now: float) -> None:
        self._records = {
            ip: r
            for ip, r in self._records.items()
            if r.banned_until > now or any(now - t < self.window for t in r.failures)
        }

    def unblock(self, ip: str | None = None) -> None:
        if ip is None:
            self._records.clear()
        else:
            self._records.pop(ip, None)


_HEADER = {"www": ("WWW-Authenticate", "Authorization", 401, "Unauthorized")}
_HEADER["proxy"] = ("Proxy-Authenticate", "Proxy-Authorization", 407, "Proxy Authentication Required")


class Authenticator:
    """Checks digest credentials of one profile's requests against the directory."""

    def __init__(
        self,
        profile_name: str,
        directory: Callable[[], DirectoryLike | None],
        *,
        challenge_realm: str = "auto_to",
        force_domain: str | None = None,
        nonce_ttl: float = 60.0,
        algorithms: Sequence[Algorithm] = (Algorithm.MD5,),
        throttle: AuthThrottle | None = None,
        fire: Callable[[Event], None] | None = None,
        secret: bytes | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        log_failures: bool = True,
    ) -> None:
        self.profile_name = profile_name
        self.directory = directory
        self.challenge_realm = challenge_realm
        self.force_domain = force_domain
        # Nonces are stamped to the millisecond, so phones challenged together share one:
        # replayed nc values are tracked here per (nonce, user, cnonce), not per nonce.
        self.server = DigestServer(secret, nonce_ttl=nonce_ttl, algorithms=algorithms, track_nc=False)
        self._nc_seen: dict[tuple[str, str, str], tuple[int, float]] = {}
        self._nc_order: deque[tuple[float, tuple[str, str, str]]] = deque()  # first seen, oldest first
        self._order = sorted(self.server.algorithms, key=lambda a: -a.strength)
        # (domain, user id) -> (the User, its password, its a1-hash): a user's params are
        # looked up by name without case, the same two on every REGISTER.  Kept while the
        # directory hands out the same User object (a reloadxml makes new ones).
        self._secrets: dict[tuple[str, str], tuple[User, str | None, str | None]] = {}
        self.max_tracked = 100_000
        self.throttle = throttle or AuthThrottle()
        self.fire = fire
        self.clock = clock
        self.sleep = sleep
        self.log_failures = log_failures
        self.failures = 0

    def realm_for(self, request: Request) -> str:
        """The realm to challenge `request` in (FreeSWITCH's challenge-realm: auto_to, auto_from or a name)."""
        rule = self.challenge_realm
        try:
            if rule == "auto_from":
                return request.from_addr.uri.host
            if rule in ("auto_to", ""):
                return request.to_addr.uri.host
        except ParseError:
            return ""
        return rule

    # -- challenges --
    def challenge_headers(
        self,
        realm: str,
        kind: str = "www",
        *,
        stale: bool = False,
        algorithms: Sequence[Algorithm] | None = None,
    ) -> list[tuple[str, str]]:
        """One challenge header per algorithm, strongest first (RFC 8760 2.4).

        Written as `digest.Challenge.header_value` writes it, without building one."""
        name = _HEADER[kind][0]
        nonce = self.server.make_nonce(realm, self.clock())
        offered = [a for a in self._order if algorithms is None or a in algorithms] or list(self._order)
        tail = ', qop="auth"' + (", stale=true" if stale else "")
        quoted = quote_string(realm)
        return [(name, f'Digest realm={quoted}, nonce="{nonce}", algorithm={a.value}{tail}') for a in offered]

    def _challenge(
        self, realm: str, kind: str, *, stale: bool = False, algorithms: Sequence[Algorithm] | None = None
    ) -> AuthOutcome:
        _, _, status, reason = _HEADER[kind]
        headers = tuple(self.challenge_headers(realm, kind, stale=stale, algorithms=algorithms))
        return _outcome(False, "", "", "", realm, status, reason, headers, None)

    # -- verification --
    async def check(
        self,
        request: Request,
        source: Source,
        realm: str | None = None,
        kind: str = "www",
        domain: str | None = None,
    ) -> AuthOutcome:
        """Verify the request's credentials for `realm` (default: `realm_for(request)`).

        The user is looked up in `domain`, by default the profile's
        force-register-domain, else the realm (as FreeSWITCH's sofia_reg_parse_auth).
        A failure from an address that failed before is answered after a delay.
        """
        outcome, delay = self.verify(request, source, realm, kind, domain)
        if delay > 0:
            await self.sleep(delay)
        return outcome

    def verify(
        self,
        request: Request,
        source: Source,
        realm: str | None = None,
        kind: str = "www",
        domain: str | None = None,
    ) -> tuple[AuthOutcome, float]:
        """`check` without waiting: the outcome and how long to wait before answering it."""
        if realm is None:
            realm = self.realm_for(request)
        if kind not in _HEADER:
            raise ValueError(f"kind must be 'www' or 'proxy', not {kind!r}")
        now = self.clock()
        ip = source.addr[0]
        if self.throttle.blocked(ip, now):
            log.debug(
                "sofia profile '%s': %s from blocked ip %s refused", self.profile_name, request.method, ip
            )
            return AuthOutcome(False, realm=realm, status=403, reason="Forbidden"), 0.0
        credentials = _credentials_for(request, _HEADER[kind][1], realm)
        if credentials is None:
            return self._challenge(realm, kind), 0.0
        lookup_domain = domain or self.force_domain or realm
        directory = self.directory()
        user = directory.user(credentials.username, lookup_domain) if directory is not None else None
        aor_user = _aor_user(request)
        if user is not None:
            password, stored = self._secrets_of(user)
            if password is None and stored is not None and credentials.algorithm not in _MD5:
                # a1-hash is H(user:realm:password) with MD5 only: ask again, MD5 this time.
                return self._challenge(realm, kind, algorithms=(Algorithm.MD5,)), 0.0
            if password is None and stored is None:
                # FreeSWITCH lets such a user in with any credentials; we refuse, after the same work.
                log.warning("user %s@%s has neither password nor a1-hash; refused", user.id, user.domain)
                password, user = secrets.token_hex(8), None
            result = self.server.verify(
                credentials,
                request.method,
                realm,
                now,
                password=password,
                stored_ha1=stored,
                body=request.body,
            )
            same_user = aor_user is not None and (
                aor_user.lower() == credentials.username.lower()
                or (directory is not None and directory.user(aor_user, lookup_domain) is user)
            )
        else:
            # Same work as a real check, then the same answer as a wrong password.
            result = self.server.verify(
                credentials, request.method, realm, now, password=secrets.token_hex(8), body=request.body
            )
            if result in (AuthResult.OK, AuthResult.STALE, AuthResult.REPLAY):
                result = AuthResult.BAD_RESPONSE
            same_user = False
        if result is AuthResult.OK and user is not None:
            result = self._check_nc(credentials, now)
        if result is AuthResult.STALE:
            return self._challenge(realm, kind, stale=True), 0.0
        if result in (AuthResult.BAD_NONCE, AuthResult.UNSUPPORTED):
            return self._challenge(realm, kind), 0.0
        if result is AuthResult.OK and same_user and user is not None:
            self.throttle.success(ip)
            return _outcome(True, user.id, user.domain, credentials.username, realm, 0, "", (), user), 0.0
        return self._fail(request, source, realm, credentials.username)

    def _secrets_of(self, user: User) -> tuple[str | None, str | None]:
        """The user's password and a1-hash, remembered per directory User object."""
        key = (user.domain, user.id)
        found = self._secrets.get(key)
        if found is None or found[0] is not user:
            if len(self._secrets) >= 10_000:  # bounded: one entry per user that registers
                self._secrets.clear()
            found = self._secrets[key] = (user, user.password, user.a1_hash)
        return found[1], found[2]

    def _check_nc(self, credentials: Credentials, now: float) -> AuthResult:
        """RFC 7616 3.4.5: each request with a nonce carries a higher nc (qop only).

        The counter is kept per (nonce, user, cnonce): the cnonce is inside the
        hashed response, so a replay cannot change it, and two phones that got
        the same nonce count separately."""
        if credentials.qop is None:
            return AuthResult.OK
        try:
            nc = int(credentials.nc or "", 16)
        except ValueError:
            return AuthResult.BAD_RESPONSE
        key = (credentials.nonce, credentials.username.lower(), credentials.cnonce or "")
        table = self._nc_seen
        seen = table.get(key)
        if seen is not None and nc <= seen[0]:
            return AuthResult.REPLAY
        # A counter first seen more than a nonce lifetime ago belongs to a nonce issued
        # before that, stale by now (answered STALE before its nc is looked at): forget
        # those, oldest first, a few at a time.  (`max_tracked` only says when that used to
        # be done.)  At 2,000 registrations a second that is still 120,000 counters.
        order = self._nc_order
        ttl = self.server.nonce_ttl
        while order and now - order[0][0] > ttl:
            first_seen, old = order.popleft()
            found = table.get(old)
            if found is not None and found[1] == first_seen:
                del table[old]
        if seen is None:
            table[key] = (nc, now)
            order.append((now, key))
        else:
            table[key] = (nc, seen[1])
        return AuthResult.OK

    def _fail(self, request: Request, source: Source, realm: str, username: str) -> tuple[AuthOutcome, float]:
        ip, port = source.addr
        now = self.clock()
        self.failures += 1
        count, newly_blocked = self.throttle.failure(ip, now)
        user_part, host_part = _aor(request)
        if self.log_failures:
            log.warning(
                "SIP auth failure (%s) on sofia profile '%s' for [%s@%s] from ip %s",
                request.method,
                self.profile_name,
                user_part,
                host_part,
                ip,
            )
        if newly_blocked:
            log.warning(
                "SIP auth blocked on sofia profile '%s': ip %s failed %d times in %.0f s, refused for %.0f s",
                self.profile_name,
                ip,
                count,
                self.throttle.window,
                self.throttle.ban,
            )
        if self.fire is not None:
            self.fire(
                Event.create(
                    "CUSTOM",
                    FAILURE_EVENT,
                    **{
                        "profile-name": self.profile_name,
                        "to-user": user_part,
                        "to-host": host_part,
                        "network-ip": ip,
                        "network-port": str(port),
                        "user-agent": request.get("User-Agent", "") or "",
                        "registration-type": "register" if request.method == "REGISTER" else "invite",
                        "auth-method": request.method,
                        "auth-username": username,
                        "auth-realm": realm,
                        "auth-fail-count": str(count),
                        "auth-blocked": "true" if self.throttle.blocked(ip, now) else "false",
                    },
                )
            )
        refused = AuthOutcome(False, realm=realm, username=username, status=403, reason="Forbidden")
        return refused, self.throttle.delay(count)


_MD5 = (Algorithm.MD5, Algorithm.MD5_SESS)


# The quoted-string as an unrolled loop ("normal* (special normal*)*"): Python's engine
# reads a run of plain characters in one step instead of trying an alternation per
# character, which made parsing credentials some 25 us a REGISTER.
_AUTH_PARAM = re.compile(r'\s*([A-Za-z0-9!%*+`\'~_.\-]+)\s*=\s*("[^"\\]*(?:\\.[^"\\]*)*"|[^\s,"]+)\s*(?:,|$)')
_ESCAPED = re.compile(r"\\(.)")
# The whole list, each item as `_AUTH_PARAM` reads it: when this matches, `findall`
# splits it into exactly those items.
_AUTH_PARAMS = re.compile(f"(?:{_AUTH_PARAM.pattern})+")


def _auth_header(value: str) -> AuthHeader:
    """Parse a credentials header; the common form in two regex passes, else `AuthHeader.parse`."""
    scheme, _, rest = value.strip().partition(" ")
    rest = rest.strip()
    if not rest or _AUTH_PARAMS.fullmatch(rest) is None:
        return AuthHeader.parse(value)
    params = [
        (name.lower(), _unquote(raw) if raw.startswith('"') else raw)
        for name, raw in _AUTH_PARAM.findall(rest)
    ]
    return AuthHeader(scheme, tuple(params))


def _unquote(raw: str) -> str:
    return _ESCAPED.sub(r"\1", raw[1:-1]) if "\\" in raw else raw[1:-1]


def _credentials_for(request: Request, header: str, realm: str) -> Credentials | None:
    """The Digest credentials of `request` for `realm`, if any can be read."""
    for value in request.get_all(header):
        try:
            params = _digest_params(value)
            if params is None:  # not the common form: the full parser decides
                parsed = _auth_header(value)
                if parsed.scheme.lower() != "digest":
                    continue
                params = parsed.as_dict()
            if params.get("realm") != realm:
                continue
            return Credentials.from_params(params)
        except (ParseError, UnsupportedAlgorithm):
            continue
    return None


def _digest_params(value: str) -> dict[str, str] | None:
    """The auth-params of a `Digest` header in the common form (what `_auth_header`
    then `AuthHeader.as_dict` give, without building the header); None otherwise."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    rest = rest.strip()
    if not rest:
        return None
    if "\\" not in rest:
        params = _plain_params(rest)
        if params is not None:
            return params
    if _AUTH_PARAMS.fullmatch(rest) is None:
        return None
    params = {}
    for name, raw in _AUTH_PARAM.findall(rest):
        name = name.lower()
        if name not in params:  # the first of a repeated name wins, as in `AuthHeader.get`
            params[name] = _unquote(raw) if raw.startswith('"') else raw
    return params


_PARAM_NAMES: set[str] = set()  # auth-param names found to be tokens: the same ten each time


def _plain_params(rest: str) -> dict[str, str] | None:
    """`_AUTH_PARAM` items split on commas, when no quoted value holds a comma, a quote or an
    escape (None otherwise, and the regular expressions decide): one pass of `str` methods
    instead of two of the regular-expression engine over some 300 characters."""
    params: dict[str, str] = {}
    for item in rest.split(","):
        name, eq, raw = item.partition("=")
        name = name.strip()
        raw = raw.strip()
        if not eq or not raw:
            return None
        if raw[0] == '"':
            value = raw[1:-1]
            if len(raw) < 2 or raw[-1] != '"' or '"' in value:
                return None
        elif '"' in raw or " " in raw or not raw.isprintable():
            return None  # `[^\\s,"]+`: no quote, no white space
        else:
            value = raw
        if name not in _PARAM_NAMES:
            if _PARAM_NAME.fullmatch(name) is None:
                return None
            if len(_PARAM_NAMES) < 256:  # bounded: names come from the network
                _PARAM_NAMES.add(name)
        key = name.lower()
        if key not in params:  # the first of a repeated name wins, as in `AuthHeader.get`
            params[key] = value
    return params


_PARAM_NAME = re.compile(r"[A-Za-z0-9!%*+`'~_.\-]+")


def _aor(request: Request) -> tuple[str, str]:
    """The user and host a request speaks for: To of a REGISTER, From otherwise."""
    try:
        uri = request.to_addr.uri if request.method == "REGISTER" else request.from_addr.uri
    except ParseError:
        return "", ""
    return uri.user or "", uri.host


def _aor_user(request: Request) -> str | None:
    user, _ = _aor(request)
    return user or None


__all__ = ["FAILURE_EVENT", "AuthOutcome", "AuthThrottle", "Authenticator"]
