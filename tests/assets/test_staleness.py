"""The one wrapper around Dagster's private stale-status API still answers like the UI would."""

import dagster as dg

from automapper_assets.staleness import FRESH, MISSING, STALE, cascade, causes_of, make_resolver, unsynced


def _defs(version: str) -> dg.Definitions:
    @dg.asset(code_version=version)
    def upstream() -> dg.MaterializeResult:
        return dg.MaterializeResult(data_version=dg.DataVersion("u1"))

    @dg.asset(deps=[upstream], code_version="1")
    def downstream() -> dg.MaterializeResult:
        return dg.MaterializeResult(data_version=dg.DataVersion("d1"))

    return dg.Definitions(assets=[upstream, downstream])


def test_code_version_change_is_stale_with_a_code_cause_and_cascades():
    instance = dg.DagsterInstance.ephemeral()
    keys = [dg.AssetKey("upstream"), dg.AssetKey("downstream")]
    before = _defs("1")
    assert make_resolver(instance, before).get_status(keys[0]) == MISSING
    assert dg.materialize(before.assets, instance=instance).success
    assert unsynced(instance, before, keys) == []

    after = _defs("2")
    resolver = make_resolver(instance, after)
    assert resolver.get_status(keys[0]) == STALE
    assert resolver.get_status(keys[1]) == FRESH  # staleness moves one layer at a time
    assert any(line.startswith("CODE") for line in causes_of(resolver, keys[0]))
    items = unsynced(instance, after, keys)
    assert [(i.asset, i.status) for i in items] == [("upstream", "STALE")]
    assert cascade(after, [keys[0]], keys) == keys
