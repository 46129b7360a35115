"""Contracts on stream appends, on every backend: reject appends nothing, quarantine sets
failing records aside in a table, warn appends and records; dataset checks are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

import lakebed
from lakebed.errors import InvalidArgument, QualityError
from lakebed.quality import between, isin, not_null, row_count, unique

ROWS = [{"user_id": 1, "item": "a", "price": 3.0}, {"user_id": None, "item": "b", "price": 1.0},
        {"user_id": 2, "item": "zzz", "price": -5.0}, {"user_id": 3, "item": "a", "price": 2.0}]


def total(stream) -> int:
    return sum(end - start for start, end in stream.bounds())


@pytest.mark.parametrize("mode", ["reject", "quarantine", "warn"])
def test_stream_contract(streams_url: str | None, tmp_path: Path, mode: str) -> None:
    settings = {"streams": streams_url} if streams_url else {}
    with lakebed.connect(tmp_path / "lake", **settings) as lake:
        s = lake.streams.create("clicks", schema={"user_id": "int64", "item": "string", "price": "float64"},
                                key="item")
        lake.quality.contract("stream:clicks", checks=[not_null("user_id"), isin("item", ["a", "b"]),
                                                       between("price", 0, 100)], on_violation=mode)
        if mode == "reject":
            with pytest.raises(QualityError, match=r"not_null\(user_id\): 1 of 4"):
                s.append(ROWS)
            assert total(s) == 0
            assert s.append(ROWS[:1]) and total(s) == 1
        elif mode == "quarantine":
            positions = s.append(ROWS, ids=["m1", "m2", "m3", "m4"])
            assert len(positions) == 2 and total(s) == 2
            q = lake.tables.read("quarantine.clicks").to_pylist()
            assert sorted((r["item"], sorted(r["_lakebed_reasons"])) for r in q) == [
                ("b", ["not_null(user_id)"]), ("zzz", ["between(price, 0, 100)", "isin(item, ['a', 'b'])"])]
            assert s.append(ROWS[3:], ids=["m4"]) == [positions[1]]  # the kept ids stayed with their rows
        else:
            assert len(s.append(ROWS)) == 4 and total(s) == 4
        res = lake.quality.results("stream:clicks")
        assert res[-1].action == {"reject": "reject", "quarantine": "quarantine", "warn": "warn"}[mode]
        assert not res[-1].passed and res[-1].table_version is None


def test_stream_contracts_take_row_checks_only(lake: lakebed.Lake) -> None:
    lake.streams.create("e", schema={"v": "int64"})
    with pytest.raises(InvalidArgument, match="judges a whole table"):
        lake.quality.contract("stream:e", checks=[row_count(min=1)])
    with pytest.raises(InvalidArgument, match="no column 'w'"):
        lake.quality.contract("stream:e", checks=[not_null("w")])
    lake.quality.contract("stream:e", checks=[unique("v")])
    with pytest.raises(QualityError):
        lake.streams.get("e").append([{"v": 1}, {"v": 1}])  # a repeat inside one append
    with pytest.raises(InvalidArgument, match="checked on each append"):
        lake.quality.validate("stream:e")
    with pytest.raises(InvalidArgument):
        lake.quality.contract("stream:../x", checks=[not_null("v")])
