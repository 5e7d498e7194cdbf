"""Typed errors for bad map input: each carries a stable `code` (used as the blacklist
reason key) and a one-line human reason. Nothing in `formats` raises anything else for
bad input; an unexpected exception there is a bug."""

from __future__ import annotations


class MapError(Exception):
    """Base class: `code` is machine-readable, `str(err)` is one line for a human."""

    code = "map_error"

    def __init__(self, reason: str, *, code: str | None = None) -> None:
        reason = " ".join(str(reason).split())  # always one line
        super().__init__(reason)
        if code is not None:
            self.code = code

    @property
    def reason(self) -> str:
        return str(self)


class UnsafeZipError(MapError):
    """The archive is not a zip, is damaged, or breaks a safety rule (traversal, links, size caps)."""

    code = "unsafe_zip"


class MapFormatError(MapError):
    """The files are there but are not a readable Beat Saber map."""

    code = "bad_format"


class MissingFileError(MapFormatError):
    code = "missing_file"


class UnsupportedVersionError(MapFormatError):
    code = "unsupported_version"


class InvalidValueError(MapFormatError):
    """A value is NaN, infinite, absurdly large, or of the wrong type."""

    code = "invalid_value"
