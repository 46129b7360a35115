"""Where the benchmarks find the shared datasets.

``$LAKEBED_DATASETS`` if set, otherwise ``../shared/datasets`` from the project root (the
folder next to the clone, as CI lays it out): ``dataset_dir("ann-dev")``.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "LAKEBED_DATASETS"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def datasets_root() -> Path:
    """The folder holding the datasets: ``$LAKEBED_DATASETS`` or ``<project root>/../shared/datasets``."""
    env = os.environ.get(ENV)
    return Path(env).expanduser() if env else PROJECT_ROOT.parent / "shared" / "datasets"


def dataset_dir(name: str) -> Path:
    """The folder of dataset ``name`` (not checked: a missing one fails where it is read)."""
    return datasets_root() / name

