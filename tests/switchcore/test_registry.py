import pytest

from switchcore.errors import ModuleError
from switchcore.module import Module
from switchcore.registry import Registry


def make(name: str, app: str = "hello") -> Module:
    module = Module(name)

    @module.application(app, "say hello")
    async def hello(session, arg):
        return None

    return module


def test_a_module_adds_its_interfaces_and_removes_them_cleanly():
    reg = Registry()
    reg.add(make("mod_a"))
    assert reg.applications["hello"].module == "mod_a"
    reg.remove("mod_a")
    assert "hello" not in reg.applications and "mod_a" not in reg.modules


def test_duplicate_names_across_modules_are_refused_and_change_nothing():
    reg = Registry()
    reg.add(make("mod_a"))
    with pytest.raises(ModuleError, match="already provided by mod_a"):
        reg.add(make("mod_b"))
    assert "mod_b" not in reg.modules


def test_declaring_a_name_twice_in_one_module_fails_at_import():
    module = make("mod_a")
    with pytest.raises(ValueError, match="declared twice"):
        module.application("hello", "again")(lambda s, a: None)


def test_signatures_are_checked_at_load():
    reg = Registry()
    bad = Module("mod_bad")

    @bad.application("sync_app", "not async")
    def sync_app(session, arg):  # type: ignore[misc]
        return None

    with pytest.raises(ModuleError, match="must be an async function"):
        reg.add(bad)
    worse = Module("mod_worse")

    @worse.api("one_arg", "wrong arity")
    async def one_arg(ctx):  # type: ignore[misc]
        return ""

    with pytest.raises(ModuleError, match="must take 2 arguments"):
        reg.add(worse)


def test_reference_counts_never_go_negative():
    reg = Registry()
    reg.acquire("mod_a")
    reg.release("mod_a")
    reg.release("mod_a")
    assert reg.refs["mod_a"] == 0
