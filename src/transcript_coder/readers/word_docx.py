"""Word documents (``.docx``), read with python-docx (the ``docx`` extra).

``docx.v2``: when the document has a table whose first row names a text column and a speaker or
role column (see :mod:`.columns`), or a two-column table of speaker and text, its rows are the
turns (``Turn.line`` is the row number across the document's tables). Otherwise the paragraphs are
read as labelled text (:mod:`.labelled_text`, with its header blocks), ``Turn.line`` being the
paragraph number. ``docx.v1`` reads paragraphs without header blocks (``labelled_text.v1``).

A ``.docx`` is a zip archive, so a small file can unpack to gigabytes (a zip bomb). Before
anything is inflated, :func:`check_docx_archive` reads the sizes the archive declares and refuses
(E122) a member over :data:`MAX_MEMBER_BYTES`, members totalling over :data:`MAX_UNPACKED_BYTES`,
or a large member compressed more than :data:`MAX_RATIO` times. Python's zipfile never inflates a
member past its declared size, so these checks bound what is inflated.
"""

from __future__ import annotations

import io
import logging
import zipfile

from ..errors import InputError
from ..registry import readers
from .columns import Columns, find_column
from .labelled_text import parse_labelled_lines
from .labels import LabelVocabulary
from .options import ReaderOptions, ReaderOutput, TranscriptSource
from .table_rows import RowCollector

logger = logging.getLogger(__name__)

#: The largest member (``word/document.xml`` of a very long transcript is a few MB) inflated.
MAX_MEMBER_BYTES = 64 * 1024 * 1024
#: The most the members may inflate to in total.
MAX_UNPACKED_BYTES = 128 * 1024 * 1024
#: The highest compression ratio accepted for a member over :data:`_RATIO_FROM_BYTES`; Word's XML
#: compresses 5-20 times, a zip bomb hundreds or thousands of times.
MAX_RATIO = 100
_RATIO_FROM_BYTES = 1024 * 1024


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def check_docx_archive(data: bytes, path) -> None:
    """Refuse an archive that would unpack to more than the limits allow; reads only its directory.

    Raises:
        InputError: E122 naming the member and its declared size or ratio; E115 when it is not a
            zip archive at all.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as error:
        raise InputError("E115", path=path, detail=f"{type(error).__name__}: {error}") from None
    total = 0
    for member in members:
        size = member.file_size
        total += size
        if size > MAX_MEMBER_BYTES:
            raise InputError("E122", path=path, detail=f"{member.filename} would unpack to {_mb(size)} "
                                                        f"(limit {_mb(MAX_MEMBER_BYTES)})")
        if size > _RATIO_FROM_BYTES and size > MAX_RATIO * max(member.compress_size, 1):
            ratio = size / max(member.compress_size, 1)
            raise InputError("E122", path=path, detail=f"{member.filename} is compressed {ratio:.0f} times "
                                                        f"(limit {MAX_RATIO})")
    if total > MAX_UNPACKED_BYTES:
        raise InputError("E122", path=path, detail=f"its members would unpack to {_mb(total)} "
                                                    f"(limit {_mb(MAX_UNPACKED_BYTES)})")


def _open_document(source: TranscriptSource):
    try:
        import docx  # python-docx: an optional dependency, imported only when a .docx is read
    except ImportError:
        raise InputError("E114", path=source.path) from None
    data = source.data or source.path.read_bytes()
    check_docx_archive(data, source.path)
    try:
        return docx.Document(io.BytesIO(data))
    except Exception as error:  # python-docx raises zipfile, KeyError, lxml and its own errors
        raise InputError("E115", path=source.path, detail=f"{type(error).__name__}: {error}") from None


def _table_turns(
    tables: list[list[list[str]]], source: TranscriptSource, options: ReaderOptions
) -> ReaderOutput | None:
    """Turns from the document's tables, or ``None`` when no table holds turns."""
    row_number = 0
    collector: RowCollector | None = None
    for rows in tables:
        if not rows:
            continue
        header = [" ".join(cell.split()) for cell in rows[0]]
        text = find_column(header, options.text_columns)
        speaker = find_column(header, options.speaker_columns)
        role = find_column(header, options.role_columns)
        if text is not None and (speaker is not None or role is not None):
            columns = Columns(
                text=text,
                speaker=speaker,
                role=role,
                start=find_column(header, options.start_columns),
                end=find_column(header, options.end_columns),
            )
            body, names = rows[1:], header
            row_number += 1
        elif _is_speaker_text_table(rows, options):
            columns = Columns(text="text", speaker="speaker", role=None, start=None, end=None)
            body, names = rows, ["speaker", "text"]
        else:
            row_number += len(rows)
            continue
        if collector is None:
            collector = RowCollector(source.path, columns, options, unit="row")
        collector.columns = columns
        for cells in body:
            row_number += 1
            collector.add(dict(zip(names, cells)), row_number)
    return None if collector is None or not collector.turns else collector.output()


def _is_speaker_text_table(rows: list[list[str]], options: ReaderOptions) -> bool:
    """A headerless two-column table whose first column holds short, recurring speaker names."""
    if any(len(row) != 2 for row in rows) or len(rows) < 2:
        return False
    names = [" ".join(row[0].split()).rstrip(":") for row in rows]
    vocabulary = LabelVocabulary(names, options.speaker_labels)
    return all(name and len(name) <= 40 and vocabulary.accepts(name) for name in names if name)


@readers.register("docx.v2")
def read_docx(source: TranscriptSource, options: ReaderOptions) -> ReaderOutput:
    """Read a Word document; see the module docstring for the rules."""
    return _read_docx(source, options, headers=True)


@readers.register("docx.v1")
def read_docx_v1(source: TranscriptSource, options: ReaderOptions) -> ReaderOutput:
    """``docx.v2`` without header blocks in paragraph documents."""
    return _read_docx(source, options, headers=False)


def _read_docx(source: TranscriptSource, options: ReaderOptions, headers: bool) -> ReaderOutput:
    document = _open_document(source)
    tables = [[[cell.text for cell in row.cells] for row in table.rows] for table in document.tables]
    from_tables = _table_turns(tables, source, options)
    if from_tables is not None:
        logger.debug("%s: read %d turns from tables", source.path, len(from_tables.turns))
        return from_tables
    lines = [
        (number, piece)
        for number, paragraph in enumerate(document.paragraphs, start=1)
        for piece in paragraph.text.split("\n")
    ]
    if not any(text.strip() for _, text in lines):
        raise InputError("E109", path=source.path)
    return parse_labelled_lines(lines, source.path, options, unit="paragraph", headers=headers)
