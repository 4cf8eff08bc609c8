"""The package version, in a module that imports nothing (read by the CLI and by the build)."""

__version__ = "0.1.0"
