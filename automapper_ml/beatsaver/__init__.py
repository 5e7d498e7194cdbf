"""BeatSaver: search, filter and download map zips (with their metadata sidecars) into raw/.

Standard library HTTP only; usable from the `automapper download` command and from Dagster."""

from automapper_ml.beatsaver.catalog import read_catalog, scan_catalog, write_catalog
from automapper_ml.beatsaver.client import (
    DEFAULT_BASE_URL,
    BeatSaverClient,
    BeatSaverError,
    ClientOptions,
    EndpointMovedError,
    HTTPStatusError,
    base_url_from_env,
)
from automapper_ml.beatsaver.download import DownloadOptions, DownloadSummary, download_maps, verify_map_zip
from automapper_ml.beatsaver.filters import (
    CATEGORIES,
    FilterOptions,
    ineligibility,
    map_category,
    parse_quotas,
)

__all__ = [
    "CATEGORIES",
    "DEFAULT_BASE_URL",
    "BeatSaverClient",
    "BeatSaverError",
    "ClientOptions",
    "DownloadOptions",
    "DownloadSummary",
    "EndpointMovedError",
    "FilterOptions",
    "HTTPStatusError",
    "base_url_from_env",
    "download_maps",
    "ineligibility",
    "map_category",
    "parse_quotas",
    "read_catalog",
    "scan_catalog",
    "verify_map_zip",
    "write_catalog",
]
