"""The user directory: lookup, inheritance domain -> group -> user, pointers, user_data."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchcore.directory import Directory, validate_directory
from switchcore.errors import ConfigError, UsageError
from switchcore.xmlconf.location import ConfigWarning
from switchcore.xmlconf.tree import XmlConfig

TREE = Path(__file__).parent.parent / "vectors" / "xmlconf" / "directory"


@pytest.fixture(scope="module")
def directory() -> Directory:
    return Directory(XmlConfig.load(TREE, {"local_ip_v4": "127.0.0.1"}))


def test_user_found_by_id_with_merged_params_and_variables(directory: Directory) -> None:
    user = directory.user("1000", "example.com")
    assert user is not None
    assert (user.id, user.domain, user.group) == ("1000", "example.com", "default")
    assert user.password == "1234"
    assert user.vm_password == "1000"  # the user's own param beats the group's
    assert user.variable("user_context") == "default"
    assert user.context == "default"
    assert user.variable("effective_caller_id_name") == "Extension 1000"


def test_names_merge_without_case_and_user_wins(directory: Directory) -> None:
    user = directory.user("1000", "example.com")
    assert user is not None
    assert user.variable("callgroup") == "techsupport"  # "CallGroup" on the user beats both
    assert "callgroup" not in user.variables  # not duplicated under another spelling
    assert user.param("password") == "1234"  # the domain's "Password" does not override


def test_group_then_domain_fill_what_the_user_lacks(directory: Directory) -> None:
    user = directory.user("1001", "example.com")
    assert user is not None
    assert user.vm_password == "group-vm"
    assert user.variable("toll_allow") == "local"
    assert user.variable("record_stereo") == "true"
    assert user.context == "domaincontext"
    assert user.a1_hash == "c6440e5de50b403206989679159de89a"
    assert user.dial_string is not None and user.dial_string.startswith("{presence_id=")
    assert user.param("jsonrpc-allowed-methods") == "verto"


def test_number_alias_and_domain_alias_find_the_same_user(directory: Directory) -> None:
    by_id = directory.user("1001", "example.com")
    assert directory.user("2001", "example.com") == by_id
    assert directory.user("1001", "PBX.example.com") == by_id
    assert directory.lookup("sip:2001@pbx.example.com") == by_id


def test_users_outside_groups_are_found(directory: Directory) -> None:
    operator = directory.user("operator", "example.com")
    assert operator is not None and operator.password == "op" and operator.group is None
    cidr_user = directory.user("9000", "example.com")
    assert cidr_user is not None and cidr_user.attributes["cidr"] == "10.0.0.0/8"


def test_pointer_puts_user_in_more_groups(directory: Directory) -> None:
    user = directory.user("1000", "example.com")
    assert user is not None and user.groups == ("default", "sales", "support")
    members = directory.group_members("sales", "example.com")
    assert [m.id for m in members] == ["1001", "1000"]  # 7777 dangles
    assert members[0].a1_hash == "c6440e5de50b403206989679159de89a"


def test_same_id_in_two_domains_are_different_users(directory: Directory) -> None:
    other = directory.user("1000", "other.org")
    assert other is not None and other.password == "other"
    assert directory.user("1001", "other.org") is None
    assert directory.user("1000", "nowhere.net") is None


def test_domains_listed_with_aliases_and_groups(directory: Directory) -> None:
    domains = directory.domains()
    assert [d.name for d in domains] == ["example.com", "other.org"]
    assert domains[0].aliases == ("pbx.example.com",)
    assert domains[0].groups["sales"] == ("1001", "1000", "7777")
    assert (domains[0].file, domains[0].line) == ("domains/example.xml", 2)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("1000@example.com param password", "1234"),
        ("1000@example.com var user_context", "default"),
        ("1000@example.com var callgroup", "techsupport"),
        ("1001@example.com var callgroup", "default-group"),
        ("1000@example.com attr id", "1000"),
        ("2001@example.com attr number-alias", "2001"),
        ("1000@example.com var nonexistent", ""),
        ("4242@example.com var user_context", ""),
        ("1000 param password", "1234"),  # no domain: the global "domain" variable
    ],
)
def test_user_data_api(directory: Directory, args: str, expected: str) -> None:
    assert directory.user_data(args) == expected


def test_user_data_usage(directory: Directory) -> None:
    with pytest.raises(UsageError):
        directory.user_data("1000@example.com param")


def test_user_exists_by_id_alias_and_attribute(directory: Directory) -> None:
    assert directory.user_exists("id", "1000", "example.com")
    assert directory.user_exists("id", "2001", "example.com")
    assert not directory.user_exists("id", "7777", "example.com")
    assert directory.user_exists("cidr", "10.0.0.0/8", "example.com")


def test_problems_are_located(directory: Directory) -> None:
    problems = validate_directory(XmlConfig.load(TREE, {}))
    texts = [str(p) for p in problems]
    assert any(isinstance(p, ConfigError) and p.file == "domains/other.xml" and p.line == 7 for p in problems)
    assert any('lists unknown user "7777"' in t and t.startswith("domains/example.xml:") for t in texts)
    duplicate = [p for p in problems if isinstance(p, ConfigWarning) and "defined again" in p.reason]
    assert len(duplicate) == 1 and duplicate[0].line == 61


def test_directory_is_built_once_per_tree() -> None:
    config = XmlConfig.load(TREE, {})
    first, second = Directory(config), Directory(config)
    assert first.user("1000", "example.com") is second.user("1000", "example.com")
