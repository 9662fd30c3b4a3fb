from importlib import metadata as _metadata

try:  # the single source is pyproject.toml's version, via the installed distribution
    __version__ = _metadata.version("kafka-drift-detector")
except _metadata.PackageNotFoundError:  # a checkout on sys.path without an install
    __version__ = "0+unknown"

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from detector.api import Monitor
    from detector.detectors.plugins import Plugin

__all__ = ["Monitor", "Plugin", "__version__"]


def __getattr__(name: str) -> Any:
    """``detector.Monitor`` and ``detector.Plugin``, imported on first use (``import detector``
    stays light)."""
    if name == "Monitor":
        from detector.api import Monitor

        return Monitor
    if name == "Plugin":
        from detector.detectors.plugins import Plugin

        return Plugin
    raise AttributeError(f"module 'detector' has no attribute {name!r}")
