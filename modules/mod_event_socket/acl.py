"""Network lists for `apply-inbound-acl` (FreeSWITCH's switch_core_acl: acl.conf.xml plus the .auto lists).

A list allows or denies an address by its most specific (longest-prefix)
matching node; an address no node matches gets the list's default.  A
connection is let in only when every list named in `apply-inbound-acl` allows
it (mod_event_socket.c listener_run).  A name that is no list but a CIDR
(`192.0.2.0/24`) allows exactly that network.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

log = logging.getLogger("mod_event_socket.acl")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_LOOPBACK = ("127.0.0.0/8", "::1/128")
_RFC1918 = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")


@dataclass(frozen=True, slots=True)
class Node:
    allow: bool
    network: Network


@dataclass(frozen=True, slots=True)
class NetworkList:
    """One named list: nodes, and what an address matching none of them gets."""

    name: str
    default_allow: bool
    nodes: tuple[Node, ...] = ()

    def allows(self, address: Address) -> bool:
        best: Node | None = None
        for node in self.nodes:
            if address.version != node.network.version or address not in node.network:
                continue
            if best is None or node.network.prefixlen >= best.network.prefixlen:
                best = node
        return self.default_allow if best is None else best.allow


def parse_address(text: str) -> Address:
    """An address, with IPv4-mapped IPv6 (`::ffff:127.0.0.1`) taken as the IPv4 address it carries."""
    address = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _allow_list(name: str, cidrs: Iterable[str]) -> NetworkList:
    nodes = tuple(Node(True, ipaddress.ip_network(c, strict=False)) for c in cidrs)
    return NetworkList(name, False, nodes)


def _local_networks() -> list[str]:
    """This machine's own networks, approximated as /24 (IPv4) and /64 (IPv6) around its addresses."""
    nets: set[str] = set(_LOOPBACK)
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None)
    except OSError:
        infos = []
    for info in infos:
        host = str(info[4][0])
        try:
            address = parse_address(host)
        except ValueError:
            continue
        prefix = 24 if address.version == 4 else 64
        nets.add(str(ipaddress.ip_network(f"{address}/{prefix}", strict=False)))
    return sorted(nets)


def builtin_lists() -> dict[str, NetworkList]:
    """The `.auto` lists FreeSWITCH builds at start-up."""
    localnet = _local_networks()
    private = _RFC1918 + _LOOPBACK + ("169.254.0.0/16", "fe80::/10")
    wan = NetworkList(
        "wan.auto", True, tuple(Node(False, ipaddress.ip_network(c)) for c in private)
    )
    nat_nodes = [Node(True, ipaddress.ip_network(c)) for c in _RFC1918]
    nat_nodes += [Node(False, ipaddress.ip_network(c)) for c in localnet]
    return {
        "loopback.auto": _allow_list("loopback.auto", _LOOPBACK),
        "localnet.auto": _allow_list("localnet.auto", localnet),
        "rfc1918.auto": _allow_list("rfc1918.auto", _RFC1918),
        "nat.auto": NetworkList("nat.auto", False, tuple(nat_nodes)),
        "wan.auto": wan,
        "any": _allow_list("any", ("0.0.0.0/0", "::/0")),
    }


def lists_from_element(element: object | None) -> dict[str, NetworkList]:
    """The `<network-lists>` of acl.conf (`<node type="allow|deny" cidr=...|host=... mask=...>`)."""
    lists: dict[str, NetworkList] = {}
    if element is None:
        return lists
    for lst in element.iterfind("network-lists/list"):  # type: ignore[attr-defined]
        name = lst.get("name")
        if not name:
            continue
        nodes: list[Node] = []
        for node in lst.iterfind("node"):
            cidr = node.get("cidr") or (f"{node.get('host')}/{node.get('mask')}" if node.get("host") else "")
            if not cidr:
                continue  # domain= nodes are the directory's business (the SIP ACL), not ours
            for part in cidr.split(","):
                try:
                    network = ipaddress.ip_network(part.strip(), strict=False)
                except ValueError:
                    log.warning("acl list %s: %r is not a network; node ignored", name, part)
                    continue
                nodes.append(Node(node.get("type", "allow").lower() == "allow", network))
        lists[name] = NetworkList(name, lst.get("default", "deny").lower() == "allow", tuple(nodes))
    return lists


class Acl:
    """The lists an `apply-inbound-acl` names, resolved once; `allows(ip)` needs every one to allow."""

    def __init__(self, names: Iterable[str], lists: Mapping[str, NetworkList] | None = None) -> None:
        known = builtin_lists()
        known.update(lists or {})
        self.names = tuple(names)
        self._lists: list[NetworkList | None] = []
        for name in self.names:
            if name in known:
                self._lists.append(known[name])
                continue
            try:
                self._lists.append(_allow_list(name, (name,)))
            except ValueError:
                log.warning("apply-inbound-acl %s names no network list; it denies everyone", name)
                self._lists.append(None)

    def allows(self, host: str) -> bool:
        try:
            address = parse_address(host)
        except ValueError:
            return False
        return all(lst is not None and lst.allows(address) for lst in self._lists)

    def denying(self, host: str) -> str:
        """The first list that refuses `host` ('' when all allow it), for the log line."""
        try:
            address = parse_address(host)
        except ValueError:
            return self.names[0] if self.names else ""
        for name, lst in zip(self.names, self._lists, strict=True):
            if lst is None or not lst.allows(address):
                return name
        return ""
