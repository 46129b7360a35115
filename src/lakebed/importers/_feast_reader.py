"""Read a Feast repository with Feast itself and write its definitions as JSON.

This file runs in the Python that has Feast installed (lakebed's own environment or a
separate one, ``--feast-python``), as a script::

    python _feast_reader.py REPO_PATH OUT_JSON [--from-registry]

It imports only the standard library and Feast, never lakebed, so that it works in an
environment where lakebed is not installed. Without ``--from-registry`` it reads the
repository's Python files as ``feast plan`` does (``repo_operations.parse_repo`` plus
Feast's inference of timestamps, entity columns and features for file sources), without
writing anything; with it, it lists what ``feast apply`` recorded in the repository's
registry. :mod:`lakebed.importers.feast` turns the JSON into lakebed definitions.
"""

from __future__ import annotations

import dis
import hashlib
import importlib
import json
import os
import sys
import traceback
import types
from datetime import timedelta
from pathlib import Path
from typing import Any

FORMAT = 1


def _us(delta: timedelta | None) -> int | None:
    if delta is None:
        return None
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _dtype(dtype: Any) -> dict[str, str]:
    """A Feast type as its value-type name (INT64, FLOAT_LIST, ...) and its display form."""
    try:
        vt = dtype.to_value_type().name
    except Exception:  # an unusual type: keep its text, the importer reports it
        vt = "UNKNOWN"
    return {"value_type": vt, "feast_type": str(dtype)}


def _field(f: Any) -> dict[str, Any]:
    return {"name": f.name, **_dtype(f.dtype), "description": getattr(f, "description", "") or ""}


def _common(obj: Any) -> dict[str, Any]:
    return {
        "name": obj.name,
        "description": getattr(obj, "description", "") or "",
        "tags": {str(k): str(v) for k, v in (getattr(obj, "tags", None) or {}).items()},
        "owner": getattr(obj, "owner", "") or "",
    }


def _source(ds: Any, repo: Path) -> dict[str, Any]:
    from feast import FileSource, PushSource, RequestSource

    out: dict[str, Any] = {**_common(ds), "class": type(ds).__name__}
    out["timestamp_field"] = getattr(ds, "timestamp_field", "") or ""
    out["created_timestamp_column"] = getattr(ds, "created_timestamp_column", "") or ""
    out["field_mapping"] = dict(getattr(ds, "field_mapping", None) or {})
    if isinstance(ds, FileSource):
        uri = ds.file_options.uri
        fmt = ds.file_format
        out["path"] = uri
        out["resolved_path"] = FileSource.get_uri_for_file_path(repo_path=repo, uri=uri)
        out["file_format"] = "parquet" if fmt is None else type(fmt).__name__.replace("Format", "").lower()
    elif isinstance(ds, RequestSource):
        out["schema"] = [_field(f) for f in ds.schema]
    elif isinstance(ds, PushSource):
        out["batch_source"] = ds.batch_source.name if ds.batch_source is not None else None
    batch = getattr(ds, "batch_source", None)
    if batch is not None and "batch_source" not in out:
        out["batch_source"] = batch.name
    return out


def _view(fv: Any) -> dict[str, Any]:
    out: dict[str, Any] = {**_common(fv), "class": type(fv).__name__}
    out["entities"] = list(fv.entities or [])
    out["entity_columns"] = [_field(f) for f in fv.entity_columns]
    out["features"] = [_field(f) for f in fv.features]
    out["ttl_us"] = _us(fv.ttl)
    out["online"] = bool(fv.online)
    out["offline"] = bool(getattr(fv, "offline", False))
    out["batch_source"] = fv.batch_source.name if fv.batch_source is not None else None
    out["batch_source_class"] = type(fv.batch_source).__name__ if fv.batch_source is not None else None
    out["stream_source"] = fv.stream_source.name if getattr(fv, "stream_source", None) is not None else None
    out["source_class"] = type(getattr(fv, "source", None) or fv.batch_source).__name__
    out["has_transformation"] = bool(getattr(fv, "udf", None) or getattr(fv, "feature_transformation", None))
    out["aggregations"] = [str(a) for a in (getattr(fv, "aggregations", None) or [])]
    return out


def _global_names(code: types.CodeType) -> set[str]:
    names: set[str] = set()
    for ins in dis.get_instructions(code):
        if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME", "STORE_GLOBAL", "DELETE_GLOBAL"):
            names.add(str(ins.argval))
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _in_repo(module: Any, repo: Path) -> bool:
    file = getattr(module, "__file__", None)
    if not file:
        return False
    try:
        Path(file).resolve().relative_to(repo)
        return True
    except ValueError:
        return False


