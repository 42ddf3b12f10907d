"""HTTP Digest authentication for SIP: challenges, verification and answers.

RFC 3261 22.4 (digest in SIP), RFC 2617 / RFC 7616 (the computation, qop,
cnonce, nc, -sess algorithms) and RFC 8760 (SHA-256 for SIP; offer it before
MD5).  Server side: `DigestServer` makes challenges whose nonce carries its
issue time and an HMAC, so expiry (`nonce_ttl`) and forgery are checked without
state; replayed `nc` values are caught when `track_nc` is on.  Client side:
`answer()` computes credentials for a challenge (gateways registering to a
provider), `authorize()` re-issues a request with them.  Time is an input.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import secrets
import struct
from collections.abc import Iterable
from dataclasses import dataclass, fields

from .headers import AuthHeader
from .message import Request, Response, new_branch
from .uri import ParseError, SipError


class Algorithm(enum.Enum):
    MD5 = "MD5"
    MD5_SESS = "MD5-sess"
    SHA256 = "SHA-256"
    SHA256_SESS = "SHA-256-sess"

    @staticmethod
    def parse(text: str | None) -> Algorithm:
        """RFC 7616 3.3: an absent algorithm means MD5; names are case-insensitive."""
        if text is None:
            return Algorithm.MD5
        found = _ALGORITHMS.get(text.lower())
        if found is None:
            raise UnsupportedAlgorithm(text)
        return found

    @property
    def is_sess(self) -> bool:
        return self.value.endswith("-sess")

    @property
    def strength(self) -> int:
        return 2 if self in (Algorithm.SHA256, Algorithm.SHA256_SESS) else 1

    def hash(self, data: str | bytes) -> str:
        raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape")
        if self is Algorithm.MD5 or self is Algorithm.MD5_SESS:
            return hashlib.md5(raw, usedforsecurity=False).hexdigest()
        return hashlib.sha256(raw).hexdigest()


_ALGORITHMS = {alg.value.lower(): alg for alg in Algorithm}


class UnsupportedAlgorithm(SipError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unsupported digest algorithm {name!r}")
        self.name = name


# Values written as quoted-strings (RFC 7616 3.3 and 3.4); the rest are tokens.
_QUOTED_CHALLENGE = frozenset({"realm", "domain", "nonce", "opaque", "qop"})
_QUOTED_CREDENTIALS = frozenset({"username", "realm", "nonce", "uri", "response", "cnonce", "opaque"})


@dataclass(frozen=True, slots=True)
class Challenge:
    """A WWW-Authenticate / Proxy-Authenticate Digest challenge."""

    realm: str
    nonce: str
    algorithm: Algorithm = Algorithm.MD5
    qop: tuple[str, ...] = ("auth",)
    opaque: str | None = None
    stale: bool = False

    @staticmethod
    def from_header(header: AuthHeader) -> Challenge:
        if header.scheme.lower() != "digest":
            raise ParseError(f"not a Digest challenge: {header.scheme}")
        realm, nonce = header.get("realm"), header.get("nonce")
        if realm is None or nonce is None:
            raise ParseError("Digest challenge without realm or nonce")
        qop = tuple(q.strip() for q in (header.get("qop") or "").split(",") if q.strip())
        return Challenge(
            realm=realm,
            nonce=nonce,
            algorithm=Algorithm.parse(header.get("algorithm")),
            qop=qop,
            opaque=header.get("opaque"),
            stale=(header.get("stale") or "").lower() == "true",
        )

    def header_value(self) -> str:
        params: list[tuple[str, str]] = [("realm", self.realm), ("nonce", self.nonce)]
        if self.opaque is not None:
            params.append(("opaque", self.opaque))
        params.append(("algorithm", self.algorithm.value))
        if self.qop:
            params.append(("qop", ",".join(self.qop)))
        if self.stale:
            params.append(("stale", "true"))
        return AuthHeader("Digest", tuple(params)).format(_QUOTED_CHALLENGE)


@dataclass(frozen=True, slots=True)
class Credentials:
    """An Authorization / Proxy-Authorization Digest response."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: Algorithm = Algorithm.MD5
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    opaque: str | None = None

    @staticmethod
    def from_header(header: AuthHeader) -> Credentials:
        if header.scheme.lower() != "digest":
            raise ParseError(f"not Digest credentials: {header.scheme}")
        return Credentials.from_params(header.as_dict())

    @staticmethod
    def from_params(params: dict[str, str]) -> Credentials:
        """From the auth-params of a Digest header, by lower-case name (the first of a repeat)."""
        get = params.get
        username, realm, nonce, uri, response = (
            get("username"),
            get("realm"),
            get("nonce"),
            get("uri"),
            get("response"),
        )
        if username is None or realm is None or nonce is None or uri is None or response is None:
            missing = [name for name in _REQUIRED_CREDENTIALS if name not in params]
            raise ParseError(f"Digest credentials without {', '.join(missing)}")
        qop, nc, cnonce = get("qop"), get("nc"), get("cnonce")
        if qop is not None and (nc is None or cnonce is None):
            raise ParseError("Digest credentials with qop but without nc or cnonce")
        # Every REGISTER's credentials: the slots set through their descriptors, not the
        # frozen dataclass's keyword `__init__` (as `message.new_request`), about half the time.
        found: Credentials = object.__new__(Credentials)
        (set_username, set_realm, set_nonce, set_uri, set_response, set_algorithm, set_qop, set_nc,
         set_cnonce, set_opaque) = _SET_CREDENTIALS  # fmt: skip
        set_username(found, username)
        set_realm(found, realm)
        set_nonce(found, nonce)
        set_uri(found, uri)
        set_response(found, response.lower())
        set_algorithm(found, Algorithm.parse(get("algorithm")))
        set_qop(found, qop)
        set_nc(found, nc)
        set_cnonce(found, cnonce)
        set_opaque(found, get("opaque"))
        return found

    def header_value(self) -> str:
        params: list[tuple[str, str]] = [
            ("username", self.username),
            ("realm", self.realm),
            ("nonce", self.nonce),
            ("uri", self.uri),
            ("response", self.response),
            ("algorithm", self.algorithm.value),
        ]
        if self.qop is not None:
            params += [("qop", self.qop), ("nc", self.nc or ""), ("cnonce", self.cnonce or "")]
        if self.opaque is not None:
            params.append(("opaque", self.opaque))
        return AuthHeader("Digest", tuple(params)).format(_QUOTED_CREDENTIALS)


