"""Feature references resolved against the applied views: what
:meth:`lakebed.api.FeatureStoreAPI.resolve` answers. It depends on the standard library
alone, so the HTTP client builds the same object as the embedded store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lakebed.errors import InvalidArgument


@dataclass
class Resolved:
    """Feature references resolved against view specs: ``refs`` (view, feature) in the
    order asked, ``needed`` features per view (the sources of on-demand views too),
    ``odfvs`` the on-demand views among them and ``service`` the FeatureService named.

    Example:
        >>> r = Resolved(refs=[("stats", "amount"), ("clicks", "amount")])
        >>> r.output_names(full=True)
        ['stats__amount', 'clicks__amount']
    """

    refs: list[tuple[str, str]]
    needed: dict[str, list[str]] = field(default_factory=dict)
    odfvs: list[str] = field(default_factory=list)
    service: str | None = None

    def output_names(self, full: bool) -> list[str]:
        """The column names of the features (``view__feature`` when ``full``); several
        features of one name need ``full``."""
        names = [f"{v}__{f}" if full else f for v, f in self.refs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InvalidArgument(
                f"features {dupes} come from several views; pass full_feature_names=True "
                "to name the columns view__feature"
            )
        return names

    def to_json(self) -> dict[str, Any]:
        """The fields as JSON values (``refs`` as ``[view, feature]`` pairs)."""
        return {"refs": [list(r) for r in self.refs], "needed": self.needed, "odfvs": self.odfvs,
                "service": self.service}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Resolved:
        """The inverse of :meth:`to_json`."""
        return cls(refs=[(str(v), str(f)) for v, f in data["refs"]],
                   needed={str(k): [str(f) for f in v] for k, v in data["needed"].items()},
                   odfvs=[str(v) for v in data["odfvs"]], service=data.get("service"))
