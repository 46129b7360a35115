"""The lakebed REST server: ``lakebed serve PATH`` puts a lake behind HTTP.

Example:
    >>> import lakebed
    >>> from lakebed.server import create_app
    >>> with lakebed.connect(":memory:") as lake:
    ...     app = create_app(lake)
"""

from lakebed.server import _keys as keys
from lakebed.server._app import create_app, is_loopback
from lakebed.server._serve import serve

__all__ = ["create_app", "is_loopback", "keys", "serve"]
