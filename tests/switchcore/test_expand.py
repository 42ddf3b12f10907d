"""Channel-variable expansion as FreeSWITCH's switch_channel_expand_variables."""

from __future__ import annotations

import pytest

from switchcore.expand import expand, expand_globals, expand_sync, parse_template

VARS = {
    "domain_name": "example.com",
    "x": "foo",
    "var_foo": "nested-ok",
    "caller": "1000",
    "long": "abcdefgh",
    "arr": "ARRAY::one|:two|:three",
}
GLOBALS = {"domain": "global.example", "x": "global-x"}


def get_var(name: str) -> str | None:
    return VARS.get(name)


def get_global(name: str) -> str | None:
    return GLOBALS.get(name)


calls: list[tuple[str, str]] = []


async def run_api(name: str, args: str) -> str:
    calls.append((name, args))
    if name == "user_data":
        return {"1000@example.com var callgroup": "techsupport"}.get(args, "")
    if name == "sofia_contact":
        return f"sofia/internal/sip:{args}"
    if name == "upper":
        return args.upper()
    return ""


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("plain text", "plain text"),
        ("user/${caller}@${domain_name}", "user/1000@example.com"),
        ("[${unknown}]", "[]"),
        ("${var_${x}}", "nested-ok"),
        ("${long:2}", "cdefgh"),
        ("${long:2:3}", "cde"),
        ("${long:-3}", "fgh"),
        ("${long:20}", ""),
        ("${arr[1]}", "two"),
        ("${arr[5]}", ""),
        (r"cost \${caller}", "cost ${caller}"),
        ("price $5 and ${caller}", "price $5 and 1000"),
        ("$${domain}/${domain}", "global.example/global.example"),
        ("$${x} ${x}", "global-x foo"),
        ("${caller", "1000"),
        ("trailing $", "trailing $"),
        ("a\\\\b ${x}", "a\\b foo"),
    ],
)
async def test_expands_variables(template: str, expected: str) -> None:
    assert await expand(template, get_var, run_api, get_global) == expected


async def test_inline_api_with_parentheses_runs_api_with_expanded_args() -> None:
    calls.clear()
    out = await expand("${user_data(${caller}@${domain_name} var callgroup)}", get_var, run_api)
    assert out == "techsupport"
    assert calls == [("user_data", "1000@example.com var callgroup")]


async def test_inline_api_with_space_form() -> None:
    assert await expand("${upper hello ${x}}", get_var, run_api) == "HELLO FOO"


async def test_sofia_contact_with_nested_references() -> None:
    template = "${sofia_contact(*/${caller}@${domain_name})},x"
    assert await expand(template, get_var, run_api) == "sofia/internal/sip:*/1000@example.com,x"


async def test_nested_parentheses_in_api_args() -> None:
    assert await expand("${upper(f(a)b)}", get_var, run_api) == "F(A)B"


async def test_api_without_runner_expands_to_empty() -> None:
    assert await expand("<${user_data(1000@x var y)}>", get_var) == "<>"


async def test_inserted_values_are_not_expanded_again() -> None:
    def tricky(name: str) -> str | None:
        return "${caller}" if name == "a" else None

    assert await expand("${a}", tricky) == "${caller}"


def test_sync_expansion_skips_api_calls() -> None:
    assert expand_sync("${x}-${upper(a)}", get_var) == "foo-"


def test_no_dollar_fast_path_returns_same_object() -> None:
    text = "no variables here"
    assert expand_sync(text, get_var) is text


def test_templates_are_parsed_once() -> None:
    assert parse_template("${x}/${y}") is parse_template("${x}/${y}")


def test_expand_globals_substitutes_and_reports_missing() -> None:
    missing: list[str] = []
    out = expand_globals("a=$${domain} b=$${nope} c=${runtime}", GLOBALS, missing.append)
    assert out == "a=global.example b= c=${runtime}"
    assert missing == ["nope"]


def test_expand_globals_keeps_unterminated_reference() -> None:
    assert expand_globals("x $${domain", GLOBALS) == "x $${domain"
