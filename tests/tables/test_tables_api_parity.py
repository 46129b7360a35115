"""Tables have one API: the embedded class and the HTTP client's implement
:class:`lakebed.api.TablesAPI` with the same methods and signatures."""

from __future__ import annotations

from tests._api_parity import check_parity

from lakebed.api._tables import TablesAPI
from lakebed.client._tables import RemoteTables
from lakebed.tables import Tables


def test_tables_parity() -> None:
    check_parity(TablesAPI, Tables, RemoteTables, embedded_only={
        "set_properties": "catalog properties other areas record on a table (training sets, imports)",
    })
