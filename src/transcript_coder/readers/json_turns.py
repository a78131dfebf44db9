"""Turn lists in JSON (``.json``) and JSON Lines (``.jsonl``): ``{"speaker": ..., "text": ...}``.

``json_turns.v1`` reads a top-level list of turn objects, or an object wrapping one under
``"turns"`` (also ``"utterances"``, ``"dialogue"``, ``"messages"``). ``jsonl_turns.v1`` reads one
turn object per line. Keys are found like table columns (:mod:`.columns`: ``speaker``, ``role``,
``text``, ``start``, ``end`` and their aliases) and turned into turns by the rules of
:mod:`.table_rows`. ``Turn.line`` is the turn's 1-based index in the list (JSON) or its file
line (JSON Lines). Invalid or truncated JSON is E105 with the line and column.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError
from ..registry import readers
from .columns import resolve_columns
from .options import ReaderOptions, ReaderOutput, TranscriptSource
from .table_rows import RowCollector

WRAPPER_KEYS = ("turns", "utterances", "dialogue", "dialog", "messages", "transcript")


def load_json(text: str, path: str | Path, line_offset: int = 0) -> object:
    """Parse JSON, reporting a syntax error as E105 with its line and column.

    ``line_offset`` is added to the reported line, for one record of a JSON Lines file.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(
            "E105", path=path, line=error.lineno + line_offset, column=error.colno, detail=_describe(error)
        ) from None
    except RecursionError:
        raise InputError(
            "E105", path=path, line=1 + line_offset, column=1, detail="nested too deeply"
        ) from None


def _describe(error: json.JSONDecodeError) -> str:
    """The decoder's message in plain words, noting when the text simply stops (a cut-off file)."""
    detail = error.msg.removesuffix(" starting at").removesuffix(" at").lower()
    rest = error.doc[error.pos :]
    cut_short = (
        not rest.strip()
        or error.msg.startswith("Unterminated string")
        or (error.msg.startswith("Invalid control character") and not rest[1:].strip())
    )
    if cut_short:
        detail += "; the JSON stops before it is complete (was the file cut short?)"
    return detail


def _key_names(items: list[tuple[int, object]]) -> list[str]:
    names: dict[str, None] = {}
    for _, item in items:
        if isinstance(item, dict):
            names.update(dict.fromkeys(str(key) for key in item))
    return list(names)


def turns_from_items(
    items: list[tuple[int, object]], path: str | Path, options: ReaderOptions, unit: str
) -> ReaderOutput:
    """Turns from numbered JSON objects (``unit`` names the number: ``"turn"`` or ``"line"``).

    Raises:
        InputError: E109 when there are no items, E108 when no key holds the text or the speaker,
            E113 when an item is not an object or has a malformed time.
    """
    if not items:
        raise InputError("E109", path=path)
    columns = resolve_columns(_key_names(items), options, path)
    collector = RowCollector(path, columns, options, unit="turn" if unit == "turn" else "line")
    for number, item in items:
        if not isinstance(item, dict):
            raise InputError(
                "E113", path=path, unit=unit, index=number,
                detail=f"expected an object with '{columns.text}', got {type(item).__name__}",
            )
        collector.add(item, number)
    return collector.output()


@readers.register("json_turns.v1")
def read_json_turns(source: TranscriptSource, options: ReaderOptions) -> ReaderOutput:
    """Read a JSON list of turns (bare, or wrapped as ``{"turns": [...]}``)."""
    data = load_json(source.text, source.path)
    if isinstance(data, dict):
        key = next((k for k in (*WRAPPER_KEYS, "segments") if isinstance(data.get(k), list)), None)
        if key is None:
            raise InputError(
                "E111", path=source.path,
                detail=f"expected a list of turns or an object with a {' / '.join(WRAPPER_KEYS)} list",
            )
        data = data[key]
    if not isinstance(data, list):
        raise InputError("E111", path=source.path, detail="expected a list of turns")
    return turns_from_items(list(enumerate(data, start=1)), source.path, options, unit="turn")


@readers.register("jsonl_turns.v1")
def read_jsonl_turns(source: TranscriptSource, options: ReaderOptions) -> ReaderOutput:
    """Read JSON Lines, one turn object per line; blank lines are ignored."""
    items: list[tuple[int, object]] = []
    for number, line in enumerate(source.text.split("\n"), start=1):
        if line.strip():
            items.append((number, load_json(line, source.path, line_offset=number - 1)))
    # With unit "line" a malformed time is reported as E104 at the file line.
    return turns_from_items(items, source.path, options, unit="line")
