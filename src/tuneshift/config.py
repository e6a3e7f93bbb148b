"""Where tuneshift keeps downloads, models and caches.

Precedence: explicit argument > environment variable > default under ``~/.cache/tuneshift``.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root(path: str | os.PathLike | None = None) -> Path:
    """Root of tuneshift's caches: `path`, else ``$TUNESHIFT_CACHE``, else ``~/.cache/tuneshift``."""
    root = Path(path or os.environ.get("TUNESHIFT_CACHE") or Path.home() / ".cache" / "tuneshift")
    return root.expanduser()


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """Directory of downloaded datasets: `path`, else ``$TUNESHIFT_DATA``, else ``<cache_root>/data``."""
    return Path(path or os.environ.get("TUNESHIFT_DATA") or cache_root() / "data").expanduser()


def models_dir(path: str | os.PathLike | None = None) -> Path:
    """Directory of fetched models (GGUF files from registry packages): ``<cache_root>/models``."""
    return Path(path or os.environ.get("TUNESHIFT_MODELS") or cache_root() / "models").expanduser()


def activations_dir(path: str | os.PathLike | None = None) -> Path:
    """Directory of the activation cache: ``<cache_root>/activations``."""
    return Path(path or os.environ.get("TUNESHIFT_ACTIVATIONS") or cache_root() / "activations").expanduser()
