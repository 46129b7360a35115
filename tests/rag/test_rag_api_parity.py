"""RAG has one API: the embedded :class:`lakebed.rag.Rag` and the HTTP client's implement
:class:`lakebed.api.RagAPI` with the same methods and signatures."""

from __future__ import annotations

from tests._api_parity import check_parity

from lakebed.api._rag import RagAPI
from lakebed.client._rag import RemoteRag
from lakebed.rag import Rag
from lakebed.rag.chunking import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP


def test_rag_parity() -> None:
    check_parity(RagAPI, Rag, RemoteRag)


def test_the_interface_defaults_are_the_chunking_defaults() -> None:
    import inspect

    params = inspect.signature(RagAPI.ingest).parameters
    assert (params["chunk_size"].default, params["overlap"].default) == (DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP)
