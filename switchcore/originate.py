"""Originate: ring the legs of a dial string, keep the first that answers.

As FreeSWITCH's switch_ivr_originate: groups separated by `|` are tried in
turn; legs of a group ring at once and the first to answer wins, the others
hang up with LOSE_RACE.  `leg_timeout` bounds each leg, `call_timeout` /
`originate_timeout` the whole attempt.  While legs ring, early media from the
first leg that has it is relayed to the originator unless
`ignore_early_media` is set.  An endpoint may expand a leg into a dial string
of its own (`user/1000@dom` becomes the user's `dial-string`), whose legs ring
together.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .causes import HangupCause
from .dialstring import DialString, DialStringError, Leg, parse
from .errors import CallError, Hangup
from .module import OutgoingRequest

if TYPE_CHECKING:
    from .core import Switch
    from .session import Session

log = logging.getLogger("switchcore.originate")

MAX_EXPANSION_DEPTH = 4


@dataclass(slots=True)
class OriginateResult:
    session: Session | None
    cause: HangupCause

    @property
    def ok(self) -> bool:
        return self.session is not None


def _timeout_of(variables: dict[str, str], names: tuple[str, ...], default: float) -> float:
    for name in names:
        value = variables.get(name)
        if value:
            try:
                return float(value)
            except ValueError:
                log.warning("ignoring %s=%r (not a number)", name, value)
    return default


def exported_vars(originator: Session | None) -> dict[str, str]:
    """Variables the originator exported to its B-legs (`export`, `export_vars`)."""
    if originator is None:
        return {}
    result: dict[str, str] = {}
    for name in (originator.get_var("export_vars") or "").split(","):
        name = name.strip()
        if not name:
            continue
        value = originator.variables.get(f"nolocal:{name}")
        if value is None:
            value = originator.get_var(name)
        if value is not None:
            result[name] = value
    return result


async def originate(
    switch: Switch,
    dialstring: str,
    originator: Session | None = None,
    timeout: float = 60.0,
    variables: dict[str, str] | None = None,
    on_early_media: Callable[[Session], Coroutine[Any, Any, None]] | None = None,
) -> OriginateResult:
    try:
        parsed = parse(dialstring)
    except DialStringError as exc:
        log.error("originate %s: %s", dialstring, exc)
        return OriginateResult(None, HangupCause.INVALID_URL)
    base = exported_vars(originator)
    base.update(variables or {})
    base.update(parsed.variables)
    total = _timeout_of(base, ("originate_timeout", "call_timeout"), timeout)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + total
    cause = HangupCause.NO_ANSWER
    for group in parsed.groups:
        if originator is not None and originator.hungup:
            return OriginateResult(None, HangupCause.ORIGINATOR_CANCEL)
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        result = await _ring_group(switch, group, base, originator, remaining, on_early_media, 0)
        if result.ok:
            return result
        cause = result.cause
        if not _continue_after(cause):
            break
    return OriginateResult(None, cause)


def _continue_after(cause: HangupCause) -> bool:
    """Failover to the next `|` group unless the originator itself went away."""
    return cause is not HangupCause.ORIGINATOR_CANCEL


async def _create_legs(
    switch: Switch,
    group: tuple[Leg, ...],
    base: dict[str, str],
    originator: Session | None,
    depth: int,
) -> tuple[list[tuple[Session, float]], HangupCause]:
    """Create (ringing) sessions for the legs; returns them with their leg timeouts, and the last failure."""
    legs: list[tuple[Session, float]] = []
    cause = HangupCause.NO_ANSWER
    for leg in group:
        leg_vars = dict(base)
        leg_vars.update(leg.variables)
        if leg.endpoint == "error":
            cause = HangupCause.parse(leg.dest, HangupCause.NORMAL_TEMPORARY_FAILURE)
            continue
        endpoint = switch.registry.endpoints.get(leg.endpoint)
        if endpoint is None:
            log.error("originate: no endpoint %s (in %s)", leg.endpoint, leg.url)
            cause = HangupCause.CHAN_NOT_IMPLEMENTED
            continue
        expander = getattr(endpoint, "expand_dialstring", None)
        if expander is not None:
            if depth >= MAX_EXPANSION_DEPTH:
                cause = HangupCause.INVALID_URL
                continue
            try:
                expanded: str = await expander(leg.dest, leg_vars, originator)
                inner: DialString = parse(expanded)
            except CallError as exc:
                cause = exc.cause
                continue
            except DialStringError as exc:
                log.error("originate %s: %s", leg.url, exc)
                cause = HangupCause.INVALID_URL
                continue
            inner_base = dict(leg_vars)
            inner_base.update(inner.variables)
            for inner_group in inner.groups[:1]:  # a user's dial string rings at once
                more, inner_cause = await _create_legs(switch, inner_group, inner_base, originator, depth + 1)
                legs.extend(more)
                if not more:
                    cause = inner_cause
            continue
        leg_timeout = _timeout_of(leg_vars, ("leg_timeout",), 0.0)
        try:
            session = await endpoint.outgoing(OutgoingRequest(leg.dest, leg_vars, originator))
        except CallError as exc:
            cause = exc.cause
            continue
        except Exception:
            log.exception("originate: endpoint %s failed on %s", leg.endpoint, leg.url)
            cause = HangupCause.DESTINATION_OUT_OF_ORDER
            continue
        if originator is not None:
            session.variables.setdefault("originator", originator.uuid)
            session.profile.caller_id_name = session.profile.caller_id_name or originator.profile.caller_id_name
        legs.append((session, leg_timeout))
    return legs, cause


async def _ring_group(
    switch: Switch,
    group: tuple[Leg, ...],
    base: dict[str, str],
    originator: Session | None,
    timeout: float,
    on_early_media: Callable[[Session], Coroutine[Any, Any, None]] | None,
    depth: int,
) -> OriginateResult:
    legs, cause = await _create_legs(switch, group, base, originator, depth)
    if not legs:
        return OriginateResult(None, cause)
    loop = asyncio.get_running_loop()
    start = loop.time()
    ignore_early = (base.get("ignore_early_media") or "").lower() in ("true", "ring_ready")
    early_task: asyncio.Task[None] | None = None
    ringback_task: asyncio.Task[None] | None = None
    ringback = (originator.get_var("ringback") or base.get("ringback") or "") if originator is not None else ""
    if ringback and originator is not None and not originator.answered:
        ringback_task = loop.create_task(play_ringback(originator, ringback))
    pending = {s: t for s, t in legs}
    winner: Session | None = None
    last_cause = cause
    try:
        while pending and winner is None:
            now = loop.time()
            if now - start >= timeout:
                break
            if originator is not None and originator.hungup:
                last_cause = HangupCause.ORIGINATOR_CANCEL
                break
            for session, leg_timeout in list(pending.items()):
                if session.answered:
                    winner = session
                    break
                if session.hungup:
                    last_cause = session.cause
                    del pending[session]
                elif leg_timeout and now - start >= leg_timeout:
                    session.hangup(HangupCause.NO_ANSWER)
                    last_cause = HangupCause.NO_ANSWER
                    del pending[session]
                elif (
                    early_task is None
                    and session.early
                    and not ignore_early
                    and originator is not None
                    and on_early_media is not None
                ):
                    if ringback_task is not None:  # the far end's own ringing replaces ours
                        ringback_task.cancel()
                    early_task = loop.create_task(on_early_media(session))
            if winner is not None or not pending:
                break
            deadlines = [start + t for t in pending.values() if t] + [start + timeout]
            await _wait_any(list(pending), originator, max(0.01, min(0.5, min(deadlines) - loop.time())))
    except asyncio.CancelledError:
        # Whoever waited went away (its caller hung up): the legs still ringing go too.
        for session in pending:
            session.hangup(HangupCause.ORIGINATOR_CANCEL)
        raise
    finally:
        for task in (early_task, ringback_task):
            if task is not None:
                task.cancel()
                await asyncio.wait({task})
    if winner is None:
        final = last_cause
        if originator is not None and originator.hungup:
            final = HangupCause.ORIGINATOR_CANCEL
        elif pending and loop.time() - start >= timeout:
            final = HangupCause.NO_ANSWER
        for session in pending:
            session.hangup(final if final is not HangupCause.NONE else HangupCause.NO_ANSWER)
        return OriginateResult(None, final)
    for session in pending:
        if session is not winner:
            session.hangup(HangupCause.LOSE_RACE)
    return OriginateResult(winner, HangupCause.SUCCESS)


async def _wait_any(sessions: list[Session], originator: Session | None, timeout: float) -> None:
    """Sleep until a leg answers, gets early media or hangs up (or the originator hangs up)."""
    watched = [*sessions, originator] if originator is not None else list(sessions)
    for session in watched:
        session.changed.clear()
    waiters = [asyncio.ensure_future(s.changed.wait()) for s in watched]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def play_ringback(a: Session, spec: str) -> None:
    """Play `ringback` (a file, or a tone such as `%(2000,4000,440,480)`) to A while B rings."""
    from .ivr import open_for
    from .media.sources import SourceError

    if spec.startswith("%("):
        spec = "tone_stream://" + spec + ";loops=-1"
    try:
        await a.pre_answer()
        source = open_for(a, spec)
    except SourceError as exc:
        log.error("[%s] ringback %s: %s", a.uuid, spec, exc)
        return
    except Hangup:
        return
    try:
        while True:
            frame = source.read_frame()
            if frame is None:  # a file rings again from the start
                source.close()
                source = open_for(a, spec)
                continue
            await a.read_frame()
            await a.write_frame(frame)
    except (Hangup, SourceError):
        return
    finally:
        source.close()


async def relay_early_media(a: Session, b: Session) -> None:
    """Relay B's early media to A until B answers (A is pre-answered first)."""
    await a.pre_answer()
    try:
        while not b.answered and not b.hungup and not a.hungup:
            frame = await b.read_frame()
            await a.write_frame(frame)
    except Hangup:
        return
