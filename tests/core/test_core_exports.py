"""The public surface is deliberate: this test fails when it changes by accident."""

from __future__ import annotations

import inspect

import lakebed
from lakebed import errors


def test_public_names() -> None:
    assert sorted(lakebed.__all__) == sorted(
        [
            "AlreadyExists", "AuthError", "BackendUnavailable", "ConflictError", "CorruptionError",
            "FilterError", "InvalidArgument", "Lake", "LakebedError", "LockedError", "MissingExtra",
            "NotFound", "PermissionDenied", "QualityError", "ReadOnlyError", "SchemaError", "__version__",
            "connect",
        ]
    )
    for name in lakebed.__all__:
        assert hasattr(lakebed, name), name


def test_every_error_is_a_lakebed_error_and_drawn_in_the_tree() -> None:
    doc = errors.__doc__ or ""
    classes = [
        obj for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, Exception) and obj.__module__ == errors.__name__
    ]
    assert len(classes) >= 14
    for cls in classes:
        assert issubclass(cls, lakebed.LakebedError)
        assert cls.__name__ in doc, f"{cls.__name__} is missing from the tree in errors.py"


def test_missing_extra_names_the_install_command() -> None:
    try:
        errors.require("a_module_that_is_not_there", "embed")
    except lakebed.MissingExtra as exc:
        assert "pip install 'lakebed[embed]'" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("MissingExtra was not raised")


def test_not_found_message_is_not_quoted() -> None:
    assert str(lakebed.NotFound("no table 'x'")) == "no table 'x'"
