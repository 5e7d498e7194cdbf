"""Zip bytes built and damaged by hand: members in order, then header fields patched in place.

    data = zip_bytes({"Info.dat": info, "song.egg": ogg})
    data = patch_member(data, "ExpertStandard.dat", flags=0x1)  # "encrypted"

`patch_member` rewrites the same field in the member's local header and in its central-directory
entry, so zipfile sees the lie wherever it looks.
"""

from __future__ import annotations

import io
import stat
import struct
import warnings
import zipfile

DATE = (1980, 1, 1, 0, 0, 0)
_EOCD = b"PK\x05\x06"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"
_COMPRESSED = (".egg", ".ogg", ".flac")  # audio is stored: it is compressed already


def info(name: str, *, stored: bool = False, mode: int | None = None) -> zipfile.ZipInfo:
    """A member header: deflated unless `stored`; `mode` (e.g. S_IFLNK | 0o777) sets unix mode bits."""
    zi = zipfile.ZipInfo(date_time=DATE)
    zi.filename = name  # set directly: the constructor rewrites a leading "/" or backslashes
    zi.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    zi.create_system = 3
    zi.external_attr = (mode if mode is not None else stat.S_IFREG | 0o644) << 16
    return zi


def zip_bytes(
    members: dict[str, bytes] | list[tuple[str | zipfile.ZipInfo, bytes]], *, stored: tuple[str, ...] = ()
) -> bytes:
    """A zip of `members` in order (a list may repeat a name); names ending in `stored` are not compressed."""
    items = list(members.items()) if isinstance(members, dict) else list(members)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": on purpose in some cases
        for name, data in items:
            if not isinstance(name, zipfile.ZipInfo):
                name = info(name, stored=name.endswith((*stored, *_COMPRESSED)))
            zf.writestr(name, data)
    return buf.getvalue()


def _central_entries(data: bytes):
    """(offset of the central entry, offset of its local header, name bytes) for every member."""
    end = data.rfind(_EOCD)
    if end < 0:
        raise ValueError("no end-of-central-directory record")
    count, _size, offset = struct.unpack_from("<HII", data, end + 10)
    pos = offset
    for _ in range(count):
        if data[pos : pos + 4] != _CENTRAL:
            raise ValueError(f"no central entry at {pos}")
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, pos + 28)
        local = struct.unpack_from("<I", data, pos + 42)[0]
        yield pos, local, data[pos + 46 : pos + 46 + name_len]
        pos += 46 + name_len + extra_len + comment_len


def patch_member(
    data: bytes,
    name: str,
    *,
    flags: int | None = None,
    method: int | None = None,
    declared_size: int | None = None,
) -> bytes:
    """`data` with one member's general-purpose flags (OR-ed in), compression method or declared
    uncompressed size replaced in both its local header and its central-directory entry."""
    out = bytearray(data)
    target = name.encode("utf-8")
    hit = False
    for central, local, raw in _central_entries(data):
        if raw != target:
            continue
        hit = True
        if out[local : local + 4] != _LOCAL:
            raise ValueError(f"no local header for {name!r}")
        if flags is not None:
            for at in (central + 8, local + 6):
                struct.pack_into("<H", out, at, struct.unpack_from("<H", out, at)[0] | flags)
        if method is not None:
            struct.pack_into("<H", out, central + 10, method)
            struct.pack_into("<H", out, local + 8, method)
        if declared_size is not None:
            struct.pack_into("<I", out, central + 24, declared_size)
            struct.pack_into("<I", out, local + 22, declared_size)
    if not hit:
        raise KeyError(name)
    return bytes(out)


def replace_name_bytes(data: bytes, old: bytes, new: bytes, *, utf8_flag: bool | None = None) -> bytes:
    """Every stored copy of a member name `old` replaced by `new` (same length), optionally setting or
    clearing the UTF-8 flag (bit 11) of that member: how names no encoder would write get in."""
    if len(old) != len(new):
        raise ValueError("names must keep their length")
    out = bytearray(data)
    for central, local, raw in _central_entries(data):
        if raw != old:
            continue
        for header, name_at in ((central, central + 46), (local, local + 30)):
            out[name_at : name_at + len(old)] = new
            if utf8_flag is not None:
                at = header + (8 if header == central else 6)
                value = struct.unpack_from("<H", out, at)[0]
                value = value | 0x800 if utf8_flag else value & ~0x800
                struct.pack_into("<H", out, at, value)
    return bytes(out)
