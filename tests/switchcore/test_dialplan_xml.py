"""The XML dialplan hunt: vectors (XML + caller profile -> app list), validation, trace, index."""

from __future__ import annotations

import json
import random
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from switchcore.dialplan_xml import dialplan_test, format_trace, hunt, validate_dialplan
from switchcore.errors import ConfigError
from switchcore.xmlconf.dialplan_model import compile_dialplan, to_python_regex
from switchcore.xmlconf.tree import ConfigHolder, XmlConfig

VECTORS = Path(__file__).parent.parent / "vectors" / "dialplan"
DEFAULT_NOW = "2024-06-03T10:30:00"


@pytest.fixture(scope="module")
def config() -> XmlConfig:
    return XmlConfig.load(VECTORS / "conf", {"local_ip_v4": "127.0.0.1"})


def _cases() -> list[Any]:
    cases = []
    for path in sorted((VECTORS / "cases").glob("*.json")):
        for case in json.loads(path.read_text()):
            cases.append(pytest.param(case, id=f"{path.stem}: {case['name']}"))
    return cases


async def _run(config: XmlConfig, case: dict[str, Any], full_trace: bool) -> Any:
    variables: dict[str, str | None] = dict(case.get("vars", {}))
    apis: dict[str, str] = case.get("api", {})
    sets: list[tuple[str, str | None]] = []

    def get_var(name: str) -> str | None:
        return variables[name] if name in variables else config.global_vars.get(name)

    def set_var(name: str, value: str | None) -> None:
        sets.append((name, value))
        variables[name] = value

    async def run_api(name: str, args: str) -> str:
        return apis.get(f"{name} {args}", "")

    now = datetime.fromisoformat(case.get("now", DEFAULT_NOW))
    result = await hunt(
        config, case["context"], case["fields"], get_var, set_var, run_api, now, full_trace=full_trace
    )
    return result, sets


@pytest.mark.parametrize("case", _cases())
async def test_vector(config: XmlConfig, case: dict[str, Any]) -> None:
    result, sets = await _run(config, case, full_trace=False)
    assert [list(a) for a in result.actions] == case["actions"]
    if "matched" in case:
        assert list(result.matched_extensions) == case["matched"]
    if "extension" in case:
        assert result.extension == case["extension"]
    if "sets" in case:
        assert [list(s) for s in result.inline_sets] == case["sets"]
        assert [list(s) for s in sets] == case["sets"]
    assert result.context == case.get("result_context", case["context"])


@pytest.mark.parametrize("case", _cases())
async def test_vector_same_result_without_the_index(config: XmlConfig, case: dict[str, Any]) -> None:
    indexed, _ = await _run(config, case, full_trace=False)
    full, _ = await _run(config, case, full_trace=True)
    assert full.actions == indexed.actions
    assert full.matched_extensions == indexed.matched_extensions
    assert full.skipped == 0


def test_vector_tree_validates(config: XmlConfig) -> None:
    assert validate_dialplan(config) == []


def test_validation_finds_every_mistake_with_location() -> None:
    errors = validate_dialplan(XmlConfig.load(VECTORS / "bad", {}))
    found = {
        (e.file, e.line, e.reason.split(":")[0] if e.reason.startswith("bad regular") else e.reason)
        for e in errors
    }
    bad = "dialplan/bad.xml"
    assert (bad, 4, "bad regular expression /^(10[01][0-9]$/ for field destination_number") in found
    assert (bad, 9, 'unknown attribute "feild" on <condition> (did you mean "field"?)') in found
    assert (
        bad,
        9,
        'break="on_false" is not one of on-false, on-true, always, never (did you mean "on-false"?)',
    ) in found
    assert (bad, 10, "unknown element <acton> in <condition> (did you mean <action>?)") in found
    assert (bad, 11, 'unknown attribute "aplication" on <action> (did you mean "application"?)') in found
    assert (bad, 11, "<action> without an application") in found
    wrap = (
        'wday="fri-mon": range fri-mon does not wrap in FreeSWITCH and never matches; write fri-sat,sun-mon'
    )
    assert (bad, 15, wrap) in found
    assert (bad, 16, 'loop="many" is not a number') in found
    assert (bad, 20, 'regex="some" is not one of all, any, xor') in found
    assert (
        bad,
        22,
        'application "bridge" cannot run inline (inline="true" works with: eval, export, log, multiset, set, unset)',
    ) in found
    assert (bad, 24, '<regex> children need regex="all|any|xor" on their <condition>') in found
    assert (bad, 26, "<anti-action> without an application") in found


