"""One full-match rule for every kind of name: trailing newlines, path tricks, NUL,
over-long and look-alike names are refused by every area, and nothing is created."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import lakebed
from lakebed._names import KINDS, validate_name
from lakebed.features import Entity, FeatureService, FeatureView, Field
from lakebed.rag.embedders import base as embedders
from lakebed.server import keys

# refused by every kind, identifiers and free-text labels alike
ALWAYS_BAD = ["x\n", "\n", "x\r", "", "x\x00", "\x00", "x\t", "a" * 201, "x\u202e", "x\u200b", "x\u2028",
              "\ud800", 42, None, b"x"]
# refused by every identifier kind (labels may hold them: a label never names a file)
PATH_BAD = ["../x", "..", ".", "x/y", "/x", "x\\y", "x y", "x;y", "ｘ", "é", "\u0661", "x.y\n"]
# the longest name of each kind; one character more is refused
LONGEST = {"table": 128, "collection": 200, "feature": 128, "model": 128, "alias": 200, "embedder": 64, "label": 200}


def _tree(root: Path) -> set[str]:
    return {os.path.relpath(os.path.join(d, n), root) for d, dirs, files in os.walk(root) for n in dirs + files
            if not n.startswith("catalog.db")}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value", ALWAYS_BAD, ids=repr)
def test_every_kind_refuses_control_characters_empty_and_long(kind: str, value: Any) -> None:
    with pytest.raises(lakebed.InvalidArgument, match="is not valid"):
        validate_name(kind, value)


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "label"])
@pytest.mark.parametrize("value", PATH_BAD, ids=repr)
def test_identifier_kinds_refuse_paths_and_lookalikes(kind: str, value: str) -> None:
    with pytest.raises(lakebed.InvalidArgument, match="is not valid"):
        validate_name(kind, value)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_a_length_limit(kind: str) -> None:
    assert validate_name(kind, "a" * LONGEST[kind]) == "a" * LONGEST[kind]
    with pytest.raises(lakebed.InvalidArgument, match="is not valid"):
        validate_name(kind, "a" * (LONGEST[kind] + 1))


def test_good_names_pass_and_unknown_kinds_are_refused() -> None:
    assert validate_name("table", "_users_2") == "_users_2"
    assert validate_name("collection", "docs-v2.en") == "docs-v2.en"
    assert validate_name("alias", "champion-2") == "champion-2"
    assert validate_name("label", "team/fraud: try 2 (é)") == "team/fraud: try 2 (é)"
    assert validate_name("label", "a" * 200) == "a" * 200
    with pytest.raises(lakebed.InvalidArgument, match="unknown kind"):
        validate_name("planet", "earth")


@given(st.text(max_size=140))
def test_an_accepted_identifier_is_one_plain_path_component(value: str) -> None:
    for kind in ("table", "collection", "feature", "model"):
        try:
            validate_name(kind, value)
        except lakebed.InvalidArgument:
            continue
        assert value.isascii() and value.isprintable() and value == value.strip()
        assert Path(value).name == value and value not in (".", "..") and "/" not in value


def _embedded_attempts(lake: lakebed.Lake, bad: str) -> list[Callable[[], Any]]:
    user = Entity("user", join_keys=["user_id"])
    return [
        lambda: lake.tables.create(f"silver.{bad}", data=[{"a": 1}]),
        lambda: lake.tables.create(f"{bad}.t", data=[{"a": 1}]),
        lambda: lake.tables.create(f"silver.{bad}", schema={"a": "int64"}),
        lambda: lake.collections.create(bad, dim=3),
        lambda: Entity(bad, join_keys=["user_id"]),
        lambda: Entity("user", join_keys=[bad]),
        lambda: Field(bad, "float64"),
        lambda: FeatureView(bad, entities=[user], source="silver.tx", timestamp_field="ts",
                            fields=[Field("amount", "float64")]),
        lambda: FeatureService(bad, features=["stats:amount"]),
        lambda: lake.models.versions(bad),
        lambda: lake.models.register(bad, run="0" * 32),
        lambda: embedders.register(bad),
    ]


@pytest.mark.parametrize("bad", ["nl\n", "../escape", "a/b", "", "x\x00", "n" * 300, "ｘ", "x\u202e"], ids=repr)
def test_every_area_refuses_bad_names_and_creates_nothing(tmp_path: Path, bad: str) -> None:
    with lakebed.connect(tmp_path / "lake") as lake:
        before = _tree(tmp_path)
        for attempt in _embedded_attempts(lake, bad):
            with pytest.raises(lakebed.InvalidArgument):
                attempt()
        assert lake.tables.list() == [] and lake.collections.list() == []
        assert _tree(tmp_path) == before


@pytest.mark.parametrize("bad", ["nl\n", "", "x\x00", "n" * 201, "x\u202e", "x\u2028"], ids=repr)
def test_labels_refuse_control_characters(tmp_path: Path, bad: str) -> None:
    with lakebed.connect(tmp_path / "lake") as lake:
        with pytest.raises(lakebed.InvalidArgument, match="experiment"):
            lake.runs.start(experiment=bad)
        with pytest.raises(lakebed.InvalidArgument, match="run name"):
            lake.runs.start(name=bad)
        with pytest.raises(lakebed.InvalidArgument, match="key name"):
            keys.create(lake, bad, ["read"])
        assert keys.list_keys(lake, include_revoked=True) == []
        assert not keys.auth_required(lake)


def test_model_aliases_follow_the_rule(tmp_path: Path) -> None:
    with lakebed.connect(tmp_path / "lake") as lake:
        with lake.runs.start() as run:
            run.log_model({"w": 1}, name="model")
        lake.models.register("fraud", run=run)
        for bad in ("champ\n", "../x", "", "a/b", "latest"):
            with pytest.raises(lakebed.InvalidArgument):
                lake.models.set_alias("fraud", bad, 1)
        lake.models.set_alias("fraud", "champion", 1)
        assert lake.models.get("fraud@champion").version == 1