_REQUIRED_CREDENTIALS = ("username", "realm", "nonce", "uri", "response")
_SET_CREDENTIALS = tuple(Credentials.__dict__[f.name].__set__ for f in fields(Credentials))


def a1_hash(username: str, realm: str, password: str, algorithm: Algorithm = Algorithm.MD5) -> str:
    """H(username:realm:password), what a directory stores as `a1-hash` (RFC 7616 3.4.2)."""
    return algorithm.hash(f"{username}:{realm}:{password}")


# H(A1) and H(A2) of the last few users and Request-URIs: a phone answers every challenge
# with the same user, realm and password, and the same REGISTER Request-URI.  Bounded.
_HASHES: dict[tuple[Algorithm, str], str] = {}


def _remembered_hash(algorithm: Algorithm, text: str) -> str:
    key = (algorithm, text)
    found = _HASHES.get(key)
    if found is None:
        found = algorithm.hash(text)
        if len(_HASHES) >= 4096:
            _HASHES.clear()
        _HASHES[key] = found
    return found


def compute_response(
    *,
    ha1: str,
    method: str,
    uri: str,
    nonce: str,
    algorithm: Algorithm = Algorithm.MD5,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """The `response` value (RFC 7616 3.4.1; RFC 2069 form when qop is absent)."""
    h = algorithm.hash
    if algorithm.is_sess:
        ha1 = h(f"{ha1}:{nonce}:{cnonce or ''}")
    if qop == "auth-int":
        body_hash = algorithm.hash(body)
        ha2 = h(f"{method}:{uri}:{body_hash}")
    else:
        ha2 = _remembered_hash(algorithm, f"{method}:{uri}")
    if qop is None:
        return h(f"{ha1}:{nonce}:{ha2}")
    return h(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


# --- server side -------------------------------------------------------------------------------


class AuthResult(enum.Enum):
    OK = "ok"
    STALE = "stale"  # right password, expired nonce: challenge again with stale=true
    BAD_NONCE = "bad-nonce"  # not a nonce we issued (or for another realm)
    BAD_RESPONSE = "bad-response"  # wrong password (or tampered fields)
    REPLAY = "replay"  # nc not above the last one seen for this nonce
    UNSUPPORTED = "unsupported"  # algorithm or qop we did not offer

    @property
    def ok(self) -> bool:
        return self is AuthResult.OK


_MAC_BYTES = 16


class _Hmac:
    """HMAC-SHA256 under one key (RFC 2104) with the padded key hashed once.

    `hmac.digest()` sets up OpenSSL's HMAC afresh on every call, which costs more
    than the hash of a nonce; copying two prepared hash states does not."""

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:  # the SHA-256 block size
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def digest(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


_ISSUED_LIMIT = 16384
_URLSAFE = bytes.maketrans(b"+/", b"-_")


class DigestServer:
    """Issue and verify Digest challenges (registrar and auth-calls).

    Nonce layout: base64url(issue time, 8 bytes big-endian; HMAC-SHA256(secret,
    time | realm) truncated to 16 bytes).  It is unforgeable without the secret and
    tells its own age, so several processes sharing the secret agree on it.
    """

    def __init__(
        self,
        secret: bytes | None = None,
        *,
        nonce_ttl: float = 60.0,
        algorithms: Iterable[Algorithm] = (Algorithm.MD5,),
        qop: tuple[str, ...] = ("auth",),
        track_nc: bool = False,
        max_tracked: int = 100_000,
    ) -> None:
        self.secret = secret if secret is not None else secrets.token_bytes(32)
        self._mac = _Hmac(self.secret)
        self.nonce_ttl = nonce_ttl
        self.algorithms = tuple(algorithms)
        self.qop = qop
        self.track_nc = track_nc
        self.max_tracked = max_tracked
        self._nc_seen: dict[str, tuple[int, float]] = {}  # nonce -> (highest nc, issue time)
        # The nonces this server issued lately, with their times: the answer to a challenge
        # comes back within moments, and is then checked without decoding and hashing.
        self._issued: dict[tuple[str, str], float] = {}
        self._last_nonce: tuple[int, str, str] = (-1, "", "")

    def make_nonce(self, realm: str, now: float) -> str:
        millis = int(now * 1000)
        last = self._last_nonce
        if last[0] == millis and last[1] == realm:
            return last[2]  # the nonce is a function of the millisecond and the realm
        stamp = struct.pack(">Q", millis)
        mac = self._mac.digest(stamp + realm.encode("utf-8", "surrogateescape"))
        # base64url (RFC 4648 5) without padding, as `base64.urlsafe_b64encode` writes it.
        raw = binascii.b2a_base64(stamp + mac[:_MAC_BYTES], newline=False).translate(_URLSAFE)
        nonce = raw.decode().rstrip("=")
        issued = self._issued
        if len(issued) >= _ISSUED_LIMIT:
            # Forget the older half at once: taking the oldest one at a time would walk
            # the emptied slots at the front of the dict on every nonce issued.
            keep = list(issued.items())[_ISSUED_LIMIT // 2 :]
            self._issued = issued = dict(keep)
        issued[(nonce, realm)] = millis / 1000.0
        self._last_nonce = (millis, realm, nonce)
        return nonce

    def nonce_time(self, nonce: str, realm: str) -> float | None:
        """When the nonce was issued, or None if it is not one of ours for `realm`."""
        known = self._issued.get((nonce, realm))
        if known is not None:
            return known
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except ValueError:
            return None
        if len(raw) != 8 + _MAC_BYTES:
            return None
        stamp, mac = raw[:8], raw[8:]
        good = self._mac.digest(stamp + realm.encode("utf-8", "surrogateescape"))
        if not hmac.compare_digest(mac, good[:_MAC_BYTES]):
            return None
        return float(struct.unpack(">Q", stamp)[0]) / 1000.0

    def challenges(
        self, realm: str, now: float, *, stale: bool = False, opaque: str | None = None
    ) -> list[Challenge]:
        """One challenge per configured algorithm, strongest first (RFC 8760 2.4)."""
        nonce = self.make_nonce(realm, now)
        order = sorted(self.algorithms, key=lambda a: -a.strength)
        return [Challenge(realm, nonce, alg, self.qop, opaque, stale) for alg in order]

    def verify(
        self,
        credentials: Credentials,
        method: str,
        realm: str,
        now: float,
        *,
        password: str | None = None,
        stored_ha1: str | None = None,
        body: bytes = b"",
    ) -> AuthResult:
        """Check credentials against a password or a stored H(A1) for their algorithm."""
        if credentials.algorithm not in self.algorithms or credentials.qop not in (*self.qop, None):
            return AuthResult.UNSUPPORTED
        if credentials.qop is None and self.qop:
            return AuthResult.UNSUPPORTED  # RFC 2069 answers only when we offered no qop
        if credentials.realm != realm:
            return AuthResult.BAD_NONCE
        issued = self.nonce_time(credentials.nonce, realm)
        if issued is None or issued > now + 1.0:
            return AuthResult.BAD_NONCE
        if password is not None:
            ha1 = _remembered_hash(credentials.algorithm, f"{credentials.username}:{realm}:{password}")
        elif stored_ha1 is not None:
            ha1 = stored_ha1.lower()
        else:
            raise ValueError("verify() needs a password or a stored H(A1)")
        expected = compute_response(
            ha1=ha1,
            method=method,
            uri=credentials.uri,
            nonce=credentials.nonce,
            algorithm=credentials.algorithm,
            qop=credentials.qop,
            nc=credentials.nc,
            cnonce=credentials.cnonce,
            body=body,
        )
        if not hmac.compare_digest(expected, credentials.response):
            return AuthResult.BAD_RESPONSE
        # RFC 7616 3.5: a correct answer to an expired nonce gets stale=true.
        if now - issued > self.nonce_ttl:
            return AuthResult.STALE
        if self.track_nc and credentials.qop is not None:
            return self._check_nc(credentials, issued, now)
        return AuthResult.OK

    def _check_nc(self, credentials: Credentials, issued: float, now: float) -> AuthResult:
        try:
            nc = int(credentials.nc or "", 16)
        except ValueError:
            return AuthResult.BAD_RESPONSE
        seen = self._nc_seen.get(credentials.nonce)
        if seen is not None and nc <= seen[0]:
            return AuthResult.REPLAY
        if len(self._nc_seen) >= self.max_tracked:
            self.expire(now)
        self._nc_seen[credentials.nonce] = (nc, issued)
        return AuthResult.OK

    def expire(self, now: float) -> None:
        """Forget nc counters of nonces past their lifetime."""
        self._nc_seen = {n: v for n, v in self._nc_seen.items() if now - v[1] <= self.nonce_ttl}


# --- client side -------------------------------------------------------------------------------


def pick_challenge(response: Response) -> Challenge | None:
    """The strongest Digest challenge of a 401/407 we can answer (RFC 8760 2.4)."""
    name = "Proxy-Authenticate" if response.status == 407 else "WWW-Authenticate"
    found: list[Challenge] = []
    for value in response.get_all(name):
        try:
            header = AuthHeader.parse(value)
            if header.scheme.lower() == "digest":
                found.append(Challenge.from_header(header))
        except (ParseError, UnsupportedAlgorithm):
            continue
    return max(found, key=lambda c: c.algorithm.strength) if found else None


def answer(
    challenge: Challenge,
    *,
    method: str,
    uri: str,
    username: str,
    password: str | None = None,
    stored_ha1: str | None = None,
    cnonce: str | None = None,
    nc: int = 1,
    body: bytes = b"",
) -> Credentials:
    """Compute credentials for a challenge; qop=auth when offered, else RFC 2069 style."""
    if "auth" in challenge.qop:
        qop: str | None = "auth"
    elif "auth-int" in challenge.qop:
        qop = "auth-int"
    else:
        qop = None
    cnonce = cnonce if cnonce is not None else secrets.token_hex(8)
    nc_text = f"{nc:08x}"
    if password is not None:
        ha1 = a1_hash(username, challenge.realm, password, challenge.algorithm)
    elif stored_ha1 is not None:
        ha1 = stored_ha1
    else:
        raise ValueError("answer() needs a password or a stored H(A1)")
    response = compute_response(
        ha1=ha1,
        method=method,
        uri=uri,
        nonce=challenge.nonce,
        algorithm=challenge.algorithm,
        qop=qop,
        nc=nc_text if qop else None,
        cnonce=cnonce if qop else None,
        body=body,
    )
    return Credentials(
        username=username,
        realm=challenge.realm,
        nonce=challenge.nonce,
        uri=uri,
        response=response,
        algorithm=challenge.algorithm,
        qop=qop,
        nc=nc_text if qop else None,
        cnonce=cnonce if qop else None,
        opaque=challenge.opaque,
    )


def authorize(
    request: Request, response: Response, username: str, password: str, *, cnonce: str | None = None
) -> Request | None:
    """Re-issue `request` answering the 401/407 `response` (RFC 3261 22.2/22.3): same
    Call-ID, From tag and To, CSeq + 1, a new branch, the credentials header added.
    None when there is no Digest challenge we can answer."""
    challenge = pick_challenge(response)
    if challenge is None:
        return None
    credentials = answer(
        challenge,
        method=request.method,
        uri=request.uri,
        username=username,
        password=password,
        cnonce=cnonce,
        body=request.body,
    )
    name = "Proxy-Authorization" if response.status == 407 else "Authorization"
    via = request.top_via.with_param("branch", new_branch())
    cseq = request.cseq
    out = request.replace_header("CSeq", f"{cseq.number + 1} {cseq.method}")
    if len(request.vias) == 1:  # our own request: one Via, ours
        out = out.replace_header("Via", str(via))
    return out.without_header(name).with_header(name, credentials.header_value())
