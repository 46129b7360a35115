"""The check behind the API parity tests: an interface (an abstract base in
:mod:`lakebed.api`) is implemented by the embedded class and the remote one with the same
methods and the same signatures, and the remote methods read their docs from it."""

from __future__ import annotations

import inspect
from typing import Any


def public(cls: type) -> dict[str, Any]:
    """Public attributes of a class (methods and properties), through its MRO."""
    out: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if klass is object:
            continue
        for name, value in vars(klass).items():
            if not name.startswith("_"):
                out[name] = value
    return out


def params(fn: Any) -> list[tuple[str, str, Any]]:
    """(name, kind, default) of each parameter: what a caller depends on. Annotations are
    left out (the embedded side names its concrete classes, the interface the protocols)."""
    sig = inspect.signature(fn)
    return [(p.name, p.kind.name, p.default) for p in sig.parameters.values()]


def check_parity(interface: type, embedded: type, remote: type, *,
                 embedded_only: dict[str, str] | None = None,
                 remote_only: dict[str, str] | None = None,
                 embedded_params: dict[str, dict[str, str]] | None = None) -> None:
    """Raise AssertionError naming every difference between ``embedded``, ``remote`` and
    their ``interface``. ``embedded_only``/``remote_only`` name (with the reason) the public
    members one side has beyond the interface; ``embedded_params`` the keyword-only parameters
    (with defaults) an embedded method has beyond the interface's, by method, with the reason."""
    problems: list[str] = []
    api = public(interface)
    abstract = set(getattr(interface, "__abstractmethods__", ()))
    for name in sorted(set(api) - abstract):
        problems.append(f"{interface.__name__}.{name} is not abstract: the interface holds no code")
    for side, cls, extra in (("embedded", embedded, embedded_only or {}), ("remote", remote, remote_only or {})):
        if not issubclass(cls, interface):
            problems.append(f"{cls.__name__} ({side}) does not derive from {interface.__name__}")
        members = public(cls)
        for name in sorted(api):
            if name not in members:
                problems.append(f"{cls.__name__} ({side}) lacks {name}")
                continue
            want, got = api[name], members[name]
            if isinstance(want, property):
                if not isinstance(got, property):
                    problems.append(f"{cls.__name__}.{name} ({side}) should be a property")
                continue
            got_params = params(got)
            if side == "embedded" and name in (embedded_params or {}):
                allowed = (embedded_params or {})[name]
                got_params = [p for p in got_params if not (
                    p[0] in allowed and p[1] == "KEYWORD_ONLY" and p[2] is not inspect.Parameter.empty)]
            if params(want) != got_params:
                problems.append(f"{cls.__name__}.{name} ({side}) signature {inspect.signature(got)} "
                                f"!= {interface.__name__}.{name}{inspect.signature(want)}")
            if not inspect.getdoc(getattr(cls, name)):
                problems.append(f"{cls.__name__}.{name} ({side}) has no docstring")
        for name in sorted(set(members) - set(api) - set(extra)):
            problems.append(f"{cls.__name__}.{name} ({side}) is public but not in {interface.__name__}: "
                            f"add it to the interface, make it private, or list it as {side}-only with a reason")
        for name in sorted(set(extra) - set(members)):
            problems.append(f"{cls.__name__} ({side}) is said to have {name}, which it has not")
    if getattr(interface, "__doc__", None) is None:
        problems.append(f"{interface.__name__} has no docstring")
    assert not problems, "\n".join(problems)
