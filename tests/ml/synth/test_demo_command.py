"""`automapper demo`: writes the corpus, refuses a non-empty raw/ without --force, one-line errors."""

from __future__ import annotations

from automapper_ml.cli import main


def test_demo_writes_then_refuses_then_forces(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AUTOMAPPER_HOME", str(tmp_path / "home"))
    args = [
        "demo",
        "--songs",
        "1",
        "--seed",
        "4",
        "--no-broken",
        "--min-seconds",
        "30",
        "--max-seconds",
        "31",
    ]
    assert main(args) == 0
    out = capsys.readouterr()
    raw = tmp_path / "home" / "raw"
    zips = sorted(raw.glob("*.zip"))
    assert zips and not any(z.name.startswith("broken_") for z in zips)
    assert str(raw) in out.out and "song 1/1" in out.err
    assert (tmp_path / "home" / "reference").is_dir()

    assert main(args) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and "--force" in err and len(err.strip().splitlines()) == 1

    before = {z.name: z.read_bytes() for z in zips}
    assert main([*args, "--force"]) == 0
    assert {z.name: z.read_bytes() for z in sorted(raw.glob("*.zip"))} == before  # same seed, same bytes


def test_demo_rejects_bad_lengths_in_one_line(tmp_path, capsys):
    assert main(["demo", "--home", str(tmp_path), "--min-seconds", "50", "--max-seconds", "40"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("automapper demo:") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "raw").exists() or not any((tmp_path / "raw").iterdir())
