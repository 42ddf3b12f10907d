import pytest

from switchcore.dialstring import DialStringError, parse


def test_global_and_per_leg_variables_and_both_separators():
    ds = parse("{a=b,c='x,y'}[leg=1]sofia/internal/1000@dom,[leg=2]user/1001@dom|loopback/9196")
    assert ds.variables == {"a": "b", "c": "x,y"}
    assert [[leg.url for leg in g] for g in ds.groups] == [
        ["sofia/internal/1000@dom", "user/1001@dom"],
        ["loopback/9196"],
    ]
    assert ds.groups[0][0].variables == {"leg": "1"}
    assert ds.groups[0][1].variables == {"leg": "2"}


def test_custom_separator_block_as_the_directory_dial_string_uses():
    ds = parse("{^^:sip_invite_domain=dom:presence_id=1000@dom}sofia/internal/sip:1000@127.0.0.1:5070")
    assert ds.variables == {"sip_invite_domain": "dom", "presence_id": "1000@dom"}
    assert ds.groups[0][0].dest == "internal/sip:1000@127.0.0.1:5070"


def test_error_legs_parse():
    ds = parse("error/user_not_registered")
    assert ds.groups[0][0].endpoint == "error"


@pytest.mark.parametrize("bad", ["", "{a=b", "nobody", "[x=1", "{novalue}loopback/1"])
def test_malformed_dial_strings_are_refused_with_a_clear_error(bad):
    with pytest.raises(DialStringError):
        parse(bad)
