"""pytest-promptguard: prompt regression tests for pytest."""

__version__ = "0.1.0"

#: Version of every file format this package writes (goldens, reports, call logs).
FORMAT_VERSION = 1
