"""The caller profile: who is calling whom, as the dialplan sees it (FreeSWITCH's switch_caller_profile_t)."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(slots=True)
class CallerProfile:
    username: str = ""
    dialplan: str = "XML"
    caller_id_name: str = ""
    caller_id_number: str = ""
    callee_id_name: str = ""
    callee_id_number: str = ""
    ani: str = ""
    aniii: str = ""
    network_addr: str = ""
    rdnis: str = ""
    destination_number: str = ""
    uuid: str = ""
    source: str = ""
    context: str = "default"
    chan_name: str = ""

    def fields(self) -> dict[str, str]:
        """The fields a dialplan condition may test, by FreeSWITCH's names."""
        return {name: getattr(self, name) for name in _FIELDS}

    def event_headers(self, prefix: str = "Caller") -> dict[str, str]:
        """`Caller-Caller-ID-Number` style headers, as FreeSWITCH's switch_caller_profile_event_set_data."""
        return {
            f"{prefix}-Direction": "",
            f"{prefix}-Username": self.username,
            f"{prefix}-Dialplan": self.dialplan,
            f"{prefix}-Caller-ID-Name": self.caller_id_name,
            f"{prefix}-Caller-ID-Number": self.caller_id_number,
            f"{prefix}-Callee-ID-Name": self.callee_id_name,
            f"{prefix}-Callee-ID-Number": self.callee_id_number,
            f"{prefix}-ANI": self.ani,
            f"{prefix}-Network-Addr": self.network_addr,
            f"{prefix}-RDNIS": self.rdnis,
            f"{prefix}-Destination-Number": self.destination_number,
            f"{prefix}-Unique-ID": self.uuid,
            f"{prefix}-Source": self.source,
            f"{prefix}-Context": self.context,
            f"{prefix}-Channel-Name": self.chan_name,
        }


_FIELDS = tuple(f.name for f in fields(CallerProfile))
