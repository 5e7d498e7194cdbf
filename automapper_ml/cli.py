"""`automapper`: the command line. Each subcommand lives in automapper_ml/commands/<name>.py
with `add_arguments(parser)` and `run(args) -> int`; `main` imports only the module of the command
it runs (`automapper --help` lists every command from COMMANDS, importing none), so the help stays
fast and one broken command never breaks the others."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterable, Sequence

# name -> (module, one-line help). Order is the order of `automapper --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "generate": (
        "automapper_ml.commands.generate",
        "generate a map (zip) for a song with the trained models",
    ),
    "inspect": ("automapper_ml.commands.inspect", "count a map's objects per difficulty"),
    "convert": ("automapper_ml.commands.convert", "write a map as v3 difficulties + Info.dat v2.1"),
    "roundtrip": ("automapper_ml.commands.roundtrip", "tokenize and decode a map; report what survives"),
    "demo": ("automapper_ml.commands.demo", "generate the demo corpus into data/raw"),
    "download": ("automapper_ml.commands.download", "download map zips from BeatSaver into data/raw"),
    "onsets": ("automapper_ml.commands.onsets", "predict note onset times (JSON, seconds) for a song"),
    "plan": ("automapper_ml.commands.plan", "list unsynced assets and what a re-materialisation would run"),
    "edit": ("automapper_ml.commands.edit", "shorten a song on its bar grid (rule-based song editor)"),
    "osu": ("automapper_ml.commands.osu", "osu!standard beatmaps: inspect and judge, round-trip through v14"),
}


# Set (to anything) to let an unexpected exception print its traceback instead of one line.
TRACEBACK_ENV = "AUTOMAPPER_TRACEBACK"


class CommandError(Exception):
    """Raised by a command for bad input: printed as one line, exit status 2."""


def build_parser(imported: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The parser: every command of COMMANDS (whose module exists) with its one-line help. Only the
    commands named in `imported` (None: all of them) get their module imported, and with it their
    arguments, description and `run`; the others are listed but take no arguments."""
    wanted = set(COMMANDS) if imported is None else set(imported)
    parser = argparse.ArgumentParser(prog="automapper", description="Beat Saber automapper.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        if importlib.util.find_spec(module_name) is None:
            continue  # not built yet
        if name not in wanted:
            sub.add_parser(name, help=help_text)
            continue
        module = importlib.import_module(module_name)
        sub_parser = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip())
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_run=module.run)
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    """The command `argv` names: its first word that is not an option (the top level has only -h)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # text from files (a lone surrogate in a title) prints escaped
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    if argv is None:
        argv = sys.argv[1:]
    command = _command_in(argv)
    parser = build_parser([command] if command else [])
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print(f"automapper {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if os.environ.get(TRACEBACK_ENV):
            raise
        if _expected(err):
            print(f"automapper {args.command}: {_one_line(err)}", file=sys.stderr)
            return 2
        # Bad input should raise one of the types above where it is found; anything else is a bug.
        print(
            f"automapper {args.command}: error: {type(err).__name__}: {_one_line(err)} "
            f"(unexpected: please report this bug with the input; {TRACEBACK_ENV}=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1


def _expected(err: Exception) -> bool:
    """Errors for bad input or a bad environment: a command's own, a map's, the audio's, the OS's
    (missing file, full disk), running out of memory."""
    # here, not at the top: numpy and scipy (and the map model) only on failure
    from automapper_ml.audio import AudioError
    from automapper_ml.formats.errors import MapError

    return isinstance(err, CommandError | MapError | AudioError | OSError | MemoryError)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


if __name__ == "__main__":
    # Run the imported module's main, so commands raising automapper_ml.cli.CommandError are caught
    # (under `python -m`, this file's own classes live in __main__, a different module object).
    from automapper_ml.cli import main as _main

    sys.exit(_main())
