"""The library speaks Python (``sr=``, ``overwrite=True``); the command line speaks its options.

Every message the library gives (an error, a warning, a progress line) names parameters as
``NAME=VALUE``. Here, and only here, such a hint is rewritten to the option of the running command
that mirrors the parameter, read from the parser itself: an option's ``dest`` is the parameter's
name. A parameter the command has no option for stays as it is.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import warnings

# NAME=VALUE, optionally after a verb; not inside a word, a path, a "ucr:NAME" or an option.
_HINT = re.compile(
    r"(?<![\w.:/\-'\"=])(?:(?P<verb>pass|use|set|give|with) )?(?P<name>[a-z][a-z0-9_]*)="
    r"(?P<value>'[^']*'|\"[^\"]*\"|[^\s,;)\]]*)"
)
_PLAIN = re.compile(r"[\w.+\-]+")


def command_options(parser: argparse.ArgumentParser, command: str | None) -> dict[str, argparse.Action]:
    """``{dest: action}`` of the options of ``command`` (a sub-command of ``parser``) and of ``parser``."""
    actions = list(parser._actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            actions += action.choices[command]._actions
    return {a.dest: a for a in actions
            if a.option_strings and a.dest not in (argparse.SUPPRESS, "help", "version")}


def _option(action: argparse.Action) -> str:
    return max(action.option_strings, key=len)  # --overwrite rather than -o


def _rewrite(match: re.Match, options: dict[str, argparse.Action]) -> str:
    action = options.get(match["name"])
    if action is None:
        return match[0]
    verb, value = match["verb"], match["value"]
    dots = len(value) - len(value.rstrip("."))  # a sentence's full stop is not part of the value
    value, tail = value[:len(value) - dots], "." * dots
    option = _option(action)
    if action.nargs == 0:  # a flag: store_true / store_false
        if value in ("", str(action.const)):
            return f"{verb + ' ' if verb else ''}{option}{tail}"
        return f"{'leave out' if verb else 'no'} {option}{tail}"
    if value == "None":
        return f"{'leave out' if verb else 'no'} {option}{tail}"
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"" and _PLAIN.fullmatch(value[1:-1]):
        value = value[1:-1]
    return f"{verb + ' ' if verb else ''}{option}{' ' + value if value else ''}{tail}"


def to_cli(text: str, options: dict[str, argparse.Action]) -> str:
    """``text`` with each ``NAME=VALUE`` hint of a parameter in ``options`` as that option.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> _ = parser.add_argument("--sr", type=float)
    >>> _ = parser.add_argument("--overwrite", action="store_true")
    >>> _ = parser.add_argument("--no-stratify", dest="stratify", action="store_false")
    >>> options = command_options(parser, None)
    >>> to_cli("pass sr= or use sr=1", options)
    'pass --sr or use --sr 1'
    >>> to_cli("out exists; pass overwrite=True or choose another name", options)
    'out exists; pass --overwrite or choose another name'
    >>> to_cli("(add cases, or pass stratify=False); pad= stays", options)
    '(add cases, or pass --no-stratify); pad= stays'
    """
    return _HINT.sub(lambda m: _rewrite(m, options), text)


@contextlib.contextmanager
def warnings_as_lines(options: dict[str, argparse.Action], stream=None):
    """Show each warning as one line ``sigxfer: warning: ...`` in the options' words, then restore.

    Parameters
    ----------
    options : dict
        From :func:`command_options`.
    stream : file, optional
        Where the lines go (``sys.stderr`` at the time of the warning by default).
    """
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        print(f"sigxfer: warning: {to_cli(text, options)}", file=stream or sys.stderr)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous
