"""The ``lakebed features`` commands (driven through Typer's test runner)."""

from __future__ import annotations

import textwrap

import pytest
from features_helpers import transactions
from typer.testing import CliRunner

import lakebed
from lakebed.features.cli import app

runner = CliRunner()
COMMANDS = ["plan", "apply", "ls", "materialize", "status", "online", "stream"]

DEFS = textwrap.dedent('''
    from datetime import timedelta
    from lakebed.features import Entity, FeatureView, FeatureService, Field
    user = Entity("user", join_keys=["user_id"])
    stats = FeatureView("user_stats", entities=[user], source="silver.transactions", timestamp_field="ts",
                        created_timestamp_field="created_at", ttl=timedelta(days=3650),
                        fields=[Field("amount", "float64"), Field("merchant", "string")])
    fraud = FeatureService("fraud", features=[stats])
''')


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "--lake" in result.output


def test_plan_apply_materialize_status_online(lake_path, tmp_path):
    with lakebed.connect(lake_path) as lake:
        lake.tables.create("silver.transactions", data=transactions())
    defs = tmp_path / "defs.py"
    defs.write_text(DEFS)
    env = {"LAKEBED_LAKE": str(lake_path), "COLUMNS": "200"}
    out = runner.invoke(app, ["plan", str(defs)], env=env)
    assert out.exit_code == 0, out.output
    assert "user_stats" in out.output and "v1" in out.output
    out = runner.invoke(app, ["apply", str(defs)], env=env)
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["ls"], env=env)
    assert "fraud" in out.output and "silver.transactions" in out.output
    out = runner.invoke(app, ["materialize"], env=env)
    assert out.exit_code == 0, out.output
    assert "materialized" in out.output
    out = runner.invoke(app, ["status"], env=env)
    assert out.exit_code == 0 and "user_stats" in out.output
    out = runner.invoke(app, ["online", "fraud", "--key", "user_id=3"], env=env)
    assert out.exit_code == 0, out.output
    assert "present" in out.output
    out = runner.invoke(app, ["online", "user_stats:nope", "--key", "user_id=3"], env=env)
    assert out.exit_code == 1 and "no feature" in out.output
    out = runner.invoke(app, ["online", "fraud", "--key", "user_id=abc"], env=env)
    assert out.exit_code == 1, out.output
    assert "user_id is an integer key" in out.output and "'abc' is not an integer" in out.output
    assert "missing" not in out.output
    with lakebed.connect(lake_path, read_only=True) as lake:
        assert lake.features.get_view("user_stats").version == 1


def test_key_values_are_parsed_by_the_declared_key_type():
    import pyarrow as pa

    from lakebed.errors import InvalidArgument
    from lakebed.features.cli import _typed_key

    assert _typed_key("sku", "0042", pa.string()) == "0042"  # a string key keeps its text
    assert _typed_key("user_id", "7", pa.int64()) == 7
    assert _typed_key("score", "0.5", pa.float64()) == 0.5
    with pytest.raises(InvalidArgument, match="score is a double key; 'high' is not a number"):
        _typed_key("score", "high", pa.float64())