@pytest.mark.parametrize(
    ("attributes", "reason"),
    [
        ({"hour": "9-x"}, 'hour="9-x": "x" is not a number'),
        (
            {"wday": "6-2"},
            'wday="6-2": range 6-2 does not wrap in FreeSWITCH and never matches; write 6-7,1-2',
        ),
        ({"wday": "funday"}, 'wday="funday": "funday" is not a day (1-7 or sun..sat)'),
        ({"time-of-day": "08:00"}, 'time-of-day="08:00": "08:00" is not a range hh:mm-hh:mm'),
        ({"date-time": "2024-01-01"}, 'date-time="2024-01-01": "2024-01-01" needs start~end'),
        ({"mon": "1,,2"}, 'mon="1,,2": empty item'),
    ],
)
def test_bad_time_values_are_refused_at_load(attributes: dict[str, str], reason: str) -> None:
    from switchcore.xmlconf.timecheck import parse_time_spec

    with pytest.raises(ValueError) as caught:
        parse_time_spec(attributes)
    assert str(caught.value) == reason


def test_reload_refuses_a_bad_regex(tmp_path: Path) -> None:
    import shutil

    conf = tmp_path / "conf"
    shutil.copytree(VECTORS / "conf", conf)
    holder = ConfigHolder(conf, {}, validators=[validate_dialplan])
    assert holder.load_initial().ok
    old = holder.current
    basic = conf / "dialplan" / "basic.xml"
    basic.write_text(basic.read_text().replace('expression="^9196$"', 'expression="^(9196$"'))
    result = holder.reload()
    assert not result.ok and holder.current is old
    assert result.reply.startswith("-ERR dialplan/basic.xml:4: bad regular expression /^(9196$/")


async def test_hunt_in_a_missing_context_without_global() -> None:
    config = XmlConfig.load(VECTORS / "bad", {})
    result = await hunt(
        config, "nowhere", {"destination_number": "1"}, lambda n: None, None, None, datetime.now()
    )
    assert not result.context_found and result.actions == ()
    assert "Context nowhere not found" in format_trace(result)


async def test_bad_runtime_expression_is_no_match_and_traced(config: XmlConfig) -> None:
    result = await hunt(
        config,
        "vars",
        {"destination_number": "5"},
        {"prefix": "("}.get,
        None,
        None,
        datetime.now(),
        full_trace=True,
    )
    expr_var = next(e for e in result.trace if e.name == "expr_var")
    assert expr_var.conditions[0].match is not None
    assert expr_var.conditions[0].match.error.startswith("bad regular expression /^((\\d+)$/")


async def test_format_trace_shows_pass_fail_captures_and_app_list(config: XmlConfig) -> None:
    text = await dialplan_test(
        config, "basic 1005 caller_id_number=1000 foo=bar", datetime(2024, 6, 3, 10, 30)
    )
    lines = text.splitlines()
    assert lines[0] == "Dialplan: context basic, destination 1005"
    assert "[echo] continue=false no match (dialplan/basic.xml:3)" in lines
    assert "  Regex (FAIL) destination_number(1005) =~ /^9196$/ break=on-false" in lines
    assert (
        "  Regex (PASS) destination_number(1005) =~ /^(10[01][0-9])$/ captures: $0=1005, $1=1005 break=on-false"
        in lines
    )
    assert "    Action set(dialed_extension=1005)" in lines
    assert lines[-3:] == [
        "Result: extension Local_Extension, 2 applications",
        "  1. set dialed_extension=1005",
        "  2. bridge user/${dialed_extension}@example.com",
    ]


async def test_format_trace_shows_inline_sets_and_time_checks(config: XmlConfig) -> None:
    inline = await dialplan_test(config, "inline 42 caller_id_number=1000", datetime(2024, 6, 3))
    assert "    Action set(target=${caller_id_number}-42) INLINE -> target=1000-42" in inline.splitlines()
    timed = await dialplan_test(config, "time support", datetime(2024, 6, 8, 12, 15))
    assert "    wday[7] =~ 2-6 FAIL" in timed.splitlines()
    assert "    ANTI-Action set(open=false)" in timed.splitlines()
    assert "    time-of-day[12:15:00] =~ 12:00-12:59:59 PASS" in timed.splitlines()


async def test_dialplan_test_usage(config: XmlConfig) -> None:
    assert (await dialplan_test(config, "basic", datetime.now())).startswith("-USAGE:")


def test_inline_with_bad_app_raises_at_hunt_time() -> None:
    import asyncio

    config = XmlConfig.load(VECTORS / "bad", {})
    with pytest.raises(ConfigError, match='application "bridge" cannot run inline'):
        asyncio.run(
            hunt(
                config, "inline_only", {"destination_number": "1"}, lambda n: None, None, None, datetime.now()
            )
        )


