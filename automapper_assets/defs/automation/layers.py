"""What to run next, asked of Dagster's own per-shard stale status (through automapper_assets.staleness).

Staleness moves one layer at a time (DESIGN.md): a child stays fresh until its parent is rebuilt.
So a retrain is a sequence of rounds: run every missing/stale asset (partition) whose in-set
parents are all fresh, then look again. `next_layer` answers one round; `layer_run_requests`
turns it into RunRequests that never mix a partition key with unpartitioned assets:
one run per stale shard for the sharded assets of the layer (exact per-shard DataVersions), and
one run for the stale unpartitioned ones.

Why rounds of separate runs instead of one run over the whole cascade: the cascade over-selects.
A tokenizer bump re-materialises `frame_index` with the same DataVersion, so `onset_model` must
stay untouched; only asking again after each layer sees that. Separate runs also keep every
training step on the real executor (pools, retries, k8s GPU pods), unlike a driver op that
executes nested runs in-process.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import dagster as dg

from automapper_assets.staleness import FRESH, make_resolver, partitions_of

# Evaluation is left to declarative automation (sensors.evaluation_follows_training): it must follow
# a model only after the champion check, and two drivers would request it twice.
NIGHTLY_GROUPS = ("ingest", "features", "training")
OFFLINE_EXCLUDED_TAG = "network"  # BeatSaver downloads never run unattended
SOURCE_TAG = "automapper/source"  # "nightly" on every run of a retrain session
SESSION_TAG = "automapper/nightly"  # the session id (the schedule tick's time)
ROUND_TAG = "automapper/round"  # 1, 2, ... within a session
MAX_ROUNDS = 20  # a graph deeper than this is a bug (a cycle of data versions), not a retrain


class GraphDefs:
    """Adapter giving a code location's asset graph the one method the staleness module asks of Definitions.

    Schedules and sensors receive a RepositoryDefinition, not the Definitions object; rebuilding
    the whole defs folder on every tick would be slower and could disagree with the loaded code.
    """

    def __init__(self, asset_graph) -> None:
        self._graph = asset_graph

    def resolve_asset_graph(self):
        return self._graph

    @classmethod
    def of(cls, source: "dg.Definitions | dg.RepositoryDefinition | GraphDefs") -> "GraphDefs":
        if isinstance(source, GraphDefs):
            return source
        if isinstance(source, dg.Definitions):
            return cls(source.resolve_asset_graph())
        return cls(source.asset_graph)


def automation_keys(source, groups: Iterable[str] = NIGHTLY_GROUPS) -> list[dg.AssetKey]:
    """Materialisable assets of `groups`, minus `network`-tagged ones, in topological order."""
    graph = GraphDefs.of(source).resolve_asset_graph()
    wanted = set(groups)
    keys = []
    for key in graph.toposorted_asset_keys:
        node = graph.get(key)
        if (
            node.is_materializable
            and node.group_name in wanted
            and OFFLINE_EXCLUDED_TAG not in (node.tags or {})
        ):
            keys.append(key)
    return keys


@dataclass(frozen=True)
class Layer:
    """One round of work; empty when everything in the selection is fresh."""

    whole: tuple[dg.AssetKey, ...] = ()  # unpartitioned stale assets: one run
    # (partitions-def id, partition key) -> stale partitioned assets of that shard: one run each
    shards: Mapping[tuple[str, str], tuple[dg.AssetKey, ...]] = field(default_factory=dict)
    waiting: tuple[dg.AssetKey, ...] = ()  # stale, but an in-set parent is not fresh yet

    def __bool__(self) -> bool:
        return bool(self.whole or self.shards)

    def describe(self) -> str:
        parts = [k.to_user_string() for k in self.whole]
        by_key: dict[str, list[str]] = defaultdict(list)
        for (_, partition), keys in sorted(self.shards.items()):
            for key in keys:
                by_key[key.to_user_string()].append(partition)
        parts += [f"{name}[{','.join(ps)}]" for name, ps in by_key.items()]
        return ", ".join(parts) or "nothing"


def next_layer(instance: dg.DagsterInstance, source, keys: Iterable[dg.AssetKey]) -> Layer:
    """Every missing/stale asset (partition) among `keys` whose in-set parents are all fresh."""
    defs = GraphDefs.of(source)
    graph = defs.resolve_asset_graph()
    resolver = make_resolver(instance, defs)
    keys = list(keys)
    selected = set(keys)
    unfresh: set[dg.AssetKey] = set()
    whole: list[dg.AssetKey] = []
    shards: dict[tuple[str, str], list[dg.AssetKey]] = defaultdict(list)
    waiting: list[dg.AssetKey] = []
    for key in sorted(keys, key=graph.toposorted_asset_keys.index):  # parents before children
        node = graph.get(key)
        stale = [p for p in partitions_of(defs, key) if resolver.get_status(key, p) != FRESH]
        if not stale:
            continue
        unfresh.add(key)
        if any(p in unfresh for p in node.parent_keys if p in selected):
            waiting.append(key)
        elif node.partitions_def is None:
            whole.append(key)
        else:
            pid = node.partitions_def.get_serializable_unique_identifier()
            for partition in stale:
                shards[(pid, partition)].append(key)
    return Layer(tuple(whole), {k: tuple(v) for k, v in shards.items()}, tuple(waiting))


def layer_run_requests(
    layer: Layer, tags: Mapping[str, str], run_key_prefix: str, whole_run_config: Mapping | None = None
) -> list[dg.RunRequest]:
    """One RunRequest for the unpartitioned assets (with `whole_run_config`), one per shard for the rest."""
    requests = []
    if layer.whole:
        requests.append(
            dg.RunRequest(
                run_key=f"{run_key_prefix}-all",
                asset_selection=list(layer.whole),
                tags=dict(tags),
                run_config=dict(whole_run_config or {}),
            )
        )
    for (_, partition), keys in sorted(layer.shards.items(), key=lambda kv: kv[0][1]):
        requests.append(
            dg.RunRequest(
                run_key=f"{run_key_prefix}-{partition}",
                asset_selection=list(keys),
                partition_key=partition,
                tags=dict(tags),
            )
        )
    return requests