def _udf_globals(fn: Any, repo: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The global names a UDF uses: modules, importable objects and constants it can be
    rebuilt with elsewhere, and the reasons for those it cannot."""
    found: list[dict[str, Any]] = []
    problems: list[str] = []
    if getattr(fn, "__closure__", None):
        names = ", ".join(fn.__code__.co_freevars)
        problems.append(f"it uses variables of an enclosing function ({names})")
    glb = getattr(fn, "__globals__", {}) or {}
    for name in sorted(_global_names(fn.__code__)):
        if name not in glb:
            continue  # a builtin, or a name that is never defined
        obj = glb[name]
        if isinstance(obj, types.ModuleType):
            mod = obj.__name__
            if mod == "feast" or mod.startswith("feast."):
                problems.append(f"it uses Feast ({name} = {mod})")
            elif _in_repo(obj, repo):
                problems.append(f"it uses the repository's module {mod!r}")
            else:
                found.append({"name": name, "module": mod})
            continue
        if obj is None or isinstance(obj, bool | int | float | str):
            found.append({"name": name, "value": obj})
            continue
        owner = getattr(obj, "__module__", None)
        qual = getattr(obj, "__qualname__", None)
        if isinstance(owner, str) and isinstance(qual, str) and "<" not in qual and owner != "__main__":
            if owner == "feast" or owner.startswith("feast."):
                problems.append(f"it uses Feast's {name}")
                continue
            try:
                module = importlib.import_module(owner)
                target: Any = module
                for part in qual.split("."):
                    target = getattr(target, part)
            except Exception:
                target = None
                module = None
            if target is obj and module is not None and not _in_repo(module, repo):
                found.append({"name": name, "module": owner, "attr": qual})
                continue
        problems.append(f"it uses {name!r} ({type(obj).__name__}) defined in the repository")
    return found, problems


def _odfv(odfv: Any, repo: Path) -> dict[str, Any]:
    out: dict[str, Any] = {**_common(odfv), "class": type(odfv).__name__}
    out["mode"] = (getattr(odfv, "mode", "") or "").lower()
    out["singleton"] = bool(getattr(odfv, "singleton", False))
    out["write_to_online_store"] = bool(getattr(odfv, "write_to_online_store", False))
    out["aggregations"] = [str(a) for a in (getattr(odfv, "aggregations", None) or [])]
    out["features"] = [_field(f) for f in odfv.features]
    sources: list[dict[str, Any]] = []
    for key, proj in odfv.source_feature_view_projections.items():
        sources.append({
            "kind": "feature_view", "key": key, "view": proj.name, "name_to_use": proj.name_to_use(),
            "features": [f.name for f in proj.features], "join_key_map": dict(proj.join_key_map or {}),
        })
    for key, req in odfv.source_request_sources.items():
        sources.append({"kind": "request", "key": key, "name": req.name, "schema": [_field(f) for f in req.schema]})
    out["sources"] = sources
    transformation = getattr(odfv, "feature_transformation", None)
    udf = getattr(transformation, "udf", None) or getattr(odfv, "udf", None)
    text = getattr(transformation, "udf_string", None) or getattr(odfv, "udf_string", None) or ""
    out["transformation"] = type(transformation).__name__ if transformation is not None else None
    info: dict[str, Any] = {"source": text, "name": getattr(udf, "__name__", None),
                            "sha256": hashlib.sha256(text.encode()).hexdigest()}
    if udf is not None and hasattr(udf, "__code__"):
        glb, problems = _udf_globals(udf, repo)
        info["globals"] = glb
        info["problems"] = problems
        info["params"] = list(udf.__code__.co_varnames[: udf.__code__.co_argcount])
    else:
        info["globals"] = []
        info["problems"] = ["the transformation has no Python function"]
        info["params"] = []
    out["udf"] = info
    return out


def _service(fs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {**_common(fs), "class": type(fs).__name__}
    out["projections"] = [
        {"view": p.name, "name_alias": p.name_alias or None, "features": [f.name for f in p.features],
         "join_key_map": dict(p.join_key_map or {})}
        for p in fs.feature_view_projections
    ]
    out["logging"] = getattr(fs, "logging_config", None) is not None
    return out


def _read_repo(repo: Path) -> tuple[Any, list[Any], list[Any], list[Any], list[Any], list[Any], list[Any],
                                    list[dict[str, str]]]:
    """The objects of the repository's Python files, with Feast's inference for file sources."""
    from feast import FileSource, PushSource
    from feast.feature_store import _validate_data_sources, _validate_feature_views
    from feast.inference import (
        update_data_sources_with_inferred_event_timestamp_col,
        update_feature_views_with_inferred_features_and_entities,
    )
    from feast.infra.provider import get_provider
    from feast.repo_config import load_repo_config
    from feast.repo_operations import parse_repo

    config = load_repo_config(repo, repo / "feature_store.yaml")
    contents = parse_repo(repo)
    other: list[dict[str, str]] = []
    _validate_data_sources(contents.data_sources)
    _validate_feature_views([*contents.feature_views, *contents.stream_feature_views,
                             *contents.on_demand_feature_views])

    def file_backed(view: Any) -> bool:
        src = view.batch_source
        if isinstance(src, PushSource):
            src = src.batch_source
        return isinstance(src, FileSource)

    update_data_sources_with_inferred_event_timestamp_col(
        [ds for ds in contents.data_sources if isinstance(ds, FileSource | PushSource)], config)
    views = [fv for fv in contents.feature_views if file_backed(fv)]
    update_data_sources_with_inferred_event_timestamp_col([fv.batch_source for fv in views], config)
    update_feature_views_with_inferred_features_and_entities(get_provider(config), views, list(contents.entities),
                                                             config)
    for odfv in contents.on_demand_feature_views:
        try:
            odfv.infer_features()
        except Exception as exc:  # reported by the importer: the view is not imported
            other.append({"kind": "on_demand_feature_view", "name": odfv.name,
                          "reason": f"Feast could not infer its features: {exc}"})
    for label in getattr(contents, "label_views", []) or []:
        other.append({"kind": "label_view", "name": label.name, "reason": "lakebed has no label views"})
    for perm in getattr(contents, "permissions", []) or []:
        other.append({"kind": "permission", "name": perm.name,
                      "reason": "Feast permissions do not map to lakebed; use the server's API keys and grants"})
    return (config, contents.entities, contents.data_sources, contents.feature_views,
            contents.stream_feature_views, contents.on_demand_feature_views, contents.feature_services, other)


def _read_registry(repo: Path) -> tuple[Any, list[Any], list[Any], list[Any], list[Any], list[Any], list[Any],
                                        list[dict[str, str]]]:
    """What ``feast apply`` recorded in the repository's registry."""
    from feast import FeatureStore

    store = FeatureStore(repo_path=str(repo))
    views = list(store.list_feature_views())
    names = {v.name for v in views}
    views += [v for v in store.list_batch_feature_views() if v.name not in names]
    return (store.config, store.list_entities(), store.list_data_sources(), views,
            store.list_stream_feature_views(), store.list_on_demand_feature_views(),
            store.list_feature_services(), [])


def read(repo: Path, from_registry: bool) -> dict[str, Any]:
    import feast

    os.chdir(repo)  # as `feast plan` does: repo files are imported as modules relative to it
    if str(repo) not in sys.path:
        sys.path.insert(0, str(repo))
    sys.dont_write_bytecode = True
    config, entities, sources, views, stream_views, odfvs, services, other = (
        _read_registry(repo) if from_registry else _read_repo(repo)
    )
    return {
        "format": FORMAT,
        "feast_version": getattr(feast, "__version__", "?"),
        "project": config.project,
        "repo_path": str(repo),
        "read_from": "registry" if from_registry else "repository files",
        "offline_store": getattr(config.offline_store, "type", "?"),
        "entities": [
            {**_common(e), "join_keys": list(getattr(e, "join_keys", None) or [e.join_key]),
             "value_type": e.value_type.name}
            for e in entities
        ],
        "data_sources": [_source(ds, repo) for ds in sources],
        "feature_views": [_view(fv) for fv in views],
        "stream_feature_views": [_view(fv) for fv in stream_views],
        "on_demand_feature_views": [_odfv(o, repo) for o in odfvs],
        "feature_services": [_service(fs) for fs in services],
        "other": other,
    }


def main(argv: list[str]) -> int:
    # this file's directory holds lakebed's feast.py: it must not shadow the feast package
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    if len(argv) < 2:
        print("usage: _feast_reader.py REPO_PATH OUT_JSON [--from-registry]", file=sys.stderr)
        return 2
    repo = Path(argv[0]).resolve()
    out = Path(argv[1])
    try:
        result = read(repo, "--from-registry" in argv[2:])
    except BaseException as exc:  # the importer shows the message; the traceback helps a user debug the repo
        if isinstance(exc, KeyboardInterrupt):
            raise
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        if isinstance(exc, SystemExit):
            detail = f"Feast stopped reading the repository (exit {exc.code})"
        result = {"format": FORMAT, "error": detail, "traceback": traceback.format_exc()}
        out.write_text(json.dumps(result))
        return 1
    out.write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
