"""The raw map folder as data: which zips exist, their content hashes, and hash shards.

A zip belongs to one of N fixed shards chosen by a stable hash of its FILE NAME, so a zip
whose bytes change stays in its shard (only that shard goes stale). A shard's fingerprint
hashes the (name, size, sha256) of its zips and the sha256 of their sidecars; sha256 is
cached by (name, size, mtime_ns) so observing 15,000 unchanged zips reads no zip bytes.

    entries = scan_raw(home / "raw", cache_path)
    fingerprints = shard_fingerprints(entries, shard_count=16)

A zip's key (`ZipEntry.name`, the manifest's `zip_name`, the feature stores' map key) is its
exact file name: `x.zip` and `x.ZIP` are two maps. A name that is not UTF-8 on disk (a raw 0xE9
byte) is keyed by `quarantine.safe_name` ("caf\\xe9.zip") and opened by its real name
(`ZipEntry.fs_name`); in the unlikely case that key is another file's name, a hash of the raw
bytes goes before the suffix, so two files never share a key.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from automapper_ml.atomic import write_atomic
from automapper_ml.data.quarantine import is_utf8_name, safe_name

MAX_SHARDS = 64
SIDECAR_MAX_BYTES = 4 * 1024 * 1024  # a BeatSaver record is a few KiB; bigger is not a record
SHA_CACHE_VERSION = 1
_HASH_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ZipEntry:
    """One `*.zip` in raw/ as found on disk."""

    name: str  # the zip's key: its file name inside raw/ (no folder), made valid UTF-8
    size: int  # bytes
    mtime_ns: int
    sha256: str  # hex digest of the bytes; "" when `problem` is set
    sidecar_sha256: str  # hex digest of `<stem>.json`, "" when there is none (or it is too big)
    problem: str = ""  # why it cannot be read as a zip at all ("" when fine): not_regular_file, unreadable
    fs_name: str = ""  # the name as os.listdir gives it, when it differs from `name` (not UTF-8)

    @property
    def stem(self) -> str:
        return self.name[:-4]

    def path(self, raw_dir: Path) -> Path:
        """Where the zip is on disk."""
        return raw_dir / (self.fs_name or self.name)

    def sidecar(self, raw_dir: Path) -> Path:
        return sidecar_path(raw_dir, self.fs_name or self.name)


def shard_keys(shard_count: int) -> list[str]:
    """Partition keys "00".."NN" for `shard_count` shards."""
    if not 1 <= shard_count <= MAX_SHARDS:
        raise ValueError(f"shard count must be 1..{MAX_SHARDS}, got {shard_count}")
    return [f"{i:02d}" for i in range(shard_count)]


def shard_of(name: str, shard_count: int) -> str:
    """The shard key of a zip file name: the first 8 bytes of sha1(name) modulo the shard count."""
    digest = hashlib.sha1(name.encode("utf-8", "surrogateescape")).digest()
    return f"{int.from_bytes(digest[:8], 'big') % shard_count:02d}"


def list_zip_names(raw_dir: Path) -> list[str]:
    """Names of `*.zip` entries (any case of the suffix) directly inside raw/, sorted; [] if it is absent."""
    if not raw_dir.is_dir():
        return []
    return sorted(e.name for e in os.scandir(raw_dir) if e.name.lower().endswith(".zip"))


def zip_keys(fs_names: list[str]) -> dict[str, str]:
    """File name as listed -> its key (see the module docstring); distinct names get distinct keys."""
    keys = {n: n for n in fs_names if is_utf8_name(n)}
    taken = set(keys.values())
    for n in sorted(set(fs_names) - set(keys)):
        key = safe_name(n)
        if key in taken:
            tag = hashlib.sha1(os.fsencode(n)).hexdigest()[:8]
            key = f"{key[:-4]}~{tag}{key[-4:]}"
        keys[n] = key
        taken.add(key)
    return keys


def list_zip_keys(raw_dir: Path) -> list[str]:
    """The keys of `list_zip_names(raw_dir)`, sorted: the zip names the manifest and blacklist use."""
    return sorted(zip_keys(list_zip_names(raw_dir)).values())


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sidecar_path(raw_dir: Path, zip_name: str) -> Path:
    return raw_dir / (zip_name[:-4] + ".json")


def _sidecar_sha(raw_dir: Path, zip_name: str) -> str:
    path = sidecar_path(raw_dir, zip_name)
    try:
        st = os.stat(path, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode) or st.st_size > SIDECAR_MAX_BYTES:
            return ""
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def _load_sha_cache(cache_path: Path | None) -> dict[str, list]:
    if cache_path is None:
        return {}
    try:
        data = json.loads(cache_path.read_text("utf-8"))
        if data.get("version") == SHA_CACHE_VERSION and isinstance(data.get("entries"), dict):
            return data["entries"]
    except (OSError, ValueError, AttributeError):
        pass  # a missing or damaged cache only costs re-hashing
    return {}


def scan_raw(raw_dir: Path, cache_path: Path | None = None) -> list[ZipEntry]:
    """Every `*.zip` in raw/ with its sha256, re-hashing only files whose (size, mtime_ns) changed.

    Symlinks and non-regular files are listed with `problem="not_regular_file"` (never followed:
    a link to /dev/zero must not hang the scan); they end in the blacklist, not silently dropped.
    """
    cache = _load_sha_cache(cache_path)
    entries: list[ZipEntry] = []
    new_cache: dict[str, list] = {}
    keys = zip_keys(list_zip_names(raw_dir))
    for name, key in sorted(keys.items(), key=lambda kv: kv[1]):
        path = raw_dir / name
        fs_name = "" if name == key else name
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            continue  # vanished between listing and stat: it is simply not there any more
        side = _sidecar_sha(raw_dir, name)
        if not stat.S_ISREG(st.st_mode):
            entries.append(ZipEntry(key, 0, 0, "", side, "not_regular_file", fs_name))
            continue
        cached = cache.get(key)
        if cached and cached[0] == st.st_size and cached[1] == st.st_mtime_ns:
            sha = cached[2]
        else:
            try:
                sha = sha256_file(path)
            except OSError:
                entries.append(ZipEntry(key, st.st_size, st.st_mtime_ns, "", side, "unreadable", fs_name))
                continue
        new_cache[key] = [st.st_size, st.st_mtime_ns, sha]
        entries.append(ZipEntry(key, st.st_size, st.st_mtime_ns, sha, side, "", fs_name))
    if cache_path is not None and new_cache != cache:
        payload = {"version": SHA_CACHE_VERSION, "entries": new_cache}
        write_atomic(cache_path, json.dumps(payload, sort_keys=True).encode())
    return entries


def shard_fingerprints(entries: list[ZipEntry], shard_count: int) -> dict[str, str]:
    """Shard key -> sha256 over its zips' (name, size, sha256, sidecar sha256, problem); every shard present."""
    lines: dict[str, list[str]] = {k: [] for k in shard_keys(shard_count)}
    for e in entries:
        lines[shard_of(e.name, shard_count)].append(
            f"{e.name}\t{e.size}\t{e.sha256}\t{e.sidecar_sha256}\t{e.problem}"
        )
    return {k: hashlib.sha256("\n".join(sorted(v)).encode()).hexdigest()[:24] for k, v in lines.items()}
