"""Data quality has one API: the embedded area and the HTTP client's implement
:class:`lakebed.api.QualityAPI` with the same methods and signatures, and both inherit
their documentation from it."""

from __future__ import annotations

import inspect

from tests._api_parity import check_parity

from lakebed.api._quality import QualityAPI
from lakebed.client._quality import RemoteQuality
from lakebed.quality import Quality
from lakebed.quality._contracts import Contracts


def test_quality_parity() -> None:
    check_parity(QualityAPI, Quality, RemoteQuality)


def test_the_mixin_reaches_the_interface_docs() -> None:
    # getdoc follows a method's qualname (Contracts.validate): the mixin must derive from the interface
    assert issubclass(Contracts, QualityAPI)
    for name in ("contract", "validate", "results", "profile", "drift"):
        assert inspect.getdoc(getattr(Quality, name)) == inspect.getdoc(getattr(QualityAPI, name)), name
        assert getattr(Quality, name).__doc__ is None, f"{name}: the docstring lives in QualityAPI"
