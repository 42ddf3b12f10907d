"""kamailio as a third-party registrar/proxy ("the provider") for gateway and interop tests.

``Kamailio(port, users={"alice": "secret"})`` writes a ~60-line kamailio.cfg (no database: users
in an htable seeded at start-up, registrations in memory), starts
``kamailio -f cfg -P pid -w dir -Y dir -E -DD`` and waits until it answers OPTIONS.

What the config does, in order (RFC 3261 proxy behaviour, section 16):
  * OPTIONS to the proxy itself: 200.
  * In-dialog requests: ``loose_route`` + ``t_relay`` (ACK/CANCEL via their transaction).
  * REGISTER: digest (RFC 3261 22.4, 401 ``www_challenge``) against the htable, then ``save``.
  * INVITE/MESSAGE/REFER/SUBSCRIBE from outside ``trusted_ports``: digest via 407 ``proxy_challenge``.
  * ``routes``: R-URI users matching a regex go to a fixed next hop (e.g. the switch as a trunk).
  * Everything else: ``lookup("location")`` then ``t_relay``, 404 for unknown users.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from .process import PeerProcess
from .sipping import LOOPBACK, wait_for_sip

KAMAILIO = "kamailio"
MODULE_DIR = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
MODULES = (
    "tm",
    "sl",
    "rr",
    "pv",
    "maxfwd",
    "usrloc",
    "registrar",
    "textops",
    "siputils",
    "xlog",
    "auth",
    "htable",
    "kex",
    "corex",
)
_SAFE = re.compile(r"^[A-Za-z0-9_.+\-]+$")


class KamailioError(RuntimeError):
    """kamailio did not start (the message carries its log tail)."""


def _check_safe(kind: str, value: str) -> str:
    if not _SAFE.match(value):
        raise ValueError(f"{kind} {value!r} must match {_SAFE.pattern} (it is pasted into kamailio.cfg)")
    return value


def render_config(
    port: int,
    users: dict[str, str],
    *,
    routes: dict[str, str] | None = None,
    trusted_ports: list[int] | None = None,
    tcp: bool = True,
    auth_invites: bool = True,
    debug: int = 2,
) -> str:
    """The kamailio.cfg text (kamailio 5.6 syntax; it has no startup_route, hence the htable event)."""
    seeds = "\n".join(
        f'    $sht(users=>{_check_safe("user", u)}) = "{_check_safe("password", p)}";'
        for u, p in users.items()
    )
    listen = f"listen=udp:{LOOPBACK}:{port}\n" + (f"listen=tcp:{LOOPBACK}:{port}\n" if tcp else "")
    trusted = " || ".join(f"$sp == {int(p)}" for p in (trusted_ports or []))
    trusted_check = f"!({trusted})" if trusted else "1 == 1"
    route_lines = []
    for pattern, next_hop in (routes or {}).items():
        if '"' in pattern or '"' in next_hop:
            raise ValueError("route patterns and next hops must not contain double quotes")
        route_lines.append(
            f'    if ($rU =~ "{pattern}") {{ $du = "{next_hop}"; xlog("L_INFO", "route $rU -> $du\\n"); '
            f"t_relay(); exit; }}"
        )
    loads = "\n".join(f'loadmodule "{m}.so"' for m in MODULES)
    auth_block = (
        f"""    if (is_method("INVITE|MESSAGE|REFER|SUBSCRIBE") && {trusted_check}) {{
        $avp(pw) = $sht(users=>$fU);
        if (!pv_auth_check("$fd", "$avp(pw)", "0", "1")) {{ proxy_challenge("$fd", "0"); exit; }}
        consume_credentials();
    }}
"""
        if auth_invites
        else ""
    )
    return f"""#!KAMAILIO
# written by tests/peers/kamailio.py
debug={debug}
log_stderror=yes
fork=yes
children=2
tcp_children=2
disable_tcp={"no" if tcp else "yes"}
auto_aliases=no
dns=no
rev_dns=no
{listen}alias="{LOOPBACK}:{port}"
mpath="{MODULE_DIR}"
{loads}

modparam("htable", "htable", "users=>size=8;")
modparam("usrloc", "db_mode", 0)
modparam("registrar", "max_expires", 3600)
modparam("rr", "enable_full_lr", 1)

event_route[htable:mod-init] {{
{seeds}
}}

request_route {{
    xlog("L_INFO", "$rm $ru from $si:$sp (From $fu)\\n");
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (is_method("OPTIONS") && uri == myself && $rU == $null) {{ sl_send_reply("200", "OK"); exit; }}
    if (has_totag()) {{
        if (loose_route()) {{ t_relay(); exit; }}
        if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    t_check_trans();
    if (is_method("REGISTER")) {{
        $avp(pw) = $sht(users=>$fU);
        if (!pv_auth_check("$fd", "$avp(pw)", "0", "1")) {{ www_challenge("$fd", "0"); exit; }}
        consume_credentials();
        if (!save("location")) {{ sl_reply_error(); }}
        exit;
    }}
{auth_block}    if (is_method("INVITE|SUBSCRIBE")) {{ record_route(); }}
{chr(10).join(route_lines)}
    if (!lookup("location")) {{ sl_send_reply("404", "Not Found"); exit; }}
    t_relay();
}}
"""


class Kamailio:
    """A running kamailio on ``127.0.0.1:port`` (UDP, and TCP unless ``tcp=False``)."""

    def __init__(
        self,
        port: int,
        users: dict[str, str],
        *,
        workdir: str | Path | None = None,
        start_timeout: float = 10.0,
        **config: Any,
    ) -> None:
        self.port = port
        self.users = dict(users)
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix=f"kamailio-{port}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / "kamailio.cfg"
        self.config_path.write_text(render_config(port, users, **config))
        argv = [
            KAMAILIO,
            "-f",
            self.config_path,
            "-P",
            self.workdir / "kamailio.pid",
            "-w",
            self.workdir,
            "-Y",
            self.workdir,
            "-E",
            "-DD",
            "-m",
            "32",
            "-M",
            "4",
        ]
        self.process = PeerProcess(
            [str(a) for a in argv], log_path=self.workdir / "kamailio.log", cwd=self.workdir
        )
        try:
            wait_for_sip(LOOPBACK, port, timeout=start_timeout)
        except TimeoutError as exc:
            tail = self.process.log_tail(30)
            self.close()
            raise KamailioError(f"kamailio on port {port} did not come up: {exc}\n{tail}") from exc

    @property
    def registrar(self) -> str:
        """The registrar URI for ``Phone.register`` / baresip accounts."""
        return f"sip:{LOOPBACK}:{self.port}"

    @property
    def domain(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def uri(self, user: str) -> str:
        """``sip:user@127.0.0.1:port``: a user reached through this proxy."""
        return f"sip:{user}@{LOOPBACK}:{self.port}"

    def log_tail(self, lines: int = 40) -> str:
        return self.process.log_tail(lines)

    def close(self) -> None:
        self.process.stop(timeout=5.0)

    def __enter__(self) -> Kamailio:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
