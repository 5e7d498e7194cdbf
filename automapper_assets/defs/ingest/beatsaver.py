"""BeatSaver ingestion as Dagster assets: `beatsaver_catalog` (the filtered catalogue as a
parquet table) and `beatsaver_downloads` (fetch what it lists into <home>/raw, with sidecars,
so the new-zips sensor and `raw_map_zips` take over from there).

Both talk to the network, so they are tagged `network=beatsaver` and live only in
`beatsaver_download_job`: the default demo pipeline must select around them
(`dg.AssetSelection.all() - BEATSAVER_SELECTION`). The logic is automapper_ml.beatsaver;
these bodies only turn config into its dataclasses.
"""

# No `from __future__ import annotations`: Dagster reads the Config annotations at decoration time.

import hashlib
from collections import Counter

import dagster as dg

from automapper_assets.defs.resources import AutomapperPaths
from automapper_ml.beatsaver.catalog import read_catalog, scan_catalog, write_catalog
from automapper_ml.beatsaver.client import BeatSaverClient, BeatSaverError, ClientOptions, base_url_from_env
from automapper_ml.beatsaver.download import DownloadOptions, download_maps
from automapper_ml.beatsaver.filters import FilterOptions, map_category, parse_quotas

CATALOG_FILE = "beatsaver_catalog.parquet"
NETWORK_TAG = {"network": "beatsaver"}


class BeatSaverConfig(dg.Config):
    """Where the API is and how hard to lean on it (shared by both assets)."""

    base_url: str = ""  # empty: $BEATSAVER_BASE_URL at run time, else https://api.beatsaver.com
    min_interval_s: float = 0.2  # pacing between requests
    max_retries: int = 5  # on 429 / 5xx / network errors


class BeatSaverCatalogConfig(BeatSaverConfig):
    quotas: list[str] = []  # e.g. ["vanilla:10000", "chroma:2000"]; empty: no quotas
    min_rating: float = 0.8  # stats.score; 0 disables
    min_year: int = 2022  # upload year; 0 disables
    max_nps: float = 0.0  # cap on Standard Expert/Expert+ NPS; 0 disables
    include_ai: bool = False  # keep automapper / declaredAi maps
    max_pages: int = 100  # search pages to read at most
    sort_order: str = "Rating"


class BeatSaverDownloadsConfig(BeatSaverConfig):
    limit: int = 0  # stop after this many new downloads; 0: no limit


def _client(config: BeatSaverConfig) -> BeatSaverClient:
    return BeatSaverClient(
        ClientOptions(
            base_url=base_url_from_env(config.base_url or None),
            min_interval_s=config.min_interval_s,
            max_retries=config.max_retries,
        )
    )


@dg.asset(
    group_name="download",
    kinds={"python", "parquet"},
    tags=NETWORK_TAG,
    description="Eligible BeatSaver maps (filters + quota candidates) as <home>/ingest/beatsaver_catalog.parquet.",
)
def beatsaver_catalog(
    context: dg.AssetExecutionContext, config: BeatSaverCatalogConfig, paths: AutomapperPaths
) -> dg.MaterializeResult:
    """Page through the search API and keep one row per eligible map."""
    try:
        quotas = parse_quotas(config.quotas)
    except ValueError as err:
        raise dg.Failure(str(err)) from None
    filters = FilterOptions(
        min_rating=config.min_rating or None,
        min_year=config.min_year or None,
        max_nps=config.max_nps or None,
        include_ai=config.include_ai,
    )
    client = _client(config)
    try:
        records, skipped = scan_catalog(
            client.iter_search(sort_order=config.sort_order, max_pages=config.max_pages), filters, quotas
        )
    except BeatSaverError as err:  # a moved endpoint or a refused request fails the run, loudly
        raise dg.Failure(f"BeatSaver: {err}") from None
    path = paths.ingest / CATALOG_FILE
    rows = write_catalog(records, path, quotas)
    categories = Counter(map_category(r) for r in records)
    digest = hashlib.sha256(
        "\n".join(f"{r['id']}:{r['versions'][0]['hash']}" for r in records).encode()
    ).hexdigest()[:16]
    context.log.info(f"catalogue: {rows} maps, skipped {dict(skipped)}, {client.requests} requests")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "rows": rows,
            "per_category": dg.MetadataValue.json(dict(categories)),
            "skipped": dg.MetadataValue.json(dict(skipped)),
            "quotas": dg.MetadataValue.json(quotas),
            "requests": client.requests,
        },
        data_version=dg.DataVersion(digest),
    )


@dg.asset(
    group_name="download",
    kinds={"python"},
    tags=NETWORK_TAG,
    deps=[beatsaver_catalog],
    description="Zips (+ <id>.json sidecars) of the catalogued maps, downloaded into <home>/raw within quotas.",
)
def beatsaver_downloads(
    context: dg.AssetExecutionContext, config: BeatSaverDownloadsConfig, paths: AutomapperPaths
) -> dg.MaterializeResult:
    """Download what the catalogue lists, resuming: complete maps already in raw/ are kept."""
    catalog = paths.ingest / CATALOG_FILE
    if not catalog.is_file():
        raise dg.Failure(f"{catalog} is missing: materialise beatsaver_catalog first")
    records, quotas = read_catalog(catalog)
    client = _client(config)
    # The catalogue already applied the filters; keep only the structural checks here.
    options = DownloadOptions(
        filters=FilterOptions(min_rating=None, min_year=None, max_nps=None, include_ai=True),
        quotas=quotas,
        limit=config.limit or None,
        progress=False,
    )
    summary = download_maps(records, client, paths.root(), options)
    context.log.info(summary.format())
    return dg.MaterializeResult(
        metadata={
            "raw": dg.MetadataValue.path(str(paths.raw)),
            "downloaded": summary.downloaded,
            "already_present": summary.present,
            "failed": dg.MetadataValue.json(dict(summary.failed)),
            "skipped": dg.MetadataValue.json(dict(summary.skipped)),
            "per_category": dg.MetadataValue.json(dict(summary.per_category)),
            "quotas": dg.MetadataValue.json(quotas),
            "summary": dg.MetadataValue.text(summary.format()),
        },
        data_version=dg.DataVersion(hashlib.sha256("\n".join(sorted(summary.ids)).encode()).hexdigest()[:16]),
    )


# Everything here needs the network: select these out of any automatic or demo job.
BEATSAVER_SELECTION = dg.AssetSelection.assets(beatsaver_catalog, beatsaver_downloads)

beatsaver_download_job = dg.define_asset_job(
    "beatsaver_download_job",
    selection=BEATSAVER_SELECTION,
    description="Build the BeatSaver catalogue and download it into raw/ (network; never part of the demo).",
    tags=NETWORK_TAG,
)
