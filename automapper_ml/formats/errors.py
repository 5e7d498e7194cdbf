"""Typed errors for bad map input: each carries a stable `code` (used as the blacklist
reason key) and a one-line human reason. Nothing in `formats` raises anything else for
bad input; an unexpected exception there is a bug."""

from __future__ import annotations


class CodedError(Exception):
    """An error with a machine-readable `code` and a one-line `str(err)` for a human.

    A subclass names its code in its class statement (`class X(CodedError, code="x")`); one
    raise may give another (`X(reason, code="y")`). The BeatSaver client's errors build on it too.
    """

    code = "error"

    def __init_subclass__(cls, code: str | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.code = code

    def __init__(self, reason: str, *, code: str | None = None) -> None:
        reason = " ".join(str(reason).split())  # always one line
        super().__init__(reason)
        if code is not None:
            self.code = code


class MapError(CodedError, code="map_error"):
    """Base class of every error about a map's files."""

    @property
    def reason(self) -> str:
        return str(self)


class UnsafeZipError(MapError, code="unsafe_zip"):
    """The archive is not a zip, is damaged, or breaks a safety rule (traversal, links, size caps)."""


class MapFormatError(MapError, code="bad_format"):
    """The files are there but are not a readable Beat Saber map."""


class MissingFileError(MapFormatError, code="missing_file"):
    """A file the map needs is not in it, or the path given does not exist."""


class UnsupportedVersionError(MapFormatError, code="unsupported_version"):
    """A format version that is not read here, or that cannot hold what is to be written."""


class InvalidValueError(MapFormatError, code="invalid_value"):
    """A value is NaN, infinite, absurdly large, or of the wrong type."""