@pytest.mark.parametrize(
    ("expression", "source", "flags"),
    [
        ("^(?<num>\\d+)$", "^(?P<num>\\d+)$", 0),
        ("/^abc$/i", "^abc$", 2),
        ("_1NXX.", "^1[2-9][0-9][0-9].*$", 0),
        ("^a\\z", "^a\\Z", 0),
        ("(?<=a)b", "(?<=a)b", 0),
    ],
)
def test_pcre_to_python(expression: str, source: str, flags: int) -> None:
    assert to_python_regex(expression) == (source, flags)


# -- the index --------------------------------------------------------------------


def _big_plan(tmp_path: Path, count: int, mixed: bool = True) -> XmlConfig:
    rng = random.Random(7)
    exts = []
    for n in range(count):
        number = 100000 + n
        kind = rng.random() if mixed else 0.0
        if kind < 0.6:
            cond = f'<condition field="destination_number" expression="^{number}$">'
        elif kind < 0.8:
            cond = f'<condition field="destination_number" expression="^({number // 10}\\d)$">'
        elif kind < 0.85:
            cond = f'<condition field="destination_number" expression="{number % 1000:03d}$">'
        elif kind < 0.9:
            cond = f'<condition field="caller_id_number" expression="^{number % 50}$">'
        elif kind < 0.95:
            cond = f'<condition field="destination_number" expression="^{number}$" break="never">'
        else:
            cond = f'<condition field="${{var{n % 3}}}" expression="^{n % 5}$">'
        cont = ' continue="true"' if mixed and rng.random() < 0.1 else ""
        anti = '<anti-action application="log" data="anti"/>' if mixed and rng.random() < 0.02 else ""
        exts.append(
            f'<extension name="e{n}"{cont}>{cond}<action application="log" data="{n} $1"/>{anti}</condition></extension>'
        )
    exts.append(
        '<extension name="catch_all"><condition><action application="hangup"/></condition></extension>'
    )
    conf = tmp_path / "big"
    (conf / "dialplan").mkdir(parents=True)
    (conf / "freeswitch.xml").write_text(
        '<document type="freeswitch/xml"><section name="dialplan">'
        '<X-PRE-PROCESS cmd="include" data="dialplan/*.xml"/></section></document>'
    )
    (conf / "dialplan" / "big.xml").write_text(f'<context name="big">{"".join(exts)}</context>')
    return XmlConfig.load(conf, {})


async def test_index_gives_the_same_answers_as_a_full_hunt(tmp_path: Path) -> None:
    config = _big_plan(tmp_path, 1000)
    rng = random.Random(11)
    variables = {"var0": "1", "var1": "3", "var2": "9"}
    for _ in range(300):
        dest = str(rng.choice([100000 + rng.randrange(1100), rng.randrange(1000), "x"]))
        fields = {"destination_number": dest, "caller_id_number": str(rng.randrange(60))}
        indexed = await hunt(config, "big", fields, variables.get, None, None, datetime(2024, 1, 1))
        full = await hunt(
            config, "big", fields, variables.get, None, None, datetime(2024, 1, 1), full_trace=True
        )
        assert indexed.actions == full.actions, dest
        assert indexed.matched_extensions == full.matched_extensions


async def test_index_skips_extensions_that_cannot_match(tmp_path: Path) -> None:
    mixed = compile_dialplan(_big_plan(tmp_path / "mixed", 1000)).contexts["big"]
    assert len(mixed.segments) < 400  # 1001 extensions, ~15% of which cannot be indexed
    config = _big_plan(tmp_path / "literal", 1000, mixed=False)
    assert len(compile_dialplan(config).contexts["big"].segments) == 2  # one literal run + catch_all
    result = await hunt(
        config, "big", {"destination_number": "100500"}, {}.get, None, None, datetime(2024, 1, 1)
    )
    assert result.actions == (("log", "500 $1"),)
    assert [t.name for t in result.trace] == ["e500"] and result.skipped == 500  # the ones before it


async def test_hunt_rate_on_a_1000_extension_plan(tmp_path: Path) -> None:
    import time

    config = _big_plan(tmp_path, 1000, mixed=False)
    rng = random.Random(3)
    dests = [str(100000 + rng.randrange(1100)) for _ in range(2000)]
    best = 0.0
    for _ in range(3):
        start = time.process_time()
        for dest in dests:
            await hunt(config, "big", {"destination_number": dest}, {}.get, None, None, datetime(2024, 1, 1))
        best = max(best, len(dests) / max(time.process_time() - start, 1e-9))
    assert best >= 20_000, f"{best:.0f} hunts/s of CPU time"


def test_multiline_regex_is_not_treated_as_anchored() -> None:
    from switchcore.xmlconf.dialplan_model import Condition, Matcher, _gate, compile_expression

    pattern = compile_expression("(?m)^abc")
    matcher = Matcher("destination_number", "destination_number", "(?m)^abc", pattern, False, None)
    gate = _gate((Condition(matcher),))
    assert gate is not None and not gate.anchored and gate.prefix == ""
