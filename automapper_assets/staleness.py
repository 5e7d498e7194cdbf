"""Dagster's own stale status, per asset and per shard: the ONE module touching its private API.

Dagster has no public Python API for "is this asset (partition) unsynced, and why"; the UI uses
`CachingStaleStatusResolver` (GraphQL `assetNodes { staleStatus staleCauses }` exposes the same).
Everything in automapper that asks (the main job, the nightly retrain, `automapper plan`, the
versioning tests) goes through here, so a Dagster upgrade that moves it breaks one file, and
tests/assets/test_staleness.py says so at once.

Staleness moves one layer at a time: a child stays fresh until its parent is re-materialised.
So besides what is unsynced now, `plan` reports the cascade: everything downstream of an
unsynced asset inside the selection, which a layer-by-layer run would re-materialise.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.loader import LoadingContextForTest

FRESH, STALE, MISSING = StaleStatus.FRESH, StaleStatus.STALE, StaleStatus.MISSING


@dataclass(frozen=True)
class Unsynced:
    asset: str  # asset key, user string
    partition: str | None  # shard key for sharded assets
    status: str  # "STALE" or "MISSING"
    causes: tuple[str, ...] = field(default_factory=tuple)  # one line each: category and reason

    def as_dict(self) -> dict:
        return {
            "asset": self.asset,
            "partition": self.partition,
            "status": self.status,
            "causes": list(self.causes),
        }


def make_resolver(instance: dg.DagsterInstance, defs: dg.Definitions) -> CachingStaleStatusResolver:
    """A resolver for one question (it caches: make a new one after materialising)."""
    return CachingStaleStatusResolver(instance, defs.resolve_asset_graph(), LoadingContextForTest(instance))


def status_of(
    resolver: CachingStaleStatusResolver, key: dg.AssetKey, partition: str | None = None
) -> StaleStatus:
    return resolver.get_status(key, partition)


def causes_of(
    resolver: CachingStaleStatusResolver, key: dg.AssetKey, partition: str | None = None
) -> tuple[str, ...]:
    """Root causes as lines: 'CODE: code version changed from ... to ...', 'DATA: ... has a new data version'."""
    lines = []
    for cause in resolver.get_stale_root_causes(key, partition):
        where = cause.key.asset_key.to_user_string()
        if cause.key.partition_key:
            where += f"[{cause.key.partition_key}]"
        dep = ""
        if cause.dependency is not None:
            dep = f" ({cause.dependency.asset_key.to_user_string()}"
            dep += f"[{cause.dependency.partition_key}])" if cause.dependency.partition_key else ")"
        lines.append(f"{cause.category.value}: {where} {cause.reason}{dep}")
    return tuple(lines)


def partitions_of(defs: dg.Definitions, key: dg.AssetKey) -> list[str | None]:
    node = defs.resolve_asset_graph().get(key)
    return list(node.partitions_def.get_partition_keys()) if node.partitions_def else [None]


def unsynced(
    instance: dg.DagsterInstance, defs: dg.Definitions, keys: Iterable[dg.AssetKey]
) -> list[Unsynced]:
    """Every asset (partition) of `keys` whose status is not FRESH, with its root causes."""
    resolver = make_resolver(instance, defs)
    out = []
    for key in keys:
        for partition in partitions_of(defs, key):
            status = status_of(resolver, key, partition)
            if status == FRESH:
                continue
            causes = causes_of(resolver, key, partition) if status == STALE else ("never materialised",)
            out.append(Unsynced(key.to_user_string(), partition, status.value, causes))
    return out


def cascade(
    defs: dg.Definitions,
    roots: Iterable[dg.AssetKey],
    within: Iterable[dg.AssetKey],
    version_stable: dict[dg.AssetKey, set[dg.AssetKey]] | None = None,
) -> list[dg.AssetKey]:
    """`roots` plus everything downstream of them inside `within`, in topological order.

    `version_stable[k] = {parents}`: when k is re-run only because of those parents, it comes
    back with the same data version (it does not hash what they changed), so the cascade stops
    there; k itself is still listed. (frame_index hashes onset positions, not tokens.)"""
    graph = defs.resolve_asset_graph()
    allowed = set(within)
    stable = version_stable or {}
    reached = {k for k in roots if k in allowed}
    propagating = set(reached)
    for key in graph.toposorted_asset_keys:
        if key not in allowed or key in reached:
            continue
        causes = {p for p in graph.get(key).parent_keys if p in propagating}
        if causes:
            reached.add(key)
            if not (key in stable and causes <= stable[key]):
                propagating.add(key)
    return [k for k in graph.toposorted_asset_keys if k in reached]
