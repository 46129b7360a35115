"""The parity check itself: it names a missing method, a drifting signature, an undeclared
public extra and a missing docstring; and the lake handles implement LakeAPI."""

from __future__ import annotations

from abc import ABC, abstractmethod

import pytest
from tests._api_parity import check_parity


class Api(ABC):
    """An area."""

    @abstractmethod
    def get(self, name: str, version: int | None = None) -> int:
        """Get."""

    @abstractmethod
    def put(self, name: str, *, mode: str = "append") -> None:
        """Put."""


class Local(Api):
    def get(self, name: str, version: int | None = None) -> int:
        return 0

    def put(self, name: str, *, mode: str = "append", fsync: bool = True) -> None:
        return None

    def close(self) -> None:
        """Close."""


class Remote(Api):
    def get(self, name: str, version: int | None = 1) -> int:   # a default drifted
        return 0

    def put(self, name: str, *, mode: str = "append") -> None:
        return None

    def health(self) -> None:
        """Health."""


class Unrelated:
    def get(self, name: str, version: int | None = None) -> int:
        return 0


def test_differences_are_named() -> None:
    with pytest.raises(AssertionError) as err:
        check_parity(Api, Local, Remote)
    text = str(err.value)
    assert "Local.put (embedded) signature" in text             # fsync beyond the interface
    assert "Remote.get (remote) signature" in text              # the default differs
    assert "Local.close (embedded) is public but not in Api" in text
    assert "Remote.health (remote) is public but not in Api" in text
    with pytest.raises(AssertionError, match=r"Unrelated .* does not derive from Api"):
        check_parity(Api, Local, Unrelated)


class Fixed(Remote):
    def get(self, name: str, version: int | None = None) -> int:
        return 1


def test_declared_extras_pass() -> None:
    check_parity(Api, Local, Fixed, embedded_only={"close": "why"}, remote_only={"health": "why"},
                 embedded_params={"put": {"fsync": "why"}})
    with pytest.raises(AssertionError, match="said to have nope"):
        check_parity(Api, Local, Fixed, embedded_only={"close": "why", "nope": "why"},
                     remote_only={"health": "why"}, embedded_params={"put": {"fsync": "why"}})


def test_lake_parity() -> None:
    from lakebed.api import LakeAPI
    from lakebed.client import RemoteLake
    from lakebed.lake import Lake

    check_parity(LakeAPI, Lake, RemoteLake, embedded_only={
        "check_writable": "the areas' guard before a write on a read-only lake",
        "closed": "whether close() ran; the areas check it",
        "namespace": "the per-lake id that keeps lakes apart in a shared Redis (online stores)",
        "on_close": "areas register their closing here",
        "reload": "what a read worker does after the writer changed definitions it caches",
    }, remote_only={"health": "the server's /health answer",
                    "read_only": "an attribute on both; the embedded Lake sets it per instance"})


def test_connect_returns_the_interface_for_both() -> None:
    import typing

    import lakebed
    from lakebed.api import LakeAPI

    assert typing.get_type_hints(lakebed.connect)["return"] is LakeAPI
    with lakebed.connect(":memory:") as lake:
        assert isinstance(lake, LakeAPI)
    remote = lakebed.connect("http://127.0.0.1:9")   # no request is made until a call
    assert isinstance(remote, LakeAPI)
    remote.close()
