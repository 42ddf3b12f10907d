"""The `sofia/...` endpoint's lookups: gateways as the profiles hold them at dial time, and the URI of a
registered Contact without its display name or header parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from modules.mod_sofia.endpoint import SofiaEndpoint, contact_uri
from switchcore.causes import HangupCause
from switchcore.errors import CallError
from switchcore.module import OutgoingRequest


@dataclass
class FakeGateway:
    name: str
    profile_name: str = "external"
    usable: bool = True


@dataclass
class FakeProfile:
    name: str
    gateways: dict[str, Any] = field(default_factory=dict)


@dataclass
class FakeHandler:
    profile: FakeProfile


def endpoint_with(*profiles: FakeProfile) -> SofiaEndpoint:
    endpoint = SofiaEndpoint()
    for profile in profiles:
        endpoint.handlers[profile.name] = FakeHandler(profile)  # type: ignore[assignment]
    return endpoint


def test_gateway_added_to_a_running_profile_is_found_without_restarting() -> None:
    external = FakeProfile("external")
    endpoint = endpoint_with(FakeProfile("internal"), external)
    assert endpoint.gateway("carrier") is None
    external.gateways["carrier"] = gw = FakeGateway("carrier")  # what `sofia profile external rescan` does
    assert endpoint.gateway("carrier") is gw


def test_gateway_removed_by_killgw_is_gone_at_once() -> None:
    external = FakeProfile("external", {"carrier": FakeGateway("carrier")})
    endpoint = endpoint_with(external)
    del external.gateways["carrier"]
    assert endpoint.gateway("carrier") is None


async def test_dialling_a_rescanned_gateway_reaches_it_and_an_unknown_one_is_invalid() -> None:
    external = FakeProfile("external")
    endpoint = endpoint_with(external)
    request = OutgoingRequest(dest="gateway/carrier/5551234", variables={}, originator=None)
    with pytest.raises(CallError) as unknown:
        await endpoint.outgoing(request)
    assert unknown.value.cause is HangupCause.INVALID_GATEWAY
    external.gateways["carrier"] = FakeGateway("carrier", usable=False)
    with pytest.raises(CallError) as down:
        await endpoint.outgoing(request)
    assert down.value.cause is HangupCause.GATEWAY_DOWN  # found: the lookup happened at dial time


@pytest.mark.parametrize(
    ("contact", "uri"),
    [
        ("<sip:1001@192.0.2.5:5060>", "sip:1001@192.0.2.5:5060"),
        ('"Bob Smith" <sip:1001@192.0.2.5:5062;transport=tcp>', "sip:1001@192.0.2.5:5062;transport=tcp"),
        ('Bob <sip:1001@192.0.2.5>;expires=300;+sip.instance="<urn:uuid:1>"', "sip:1001@192.0.2.5"),
        ("sip:1001@192.0.2.5:5070", "sip:1001@192.0.2.5:5070"),
        (
            '"x" <sip:1001@192.0.2.5:5060;fs_nat=yes;fs_path=sip%3A1001%40203.0.113.9%3A40000>',
            "sip:1001@192.0.2.5:5060;fs_nat=yes;fs_path=sip:1001%40203.0.113.9:40000",
        ),
    ],
)
def test_registered_contact_gives_its_uri_without_display_name_or_params(contact: str, uri: str) -> None:
    assert contact_uri(contact) == uri


def test_unparsable_registered_contact_is_an_invalid_url() -> None:
    with pytest.raises(CallError) as caught:
        contact_uri('"unterminated <sip:1001@h')
    assert caught.value.cause is HangupCause.INVALID_URL
