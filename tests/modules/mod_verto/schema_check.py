"""Validate Verto messages against the JSON Schemas kept in modules/mod_verto/schemas/."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMAS = Path(__file__).resolve().parents[3] / "modules" / "mod_verto" / "schemas"


@cache
def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def check(name: str, message: Any) -> None:
    """Raise if `message` does not match schema `name` ("server/verto.bye", "result/login", "error")."""
    errors = sorted(validator(name).iter_errors(message), key=lambda e: list(e.path))
    if errors:
        details = "; ".join(f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors[:5])
        raise AssertionError(f"{name}: {details}\n{json.dumps(message)[:500]}")


def check_server_request(message: dict[str, Any]) -> None:
    check(f"server/{message['method']}", message)


def check_reply(method: str, message: dict[str, Any]) -> None:
    """A reply to `method`: its result schema, or the error schema."""
    check("error" if "error" in message else f"result/{method}", message)


def all_schema_names() -> list[str]:
    return sorted(str(p.relative_to(SCHEMAS).with_suffix("")) for p in SCHEMAS.rglob("*.json"))
