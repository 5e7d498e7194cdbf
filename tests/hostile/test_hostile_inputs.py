"""Issue #14 part 5: every hostile input through `inspect`, `convert`, `generate` and ingest + features.

Each case (corpus.py, cases.py) and every numeric-field variant (sweep.py) runs through the CLI in
its own capped process (cli_driver.py; caps.py says how memory and time are capped); the whole raw
folder (all cases side by side, good controls included) goes through the ingest and features
assets (graph.py). A run may succeed with a sane result or fail with exactly one line on stderr:
never a signal, a traceback, MemoryError or a cap. The graph must finish every step, quarantine
each hostile zip with a reason or ingest it, pair every song in the frame index with its own
audio, and write nothing outside its folders; `convert` must write only inside its output.
Each (case, command) is a subtest, `SUBFAILED[<case>-<command>]` in the summary, whose message names
the case, the command and the first offending stderr lines.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest

from automapper_ml.audio import HOP_LENGTH
from automapper_ml.audio import SAMPLE_RATE as FEATURE_RATE
from automapper_ml.synth.audio import SAMPLE_RATE, encode_ogg
from tests.hostile.caps import (
    ADDRESS_CAP_LIGHT,
    ADDRESS_CAP_TORCH,
    RSS_CAP_MIB,
    Outcome,
    crash_problems,
    describe,
    judge,
    run_capped,
)
from tests.hostile.corpus import Case, Corpus, Material, build_corpus, case_table, song_path
from tests.hostile.graph import GraphReport, run_graph, shard_of_name
from tests.hostile.sweep import SWEEPS, Variant, write_variants

# Two heavy tests, each running its whole batch once (one subtest per case and command): under
# pytest-xdist they may run side by side on two workers, each worker building the corpus once (module
# fixture, ~15 s). An xdist_group mark would not keep them together: with pytest 9.2, xdist 3.8's
# loadgroup suffix (item._nodeid) is not read (pytest reads Node._id), so --dist loadgroup groups nothing.
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the caps read /proc")

REPO = Path(__file__).resolve().parents[2]
CLI_SECONDS = 60.0  # per inspect / convert run
GENERATE_SECONDS = 90.0  # per generate run (a good 20-minute song takes ~30 s on one core)
FRAME_TOLERANCE = 10  # frames (0.12 s): another case's song differs by >= 3 s
# Blacklist rules that record a crash, not a verdict on the input (a reader bug, a killed parser).
INTERNAL_RULES = ("internal_error", "parser_crashed")
MATERIAL = Material()
CASES = case_table(MATERIAL)
BY_NAME = {c.name: c for c in CASES}
# The families issue #14 names; each must be in the table.
REQUIRED = {
    "lone_surrogate_song_name", "sidecar_surrogate_id", "sidecar_score_401_digits", "raw_name_e9",
    "difficulty_name_dotdot", "characteristic_dotdot", "difficulty_name_absolute", "raw_case_collision",
    "silent_20min", "long_31min", "song_flac_60s", "flac_96k_stereo", "wav_float_nan", "wav_rate_2g",
    "empty_notes_12m", "bpminfo_region_absurd", "v4_bpmdata_absurd", "flac_29min_4ch_96k",
    "bpm_401_digits", "note_time_401_digits", "one_second_song", "nested_zip_only", "duplicate_member",
    "case_collision_members", "non_utf8_member_name", "info_utf8_bom", "info_utf16_bom", "info_top_array",
    "info_top_number", "bpm_nan", "note_time_infinity", "empty_difficulty_v3", "lightshow_only", "only_360",
    "only_90", "one_saber", "lawless_beside_standard", "depth_bomb_info", "zip_bomb_ratio", "huge_song_name",
    "symlink_member", "encrypted_member", "truncated_half", "zero_byte_zip", "zero_byte_info",
}  # fmt: skip


def commands(case: Case) -> list[str]:
    out = [c for c in ("inspect", "convert") if getattr(case.expect, c) is not None]
    out += ["convert-zip"] * case.convert_zip + ["generate"] * (case.expect.generate is not None)
    return out


def snapshot(root: Path) -> set[bytes]:
    """Every path under `root` (links not followed), as bytes: names need not be UTF-8."""
    found = set()
    for folder, dirs, files in os.walk(os.fsencode(root)):
        found.update(os.path.join(folder, n) for n in dirs + files)
    return found


def outside(new: set[bytes], allowed: list[bytes]) -> list[bytes]:
    """The paths of `new` that are neither an allowed path nor inside one."""
    return sorted(p for p in new if not any(p == a or p.startswith(a + b"/") for a in allowed))


def attribute(paths: list[bytes], folders: dict[bytes, str]) -> tuple[dict[str, list[bytes]], list[bytes]]:
    """({label: its paths} for paths inside a run's folder, the rest)."""
    owned: dict[str, list[bytes]] = {}
    stray = []
    for path in paths:
        owner = next((label for folder, label in folders.items() if path.startswith(folder + b"/")), None)
        if owner is None:
            stray.append(path)
        else:
            owned.setdefault(owner, []).append(path)
    return owned, stray


# ------------------------------------------------------------------------ fixtures -------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    root = tmp_path_factory.mktemp("hostile")
    yield build_corpus(root / "corpus", MATERIAL, CASES)
    for case in CASES:  # an absolute-path attack that worked must not leave its folder in /tmp
        for path in case.forbidden:
            shutil.rmtree(path, ignore_errors=True)


@dataclass
class CliRuns:
    outcomes: dict[str, Outcome]  # label -> outcome
    outputs: dict[str, Path]  # label -> the output path given with -o
    escaped: dict[str, list[bytes]]  # label -> new paths in its folder outside its output
    stray: list[bytes]  # new paths outside every run's folder
    variants: list[Variant]
    driver: Outcome
    existed: dict[str, bool] = field(default_factory=dict)  # forbidden path -> created


class JobList:
    """The driver's jobs: each run gets runs/<...>/ with cwd/ and a/b/ (its -o goes in a/b/, so a
    name like ../../x written by `convert` lands in the run's folder, outside its output)."""

    def __init__(self) -> None:
        self.jobs: list[dict] = []
        self.outputs: dict[str, Path] = {}  # label -> the path given with -o

    def add(self, label: str, argv: list, work: Path, *, out: str = "", torch: bool = False) -> None:
        for folder in (work / "cwd", work / "a" / "b"):
            folder.mkdir(parents=True, exist_ok=True)
        if out:
            self.outputs[label] = work / "a" / "b" / out
            argv = [*argv, "-o", self.outputs[label]]
        self.jobs.append({
            "label": label,
            "argv": [os.fsdecode(a) for a in argv],  # surrogate escapes survive JSON
            "cwd": str(work / "cwd"),
            "workdir": str(work),
            "timeout_s": GENERATE_SECONDS if torch else CLI_SECONDS,
            "address_cap": ADDRESS_CAP_TORCH if torch else ADDRESS_CAP_LIGHT,
        })  # fmt: skip


def _cli_jobs(corpus: Corpus, runs: Path, variants: list[Variant]) -> JobList:
    jobs = JobList()
    for case in (c for c in CASES if c.expect.generate is not None):  # the long runs first, two at a time
        jobs.add(f"{case.name} generate", ["generate", song_path(corpus, case), "-q"],
                 runs / case.name / "generate", out="out.zip", torch=True)  # fmt: skip
    for case in CASES:
        target = os.path.join(os.fsencode(corpus.raw), case.target)
        for command in (c for c in commands(case) if c != "generate"):
            work, label = runs / case.name / command, f"{case.name} {command}"
            if command == "inspect":
                jobs.add(label, ["inspect", target], work)
            else:
                jobs.add(label, ["convert", target], work, out="out" if command == "convert" else "out.zip")
    for i, v in enumerate(variants):
        work = runs / "sweeps" / v.sweep / f"{i:04d}"
        jobs.add(f"{v.label} inspect", ["inspect", v.zip_path], work / "inspect")
        jobs.add(f"{v.label} convert", ["convert", v.zip_path], work / "convert", out="out")
    return jobs


@pytest.fixture(scope="module")
def cli(corpus) -> CliRuns:
    runs = corpus.root.parent / "cli"
    small_song = encode_ogg(MATERIAL.samples[: SAMPLE_RATE // 2])
    variants = write_variants(MATERIAL, corpus.root / "sweeps", small_song)
    job_list = _cli_jobs(corpus, runs, variants)
    jobs, outputs = job_list.jobs, job_list.outputs
    (runs / "tmp").mkdir(parents=True)
    (runs / "jobs.json").write_text(json.dumps(jobs))
    before = snapshot(corpus.root.parent)
    env = {
        **os.environ,
        "PYTHONIOENCODING": "utf-8:strict",  # stdout as on a UTF-8 desktop terminal, not surrogateescape
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "TMPDIR": str(runs / "tmp"),
        "AUTOMAPPER_HOME": str(runs / "home"),
        "OMP_NUM_THREADS": "1",
    }
    env.pop("AUTOMAPPER_RAW", None)
    driver = run_capped(
        [sys.executable, "-m", "tests.hostile.cli_driver", str(runs / "jobs.json"), str(runs / "results.jsonl")],
        label="cli driver", workdir=runs / "driver", timeout_s=1800, address_cap=ADDRESS_CAP_TORCH,
        env=env, cwd=runs / "driver", rss_cap_mib=2 * RSS_CAP_MIB, kill_offender_only=True,
    )  # fmt: skip
    new = snapshot(corpus.root.parent) - before
    outcomes = {}
    if (runs / "results.jsonl").exists():
        for line in (runs / "results.jsonl").read_text().splitlines():
            record = json.loads(line)
            outcomes[record["label"]] = Outcome(**record)
    allowed = [os.fsencode(p) for p in outputs.values()]
    allowed += [os.fsencode(Path(j["workdir"]) / n) for j in jobs for n in ("stdout.txt", "stderr.txt")]
    allowed += [os.fsencode(runs / n) for n in ("tmp", "driver", "results.jsonl")]
    folders = {os.fsencode(j["workdir"]): j["label"] for j in jobs}
    escaped, stray = attribute(outside(new, allowed), folders)
    existed = {p: os.path.lexists(p) for c in CASES for p in c.forbidden}
    return CliRuns(outcomes, outputs, escaped, stray, variants, driver, existed)


@dataclass
class GraphRun:
    report: GraphReport
    manifest: pl.DataFrame | None
    blacklist: pl.DataFrame | None
    index: pl.DataFrame | None
    quarantine: pl.DataFrame | None  # trainable difficulties the features lack, with why (if written)
    stray: list[bytes]  # new paths outside the graph's folder
    raw_changed: list[str]


def _listing(raw: Path) -> dict[bytes, tuple]:
    out = {}
    for name in os.listdir(os.fsencode(raw)):
        st = os.lstat(os.path.join(os.fsencode(raw), name))
        out[name] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def graph(corpus) -> GraphRun:
    work = corpus.root.parent / "graph"
    before, raw_before = snapshot(corpus.root.parent), _listing(corpus.raw)
    report = run_graph(corpus.raw, work)
    new = snapshot(corpus.root.parent) - before
    raw_after = _listing(corpus.raw)
    changed = sorted(
        os.fsdecode(n) for n in set(raw_before) | set(raw_after) if raw_before.get(n) != raw_after.get(n)
    )

    def read(name: str) -> pl.DataFrame | None:
        path = report.home / name
        return pl.read_parquet(path) if path.exists() else None

    return GraphRun(
        report,
        read("ingest/manifest.parquet"),
        read("ingest/blacklist.parquet"),
        read("features/frame_index.parquet"),
        read("features/quarantine.parquet"),
        outside(new, [os.fsencode(work)]),
        changed,
    )


# ------------------------------------------------------------------------ the table ------------------


def test_corpus_has_at_least_50_kinds_each_with_a_reason():
    kinds = [c for c in CASES if not c.name.startswith("sweep_")] + list(SWEEPS)
    assert len(kinds) >= 50, len(kinds)
    assert all(c.why and "\n" not in c.why for c in [*CASES, *SWEEPS])
    assert set(BY_NAME) >= REQUIRED, sorted(REQUIRED - set(BY_NAME))


# ------------------------------------------------------------------------ the CLI --------------------


def _strict_json(data: bytes, what: str) -> dict:
    def refuse(constant: str) -> None:
        raise ValueError(f"{what} holds {constant}")

    doc = json.loads(data, parse_constant=refuse)
    if not isinstance(doc, dict):
        raise ValueError(f"{what} is not a JSON object")
    return doc


def _listed_files(info: dict) -> list[str]:
    names = [
        d.get("_beatmapFilename")
        for s in info.get("_difficultyBeatmapSets", [])
        for d in s.get("_difficultyBeatmaps", [])
    ]
    names += [
        d.get(k)
        for d in info.get("difficultyBeatmaps", [])
        for k in ("beatmapDataFilename", "lightshowDataFilename")
    ]
    return [n for n in names if n]


def _plain(name: str) -> bool:
    parts = name.split("/")
    return not (
        name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or re.match(r"^[A-Za-z]:", name)
        or ".." in parts
    )


def sane_output(command: str, o: Outcome, out: Path | None) -> list[str]:
    """For an exit-0 run: what is wrong with what it printed or wrote ([] when it is sane)."""
    if command == "inspect":
        if not o.stdout.strip():
            return ["exit 0 but printed nothing"]
        if re.search(r"(?<![A-Za-z])(nan|inf)(?![A-Za-z])", o.stdout, re.IGNORECASE):
            return ["printed nan or inf"]
        return []
    assert out is not None
    try:
        if command == "convert":
            if out.is_symlink() or not out.is_dir():
                return [f"exit 0 but {out} is not a folder"]
            links = [p for p in out.rglob("*") if p.is_symlink()]
            if links:
                return [f"wrote symlinks: {links[:3]}"]
            info = _strict_json((out / "Info.dat").read_bytes(), "Info.dat")
            missing = [n for n in _listed_files(info) if not (out / n).is_file()]
            return [f"Info.dat lists files it did not write: {missing[:3]}"] if missing else []
        with zipfile.ZipFile(out) as z:
            names = z.namelist()
            bad = [n for n in names if not _plain(n)]
            if bad:
                return [f"zip-slip member names in {out.name}: {bad[:3]}"]
            info = _strict_json(z.read("Info.dat"), "Info.dat")
            files = _listed_files(info)
            missing = [n for n in files if n not in names]
            if missing:
                return [f"Info.dat lists members the zip lacks: {missing[:3]}"]
            if command == "generate":
                empty = [n for n in files if not _strict_json(z.read(n), n).get("colorNotes")]
                return [f"generated difficulties without notes: {empty}"] if empty else []
        return []
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        return [f"exit 0 but its output is broken: {type(err).__name__}: {err}"[:300]]


def _cli_problems(cli: CliRuns, label: str, expect: str, command: str) -> tuple[Outcome | None, list[str]]:
    o = cli.outcomes.get(label)
    if o is None:
        return None, [f"no result (the CLI driver: {crash_problems(cli.driver) or cli.driver.stderr[-300:]})"]
    found = judge(o, expect)
    if not found and o.returncode == 0:
        found = sane_output(command, o, cli.outputs.get(label))
    found += [f"wrote outside its output: {os.fsdecode(p)}" for p in cli.escaped.get(label, [])[:3]]
    return o, found


def test_cli_on_every_case_and_sweep(cli, subtests):
    """inspect, convert (folder; zip where names are attacked) and generate (own songs) of every case,
    and inspect + convert of every numeric-field variant; one subtest per case and command."""
    with subtests.test(msg="cli-driver"):
        assert not crash_problems(cli.driver) and cli.driver.returncode == 0, describe(cli.driver, ["driver"])
        assert not cli.stray, (
            f"written outside every run's folder: {[os.fsdecode(p) for p in cli.stray[:10]]}"
        )
    for case in CASES:
        for command in commands(case):
            with subtests.test(msg=f"{case.name}-{command}"):
                expect = {"inspect": case.expect.inspect, "generate": case.expect.generate}.get(
                    command, case.expect.convert
                )
                o, found = _cli_problems(cli, f"{case.name} {command}", expect, command)
                found += [f"created {p}" for p in case.forbidden if cli.existed.get(p)]
                assert not found, describe(o, found) if o else f"{case.name} {command}: {'; '.join(found)}"
    for sweep in SWEEPS:
        with subtests.test(msg=sweep.name):
            variants = [v for v in cli.variants if v.sweep == sweep.name]
            bad = []
            for v in variants:
                for command in ("inspect", "convert"):
                    o, found = _cli_problems(cli, f"{v.label} {command}", "any", command)
                    if found:
                        bad.append(describe(o, found) if o else f"{v.label} {command}: {'; '.join(found)}")
            assert not bad, f"{len(bad)} of {2 * len(variants)} runs broke the rules:\n" + "\n".join(bad[:60])


# ------------------------------------------------------------------------ ingest + features ----------


def name_forms(name: bytes) -> list[str]:
    """How a zip's file name may appear in a table (raw names need not be UTF-8), in the forms
    polars can hold (a lone surrogate is not one)."""
    forms = {
        os.fsdecode(name),
        name.decode("utf-8", "replace"),
        name.decode("latin-1"),
        name.decode("utf-8", "backslashreplace"),
    }
    return sorted(f for f in forms if f.encode("utf-8", "ignore").decode() == f)


def graph_problems(case: Case, g: GraphRun) -> list[str]:
    units = g.report.units
    ingest = units.get("ingest", {})
    if g.manifest is None or g.blacklist is None:
        return [f"no manifest/blacklist: ingest {ingest.get('died') or ingest.get('failures')}"]
    found = []
    for name in case.zip_names:
        forms = name_forms(name)
        shard = shard_of_name(os.fsdecode(name))
        shard_units = [f"{u}: {units[u].get('died') or units[u].get('failures')}" for u in
                       (f"audio_features:{shard}", f"map_tokens:{shard}") if not units.get(u, {}).get("success")]  # fmt: skip
        where = f"{os.fsdecode(name)!r}" + (f" (its shard: {'; '.join(shard_units)})" if shard_units else "")
        rows = g.manifest.filter(pl.col("zip_name").is_in(forms))
        black = g.blacklist.filter(pl.col("zip_name").is_in(forms))
        indexed = g.index.filter(pl.col("zip_name").is_in(forms)) if g.index is not None else None
        if rows.height == 0 and black.height == 0:
            found.append(f"{where}: neither in the manifest nor in the blacklist")
        if black.filter(pl.col("reason").is_null() | (pl.col("reason").str.strip_chars() == "")).height:
            found.append(f"{where}: a blacklist row without a reason")
        rules = sorted(set(black["rule"].to_list()))
        internal = black.filter(
            pl.col("rule").is_in(list(INTERNAL_RULES)) | pl.col("reason").str.contains("MemoryError")
        )
        for row in internal.iter_rows(named=True):  # a quarantine that is really a crash or a cap
            found.append(
                f"{where}: quarantined for an internal failure ({row['rule']}: {row['reason'][:200]})"
            )
        if case.expect.graph == "out":
            if black.height == 0:
                found.append(f"{where}: not quarantined (manifest rows: {rows.height})")
            if indexed is not None and indexed.height:
                found.append(f"{where}: reached the frame index, expected quarantined")
        if case.expect.graph == "in":
            if indexed is None:
                found.append(f"{where}: no frame index ({units.get('frame_index')})")
            elif indexed.height == 0:
                lacking = (
                    []
                    if g.quarantine is None
                    else g.quarantine.filter(pl.col("zip_name").is_in(forms))["reason"]
                )
                why = f"; features: {lacking[0][:200]}" if len(lacking) else ""
                found.append(f"{where}: missing from the frame index (blacklist rules: {rules}{why})")
        if indexed is not None and indexed.height and name in case.seconds:
            want = 1 + int(round(case.seconds[name] * FEATURE_RATE)) // HOP_LENGTH
            got = sorted(set(indexed["n_frames"].to_list()))
            if any(abs(n - want) > FRAME_TOLERANCE for n in got):
                found.append(
                    f"{where}: the frame index gives it {got} frames; its own {case.seconds[name]:g} s song has {want}"
                )
        keys = {*forms, *(f[:-4] for f in forms)}  # store keys: the zip name or its stem
        if case.no_audio_record and keys & set(g.report.stores.get("audio", {})):
            found.append(f"{where}: its song was decoded into the audio store")
    return found


@pytest.mark.slow
def test_graph_on_every_case(graph, subtests):
    """Ingest + features over every case at once: each step finishes, nothing is written outside
    the graph's folder, and each case is quarantined with a reason or ingested with its own audio."""
    with subtests.test(msg="graph-steps"):
        problems = graph.report.problems()
        if "error" in graph.report.stores:
            problems.append(f"reading the feature stores: {graph.report.stores['error']}")
        assert not problems, "\n".join(problems)
    with subtests.test(msg="graph-writes"):
        assert not graph.raw_changed, f"raw/ changed: {graph.raw_changed[:10]}"
        assert not graph.stray, (
            f"written outside the graph's folder: {[os.fsdecode(p) for p in graph.stray[:10]]}"
        )
    with subtests.test(msg="graph-names"):
        assert graph.manifest is not None and graph.blacklist is not None, graph.report.units.get("ingest")
        known = {f for c in CASES for n in c.zip_names for f in name_forms(n)}
        seen = set(graph.manifest["zip_name"].to_list()) | set(graph.blacklist["zip_name"].to_list())
        assert seen <= known, f"tables name zips no case wrote: {sorted(seen - known)[:10]}"
    for case in CASES:
        with subtests.test(msg=f"{case.name}-graph"):
            found = graph_problems(case, graph)
            assert not found, f"{case.name} ingest+features: " + "; ".join(found)


def test_caps_catch_time_memory_and_tracebacks(tmp_path):
    """The harness itself: a sleeper hits the clock, a hog the RSS cap, a raise prints a traceback."""

    def run(code: str, **kwargs) -> Outcome:
        return run_capped(
            [sys.executable, "-c", code],
            label=code[:20],
            workdir=tmp_path / str(len(os.listdir(tmp_path))),
            **kwargs,
        )

    assert run("import time; time.sleep(30)", timeout_s=1).cap == "time"
    hog = "x = bytearray(400 << 20); import time; time.sleep(30)"
    assert run(hog, timeout_s=20, rss_cap_mib=200).cap == "memory"
    assert "ran out of memory under RLIMIT_AS" in judge(run(hog.replace("400", "3000"), timeout_s=20), "any")
    assert "printed a traceback" in judge(run("raise ValueError('x')", timeout_s=20), "any")
    one_line = run("import sys; print('automapper x: bad input', file=sys.stderr); sys.exit(2)", timeout_s=20)
    assert judge(one_line, "err") == [] and judge(one_line, "ok") == ["exit 2, expected success"]
    run_dir = tmp_path / "run" / "convert"
    (run_dir / "a" / "b" / "out").mkdir(parents=True)
    before = snapshot(tmp_path / "run")
    (run_dir / "a" / "b" / "out" / "Info.dat").write_text("{}")
    (run_dir / "a" / "escaped").mkdir()  # what ../../escaped/x written from a/b/out would make
    (tmp_path / "run" / "stray.txt").write_text("x")
    new = snapshot(tmp_path / "run") - before
    owned, stray = attribute(
        outside(new, [os.fsencode(run_dir / "a" / "b" / "out")]), {os.fsencode(run_dir): "c convert"}
    )
    assert owned == {"c convert": [os.fsencode(run_dir / "a" / "escaped")]}
    assert stray == [os.fsencode(tmp_path / "run" / "stray.txt")]
