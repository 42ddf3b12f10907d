"""The CDR of a leg, built from the session when it reaches REPORTING."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .store.records import CdrRecord, MediaQuality

if TYPE_CHECKING:
    from .session import Session


def _ts(epoch: float) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch else None


def cdr_for(session: Session) -> CdrRecord:
    p = session.profile
    v = session.variables
    start = _ts(session.created) or datetime.now(UTC)
    end = _ts(session.hangup_time) or datetime.now(UTC)
    quality = getattr(session.driver, "quality", None)
    sip_status = v.get("sip_term_status") or v.get("sip_invite_failure_status")
    return CdrRecord(
        uuid=session.uuid,
        direction=session.direction,
        start=start,
        answer=_ts(session.answered_time),
        end=max(end, start),
        hangup_cause=session.cause,
        call_uuid=v.get("originator") or session.uuid,
        bleg_uuid=v.get("last_bridge_to", ""),
        channel_name=session.name,
        caller_id_name=p.caller_id_name,
        caller_id_number=p.caller_id_number,
        destination_number=p.destination_number,
        context=p.context,
        node=session.switch.node,
        sip_status=int(sip_status) if sip_status and sip_status.isdigit() else None,
        endpoint_disposition=v.get("endpoint_disposition", ""),
        read_codec=session.driver.read_codec,
        write_codec=session.driver.write_codec,
        quality=quality() if callable(quality) else MediaQuality(),
        variables=dict(v),
    )
