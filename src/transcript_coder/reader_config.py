"""Reader options per input: a sidecar file in an input folder, or a mapping file for the run.

The command line's reader options (``--text-column``, ``--encoding``...) apply to every input.
Two more sources refine them for some inputs, so that two CSV layouts can be coded in one run:

``transcript_coder.yaml`` in an input folder (a **sidecar**)
    applies to the transcripts in that folder and below it (down to the folder named on the
    command line); a sidecar deeper down wins, option by option::

        reader:
          text_column: words
          speaker_column: person

``--reader-options FILE`` (YAML or JSON)
    glob patterns, matched against an input's path under the folder named on the command line
    (``clinicA/*.csv``; ``*`` crosses folders) or its file name, each with its options; later
    patterns win, and this file wins over sidecars::

        "clinicA/*.csv": {text_column: words, speaker_column: person}
        "*.tsv": {delimiter: "\\t"}

Option names are the command line's: ``format``, ``encoding``, ``delimiter``, ``speaker_column``,
``text_column``, ``role_column``, ``start_column``, ``end_column`` (a name or a list of names), and
``speaker_labels`` (a list). An unknown name or a bad value is E426, with the file.

A session's fingerprint holds only the options its reader uses (:func:`relevant_reader_options`):
a ``--text-column`` meant for CSVs changes nothing for a ``.txt``, ``.vtt`` or ``.srt`` session, so it
does not recode them.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path

import yaml

from .errors import UsageError
from .readers import ReaderOptions

#: The sidecar's file name.
SIDECAR = "transcript_coder.yaml"
_COLUMNS = {"speaker_column": "speaker_columns", "text_column": "text_columns", "role_column": "role_columns",
            "start_column": "start_columns", "end_column": "end_columns"}
_SCALARS = {"format": "format", "encoding": "encoding", "delimiter": "delimiter"}
_LISTS = {"speaker_labels": "speaker_labels"}
OPTION_NAMES = tuple(sorted({**_COLUMNS, **_SCALARS, **_LISTS}))

_COLUMN_FIELDS = ("speaker_columns", "role_columns", "text_columns", "start_columns", "end_columns")
#: The options each reader family reads (by the registered name before its version). A reader not
#: listed here counts every option.
_RELEVANT = {
    "csv": ("format", "encoding", "delimiter", *_COLUMN_FIELDS, "unknown_speaker"),
    "json_turns": ("format", "encoding", *_COLUMN_FIELDS, "unknown_speaker"),
    "jsonl_turns": ("format", "encoding", *_COLUMN_FIELDS, "unknown_speaker"),
    "whisperx_json": ("format", "encoding", "unknown_speaker"),
    "labelled_text": ("format", "encoding", "speaker_labels", "unknown_speaker"),
    "webvtt": ("format", "encoding", "speaker_labels", "unknown_speaker"),
    "srt": ("format", "encoding", "speaker_labels", "unknown_speaker"),
    "docx": ("format", *_COLUMN_FIELDS, "speaker_labels", "unknown_speaker"),
}


def relevant_reader_options(reader: str | None, options: ReaderOptions) -> dict:
    """The options that can change what ``reader`` (a registered name such as ``csv.v1``) reads;
    every option when the reader is unknown (``None``: not read yet)."""
    values = asdict(options)
    family = (reader or "").rsplit(".", 1)[0]
    fields = _RELEVANT.get(family, tuple(values))
    return {name: values[name] for name in fields}


def _error(path: Path | str, detail: str) -> UsageError:
    return UsageError("E426", path=path, detail=detail)


def parse_options(raw: object, source: Path | str, where: str = "") -> dict:
    """Option names and values (the command line's names) -> :class:`ReaderOptions` fields.

    Raises:
        UsageError: E426 for an unknown name or a value of the wrong type.
    """
    if not isinstance(raw, Mapping):
        raise _error(source, f"{where}expected a mapping of reader options ({', '.join(OPTION_NAMES)})")
    fields: dict = {}
    for name, value in raw.items():
        if name in _COLUMNS or name in _LISTS:
            values = [value] if isinstance(value, str) else value
            if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
                raise _error(source, f"{where}'{name}' must be a name or a list of names")
            fields[{**_COLUMNS, **_LISTS}[name]] = tuple(values)
        elif name in _SCALARS:
            if not isinstance(value, str) or not value:
                raise _error(source, f"{where}'{name}' must be text")
            fields[_SCALARS[name]] = value
        else:
            raise _error(source, f"{where}unknown reader option '{name}' (known: {', '.join(OPTION_NAMES)})")
    return fields


def _load_mapping(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise _error(path, f"cannot read it ({exc})") from None
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise _error(path, f"not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: "
                           f"{str(exc).splitlines()[0]}") from None


def load_reader_rules(path: str | Path) -> list[tuple[str, dict]]:
    """Read ``--reader-options FILE``: ``[(pattern, ReaderOptions fields)]`` in file order.

    Raises:
        UsageError: E426 naming the file for anything it cannot use.
    """
    path = Path(path)
    raw = _load_mapping(path)
    if not isinstance(raw, Mapping) or not raw:
        raise _error(path, "expected a mapping of glob patterns to reader options")
    return [(str(pattern), parse_options(options, path, f"pattern '{pattern}': ")) for pattern, options in raw.items()]


def load_sidecar(path: Path) -> dict:
    """A sidecar's ``reader`` options as :class:`ReaderOptions` fields.

    Raises:
        UsageError: E426 naming the file.
    """
    raw = _load_mapping(path)
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or set(raw) - {"reader"}:
        raise _error(path, "expected a 'reader' mapping (the only key a sidecar has)")
    return parse_options(raw.get("reader") or {}, path, "reader: ")


class ReaderResolver:
    """The reader options of each input: the command line's ``base``, refined by the sidecars
    between the input's root and its folder, then by the ``rules`` of ``--reader-options``."""

    def __init__(self, base: ReaderOptions, rules: Sequence[tuple[str, dict]] = ()) -> None:
        self.base = base
        self.rules = list(rules)
        self._sidecars: dict[Path, dict] = {}

    def _sidecar(self, folder: Path) -> dict:
        if folder not in self._sidecars:
            path = folder / SIDECAR
            self._sidecars[folder] = load_sidecar(path) if path.is_file() else {}
        return self._sidecars[folder]

    def options_for(self, path: Path, root: Path | None) -> ReaderOptions:
        """``path``'s reader options; ``root`` is the folder named on the command line (``None``
        for a file named directly: only its own folder's sidecar applies).

        Raises:
            UsageError: E426 for a sidecar that cannot be used.
        """
        path = Path(path)
        folders = [path.parent]
        if root is not None:
            try:
                relative = path.parent.relative_to(root)
                folders = [Path(root, *relative.parts[:depth]) for depth in range(len(relative.parts) + 1)]
            except ValueError:
                pass
        fields: dict = {}
        for folder in folders:  # from the root down: a deeper sidecar wins
            fields.update(self._sidecar(folder))
        if self.rules:
            relative = path.name
            if root is not None:
                try:
                    relative = path.relative_to(root).as_posix()
                except ValueError:
                    pass
            for pattern, options in self.rules:
                if fnmatch.fnmatchcase(relative, pattern) or fnmatch.fnmatchcase(path.name, pattern):
                    fields.update(options)
        return replace(self.base, **fields) if fields else self.base
