"""Command-line interface: one command per public call, options named as the API's parameters.

Every error sigxfer can explain is printed as one line (``sigxfer: error: ...``) with exit status 1;
usage errors exit with 2, as argparse does. Warnings print as one line ``sigxfer: warning: ...``.
Messages come from the library in Python's words (``sr=``, ``overwrite=True``) and are printed in
the running command's options (``--sr``, ``--overwrite``), in one place: :mod:`sigxfer.cli.messages`.
"""

from __future__ import annotations

import sys

from sigxfer.cli.messages import command_options, to_cli, warnings_as_lines
from sigxfer.cli.parser import build_parser
from sigxfer.errors import SigxferError

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run ``sigxfer`` with ``argv`` (default: the process's arguments); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    options = command_options(parser, args.command)

    def echo(line: str) -> None:
        print(to_cli(str(line), options))

    with warnings_as_lines(options):
        try:
            return args.func(args, echo)
        except SigxferError as err:
            message = " ".join(str(err).split())  # one line, whatever the library wrote
            print(f"sigxfer: error: {to_cli(message, options)}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("sigxfer: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:  # `sigxfer ... | head`: the reader left; say nothing, as Unix tools do
            sys.stderr.close()
            return 141
