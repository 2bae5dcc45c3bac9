"""Every `mbcnav` command, one module each (assess, response, options, kb, convert, trials, serve, auth), the
parser that gathers them (`build_parser`) and `main`, the console-script entry point (re-exported by mbcnav.cli).

Commands read input and end through mbcnav.outcome, evaluate through mbcnav.pathway and print through
mbcnav.render; nothing outside this package (but mbcnav.cli) imports it (.importlinter)."""

from mbcnav.commands.app import build_parser, main

__all__ = ["build_parser", "main"]
