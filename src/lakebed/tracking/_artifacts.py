"""Content-addressed artifacts (``<lake>/artifacts/<sha256>``) and model flavors.

An artifact is stored once whatever the number of runs that log it; the name under
which a run knows it lives in the catalog (``run_artifacts``). Every read hashes the
bytes again and raises :class:`~lakebed.errors.CorruptionError` on a mismatch.

Model flavors (how a model object becomes bytes and back):

- ``sklearn``: anything from scikit-learn (joblib when present, else pickle);
- ``booster``: an xgboost-style booster with ``save_raw()`` / ``load_model(bytearray)``;
- ``torch``: a ``torch.nn.Module``'s ``state_dict`` (or a state dict given with
  ``flavor="torch"``), loaded back as the state dict;
- ``pickle``: anything else picklable.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import os
import pickle
import sys
from pathlib import Path
from typing import Any

from lakebed.errors import CorruptionError, InvalidArgument, NotFound
from lakebed.storage import atomic_write_bytes

FLAVORS = ("sklearn", "booster", "torch", "pickle")


class ArtifactStore:
    """Blobs addressed by their sha256 under ``root``."""

    def __init__(self, root: Path, *, durable: bool = True) -> None:
        self.root = Path(root)
        self.durable = durable

    def path(self, sha256: str) -> Path:
        return self.root / sha256

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self.path(digest)
        if not path.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, data, durable=self.durable)
        return digest

    def get(self, sha256: str) -> bytes:
        path = self.path(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(
                f"artifact {sha256} is missing from {self.root}; the lake's artifacts "
                "directory was changed outside lakebed; restore it from a backup"
            ) from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise CorruptionError(
                f"artifact {path} fails its sha256 checksum (the file was changed or damaged); "
                "restore it from a backup or log the artifact again"
            )
        return data


def read_source(source: str | os.PathLike[str] | bytes | bytearray | memoryview) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    path = Path(source)
    if not path.is_file():
        raise InvalidArgument(f"artifact {str(path)!r} is not a file; pass a file path or bytes")
    return path.read_bytes()


def _qualname(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}:{cls.__qualname__}"


def detect_flavor(model: Any) -> str:
    mod = type(model).__module__ or ""
    if mod.split(".")[0] == "sklearn":
        return "sklearn"
    if callable(getattr(model, "save_raw", None)) and callable(getattr(model, "load_model", None)):
        return "booster"
    torch = sys.modules.get("torch")  # never import torch just to look
    if torch is not None and isinstance(model, torch.nn.Module):
        return "torch"
    return "pickle"


def dump_model(model: Any, flavor: str | None) -> tuple[bytes, str, dict[str, Any]]:
    """Serialize ``model``: (bytes, flavor, properties needed to load it back)."""
    flavor = flavor or detect_flavor(model)
    if flavor not in FLAVORS:
        raise InvalidArgument(f"unknown model flavor {flavor!r}; use one of {', '.join(FLAVORS)}")
    props: dict[str, Any] = {"class": _qualname(model), "python": sys.version.split()[0]}
    try:
        if flavor == "sklearn":
            import sklearn

            props["sklearn"] = sklearn.__version__
            buf = io.BytesIO()
            try:
                import joblib

                joblib.dump(model, buf)
                props["serializer"] = "joblib"
            except ImportError:
                pickle.dump(model, buf, protocol=5)
                props["serializer"] = "pickle"
            return buf.getvalue(), flavor, props
        if flavor == "booster":
            return bytes(model.save_raw()), flavor, props
        if flavor == "torch":
            import torch

            state = model.state_dict() if hasattr(model, "state_dict") else model
            buf = io.BytesIO()
            torch.save(state, buf)
            props["torch"] = torch.__version__
            return buf.getvalue(), flavor, props
        return pickle.dumps(model, protocol=5), flavor, props
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise InvalidArgument(
            f"cannot serialize the {type(model).__name__} model with flavor {flavor!r}: {exc}; "
            "pass flavor= explicitly or log it as bytes with log_artifact"
        ) from None


def load_model(data: bytes, flavor: str | None, props: dict[str, Any] | None) -> Any:
    """The inverse of :func:`dump_model` (a torch model comes back as its state dict)."""
    props = props or {}
    if flavor == "mlflow":  # imported from MLflow in a format only MLflow loads
        files = sorted((props.get("mlflow") or {}).get("files") or ())
        raise InvalidArgument(
            "this model was imported from MLflow in a format lakebed does not load "
            f"(MLflow flavors: {', '.join((props.get('mlflow') or {}).get('flavors') or ()) or 'unknown'}); "
            f"load its files ({', '.join(files) or 'see properties'}) with mlflow"
        )
    try:
        if flavor == "sklearn" and props.get("serializer") == "joblib":
            import joblib

            return joblib.load(io.BytesIO(data))
        if flavor == "booster":
            module, _, qual = str(props["class"]).partition(":")
            cls: Any = importlib.import_module(module)
            for part in qual.split("."):
                cls = getattr(cls, part)
            booster = cls()
            booster.load_model(bytearray(data))
            return booster
        if flavor == "torch":
            import torch

            return torch.load(io.BytesIO(data), weights_only=True)
        return pickle.loads(data)
    except ImportError as exc:
        raise InvalidArgument(
            f"loading this {flavor} model needs {exc.name!r}, which is not installed; install it"
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise CorruptionError(f"the {flavor} model cannot be decoded: {exc}") from None
