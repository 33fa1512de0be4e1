"""ladle: build, store and serve local LLMs from declarative Modelfiles."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ladle")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
