"""SIP dialogs (RFC 3261 12): identity, route set, remote target, CSeq, in-dialog requests.

Theory of operation
-------------------
A dialog is created by the UAS when it answers an INVITE with a tagged 1xx/2xx
(`Dialog.from_uas`, 12.1.1) and by the UAC when such a response arrives
(`Dialog.from_uac`, 12.1.2).  It is EARLY after a provisional response,
CONFIRMED after a 2xx and TERMINATED after a BYE, a failure of the INVITE that
created it, or a 481/408 to an in-dialog request (12.2.1.2).  The transitions
are a table; anything else raises InvalidTransition.

`create_request` builds in-dialog requests (BYE, re-INVITE, INFO, NOTIFY,
REFER, UPDATE...) with the next local CSeq and the Request-URI / Route headers
of 12.2.1.1 (loose routing, or the strict-routing rewrite when the first route
lacks `lr`); `create_ack` builds the ACK for a 2xx (13.2.2.4).
`receive_request` applies 12.2.2: CSeq ordering (lower -> 500) and target
refresh.  `DialogTable` finds the dialog of an incoming message.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from switchcore.errors import InvalidTransition

from .headers import Header, Via
from .message import Request, Response, new_branch
from .uri import URI, NameAddr, SipError, remove_param

log = logging.getLogger(__name__)


class DialogState(enum.Enum):
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


E, C, T = DialogState.EARLY, DialogState.CONFIRMED, DialogState.TERMINATED

TRANSITIONS: dict[tuple[DialogState, str], DialogState] = {
    (E, "1xx"): E,
    (E, "2xx"): C,
    (E, "failure"): T,  # 12.3: a non-2xx final to the INVITE ends its early dialogs
    (E, "bye"): T,
    (E, "terminate"): T,
    (C, "2xx"): C,  # retransmitted 2xx, or 2xx to a re-INVITE
    (C, "failure"): C,  # a failed re-INVITE leaves the dialog as it was (14.1)
    (C, "1xx"): C,
    (C, "bye"): T,
    (C, "terminate"): T,
    (T, "terminate"): T,
}

# RFC 3261 12.2 / RFC 3311 / RFC 6665 / RFC 3515: requests whose Contact refreshes the target.
TARGET_REFRESH = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})


class CSeqOutOfOrder(SipError):
    """RFC 3261 12.2.2: a request with a lower CSeq than the last one; answer 500."""

    status = 500


@dataclass(frozen=True, slots=True)
class DialogId:
    """Call-ID, local tag, remote tag: the same dialog seen from one side (12)."""

    call_id: str
    local_tag: str
    remote_tag: str

    @staticmethod
    def of_request(request: Request) -> DialogId:
        """The id a UAS gives an incoming in-dialog request (To tag is ours)."""
        return DialogId(request.call_id, request.to_tag or "", request.from_tag or "")

    @staticmethod
    def of_response(response: Response) -> DialogId:
        """The id a UAC gives a response (From tag is ours)."""
        return DialogId(response.call_id, response.from_tag or "", response.to_tag or "")


def _strip_tag(addr: NameAddr) -> NameAddr:
    return NameAddr(addr.uri, addr.display, remove_param(addr.params, "tag"))


class Dialog:
    """One dialog's state (RFC 3261 12.1)."""

    def __init__(
        self,
        *,
        call_id: str,
        local_tag: str,
        remote_tag: str,
        local_uri: NameAddr,
        remote_uri: NameAddr,
        remote_target: URI,
        route_set: tuple[NameAddr, ...] = (),
        local_seq: int | None = None,
        remote_seq: int | None = None,
        local_contact: NameAddr | None = None,
        secure: bool = False,
        state: DialogState = DialogState.CONFIRMED,
        is_uac: bool = True,
    ) -> None:
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote_tag = remote_tag
        self.local_uri = _strip_tag(local_uri)
        self.remote_uri = _strip_tag(remote_uri)
        self.remote_target = remote_target
        self.route_set = route_set
        self.local_seq = local_seq
        self.remote_seq = remote_seq
        self.local_contact = local_contact
        self.secure = secure
        self.state = state
        self.is_uac = is_uac

    def __repr__(self) -> str:
        return f"<Dialog {self.call_id} {self.local_tag}/{self.remote_tag} {self.state.value}>"

    @property
    def id(self) -> DialogId:
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    @staticmethod
    def from_uac(request: Request, response: Response) -> Dialog:
        """RFC 3261 12.1.2: the UAC's dialog from a tagged 1xx/2xx to its request."""
        remote_tag = response.to_tag
        if remote_tag is None or response.status >= 300 or response.status == 100:
            raise SipError("a dialog needs a 101-299 response with a To tag")
        contacts = response.contacts
        return Dialog(
            call_id=request.call_id,
            local_tag=request.from_tag or "",
            remote_tag=remote_tag,
            local_uri=request.from_addr,
            remote_uri=request.to_addr,
            remote_target=contacts[0].uri if contacts else request.ruri,
            route_set=tuple(reversed(response.record_routes)),
            local_seq=request.cseq.number,
            remote_seq=None,
            local_contact=request.contacts[0] if request.contacts else None,
            secure=request.ruri.scheme == "sips",
            state=DialogState.EARLY if response.status < 200 else DialogState.CONFIRMED,
            is_uac=True,
        )

    @staticmethod
    def from_uas(
        request: Request, local_tag: str, *, local_contact: NameAddr | None = None, early: bool = False
    ) -> Dialog:
        """RFC 3261 12.1.1: the UAS's dialog when it answers `request` with a tagged response."""
        contacts = request.contacts
        if not contacts:
            raise SipError("a dialog-creating request needs a Contact")
        return Dialog(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=request.from_tag or "",
            local_uri=request.to_addr,
            remote_uri=request.from_addr,
            remote_target=contacts[0].uri,
            route_set=tuple(request.record_routes),
            local_seq=None,
            remote_seq=request.cseq.number,
            local_contact=local_contact,
            secure=request.ruri.scheme == "sips",
            state=DialogState.EARLY if early else DialogState.CONFIRMED,
            is_uac=False,
        )

    # -- state --
    def _event(self, event: str) -> None:
        new = TRANSITIONS.get((self.state, event))
        if new is None:
            raise InvalidTransition(f"dialog {self.call_id}: no transition for {event} in {self.state.value}")
        if new is not self.state:
            log.debug("dialog %s: %s -> %s", self.call_id, self.state.value, new.value)
            self.state = new

    def terminate(self) -> None:
        self._event("terminate")

    @property
    def terminated(self) -> bool:
        return self.state is DialogState.TERMINATED

    # -- sending (12.2.1) --
    def _routing(self) -> tuple[URI, list[NameAddr]]:
        """Request-URI and Route values per RFC 3261 12.2.1.1."""
        if not self.route_set:
            return self.remote_target, []
        first = self.route_set[0]
        if first.uri.lr:
            return self.remote_target, list(self.route_set)
        # Strict router: it becomes the Request-URI (stripped of what a Request-URI may
        # not carry) and the remote target goes last in the Route header.
        ruri = first.uri.replace(headers=()).without_param("method")
        return ruri, [*self.route_set[1:], NameAddr(self.remote_target)]

    def create_request(
        self,
        method: str,
        via: Via | str,
        *,
        branch: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Request:
        """A new in-dialog request with the next local CSeq (12.2.1.1).

        `via` is our sent-by (`SIP/2.0/UDP 192.0.2.1:5060`); a fresh branch is added."""
        if self.terminated:
            raise SipError(f"dialog {self.call_id} is terminated")
        if method in ("ACK", "CANCEL"):
            raise ValueError("use create_ack() for ACK and transaction.make_cancel() for CANCEL")
        self.local_seq = (self.local_seq if self.local_seq is not None else 0) + 1
        return self._build(method, self.local_seq, via, branch, headers, body, content_type)

    def create_ack(
        self,
        invite_cseq: int,
        via: Via | str,
        *,
        branch: str | None = None,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Request:
        """The ACK for a 2xx to the INVITE with CSeq `invite_cseq` (13.2.2.4): built like any
        in-dialog request, with its own branch, but the INVITE's CSeq number."""
        return self._build("ACK", invite_cseq, via, branch, (), body, content_type)

    def _build(
        self,
        method: str,
        cseq: int,
        via: Via | str,
        branch: str | None,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        content_type: str | None,
    ) -> Request:
        ruri, routes = self._routing()
        top = via if isinstance(via, Via) else Via.parse(str(via))
        top = top.with_param("branch", branch or new_branch())
        to = NameAddr(self.remote_uri.uri, self.remote_uri.display, self.remote_uri.params)
        if self.remote_tag:
            to = to.with_tag(self.remote_tag)
        lines = [Header.make("Via", str(top)), Header.make("Max-Forwards", "70")]
        lines += [Header.make("Route", str(route)) for route in routes]
        lines += [
            Header.make("From", str(self.local_uri.with_tag(self.local_tag))),
            Header.make("To", str(to)),
            Header.make("Call-ID", self.call_id),
            Header.make("CSeq", f"{cseq} {method}"),
        ]
        if self.local_contact is not None and method in TARGET_REFRESH:
            lines.append(Header.make("Contact", str(self.local_contact)))
        lines += [Header.make(name, value) for name, value in headers]
        if content_type is not None:
            lines.append(Header.make("Content-Type", content_type))
        lines.append(Header.make("Content-Length", str(len(body))))
        return Request(method=method, uri=str(ruri), headers=tuple(lines), body=body)

    # -- receiving (12.2.2, 12.2.1.2, 13.2.2.4) --
    def receive_request(self, request: Request) -> None:
        """Apply an incoming in-dialog request: CSeq order, target refresh, BYE."""
        cseq = request.cseq.number
        if request.method not in ("ACK", "CANCEL"):
            if self.remote_seq is not None and cseq < self.remote_seq:
                raise CSeqOutOfOrder(f"CSeq {cseq} is lower than {self.remote_seq}")
            self.remote_seq = cseq
        if request.method in TARGET_REFRESH and request.contacts:
            self.remote_target = request.contacts[0].uri
        if request.method == "BYE":
            self._event("bye")

    def receive_response(self, response: Response) -> None:
        """Apply a response to one of our requests in this dialog (UAC side)."""
        method = response.cseq.method
        status = response.status
        if method == "INVITE":
            if 101 <= status < 200:
                self._event("1xx")
            elif 200 <= status < 300:
                if self.state is DialogState.EARLY:
                    # 13.2.2.4: the route set is recomputed from the 2xx.
                    self.route_set = tuple(reversed(response.record_routes))
                self._event("2xx")
            elif status >= 300:
                self._event("failure")
            if 101 <= status < 300 and response.contacts:
                self.remote_target = response.contacts[0].uri
        elif method in TARGET_REFRESH and 200 <= status < 300 and response.contacts:
            self.remote_target = response.contacts[0].uri
        # 12.2.1.2: 481 or 408 to an in-dialog request ends the dialog.
        if status in (481, 408) and not self.terminated:
            self.terminate()

    def matches_request(self, request: Request) -> bool:
        return DialogId.of_request(request) == self.id

    def matches_response(self, response: Response) -> bool:
        return DialogId.of_response(response) == self.id


class DialogTable:
    """The live dialogs of a stack, found by the id an incoming message carries."""

    def __init__(self) -> None:
        self._dialogs: dict[DialogId, Dialog] = {}

    def __len__(self) -> int:
        return len(self._dialogs)

    def add(self, dialog: Dialog) -> None:
        if dialog.id in self._dialogs:
            raise SipError(f"dialog {dialog.id} exists already")
        self._dialogs[dialog.id] = dialog

    def remove(self, dialog: Dialog) -> None:
        self._dialogs.pop(dialog.id, None)

    def get(self, dialog_id: DialogId) -> Dialog | None:
        return self._dialogs.get(dialog_id)

    def for_request(self, request: Request) -> Dialog | None:
        """12.2.2: a request with a To tag belongs to the dialog with that id, if any
        (no match -> the UAS answers 481, unless it is an ACK)."""
        if not request.to_tag:
            return None
        return self._dialogs.get(DialogId.of_request(request))

    def for_response(self, response: Response) -> Dialog | None:
        return self._dialogs.get(DialogId.of_response(response))

    def __iter__(self) -> Iterator[Dialog]:
        return iter(list(self._dialogs.values()))
