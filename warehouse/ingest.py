"""Ingest: stream texts from files into ``documents``, bad rows into ``ingest_rejects``.

Formats, picked by extension: ``.jsonl``/``.ndjson`` (one JSON object per line),
``.csv``, ``.tsv``, ``.parquet``, and folders. A folder is read recursively: every
``*.txt`` below it is one document, its id the path relative to the folder without the
extension; every ``.jsonl``/``.ndjson``/``.csv``/``.tsv``/``.parquet`` below it is read as
if it had been named on its own; any other file (and hidden ones, such as ``.DS_Store``)
is skipped and listed in :attr:`IngestStats.skipped` with the reason.

Before any row is written the inputs are checked (:func:`plan_ingest`): a missing file, an
unknown format, an unreadable Parquet footer, a column missing from a CSV/TSV header or a
Parquet schema, a Parquet column of the wrong type, or a JSONL key found in none of the
first rows is a :class:`IngestError` and nothing is changed. A UTF-8 byte-order mark is
dropped (CSV, TSV, JSONL, .txt).

Rows are read one at a time and written in batches, each batch in one transaction, so
memory stays constant whatever the corpus size and a killed ingest loses at most the
batch in flight; re-running it skips what is already stored. A bad row becomes an
``ingest_rejects`` row: file, line, ``code``, ``reason`` (the message for a person, with the
details: byte offset, column, the value's type) and the start of the row. Statistics group
by ``code``, never by the message. The codes (:data:`REJECT_PHRASES` maps each to the phrase
the ingest summary shows):

- ``invalid_utf8``: bytes that are not UTF-8 (a line, a .txt file, a CSV field)
- ``malformed_json``: a JSONL line that is not JSON
- ``not_an_object``: a JSONL line that is JSON but not an object
- ``malformed_row``: a CSV/TSV row with the wrong number of fields or a stray quote
- ``unterminated_quote``: a CSV/TSV quote left open to the end of the file
- ``unreadable_parquet``: a damaged Parquet row group (its rows)
- ``no_rows``: a file without a single row
- ``missing_column``: a JSONL object without the text key
- ``text_not_a_string``: a text that is a number, null, an array, ...
- ``empty_text``: a text of whitespace only
- ``too_long``: a text longer than ``max_text_chars``
- ``missing_id``: an empty id in the id column
- ``id_wrong_type``: an id that is neither a string nor an integer
- ``label_wrong_type``: a label that is neither a string nor an integer
- ``unknown_label``: a label that names no category
- ``id_conflict``: an id given again, or already stored, with a different text
- ``duplicate``: the text of another document under another id (counted as a duplicate,
  not as rejected)

Ids: the user's id column when given, else ``'h'`` + the first 16 hex digits of the
BLAKE2b hash of the normalised text (Unicode NFC, whitespace runs collapsed to one
space). The full hash is kept as ``text_hash``; a second document with the same
normalised text under another id is rejected as a duplicate.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import re
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from .db import record_run
from .transactions import registered, transaction
from .errors import UserError
from .gold_imports import insert_gold
from .rules import label_lookup, resolve_label

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"}
RAW_EXCERPT_CHARS = 200
JSONL_PROBE_ROWS = 1000  # a JSONL key found in none of a file's first rows is an error, not per-row rejects
UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff")  # also the start of the UTF-32 LE mark
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # what a text file iterated with newline="" splits on

# Reject code -> the phrase the ingest summary shows for it: every code there is (module doc).
REJECT_PHRASES = {
    "invalid_utf8": "invalid UTF-8",
    "malformed_json": "malformed JSON",
    "not_an_object": "line is not a JSON object",
    "malformed_row": "malformed row",
    "unterminated_quote": "unterminated quote",
    "unreadable_parquet": "unreadable Parquet data",
    "no_rows": "no rows in the file",
    "missing_column": "missing text column",
    "text_not_a_string": "text is not a string",
    "empty_text": "empty text",
    "too_long": "text longer than the limit (ingest.max_text_chars)",
    "missing_id": "missing id",
    "id_wrong_type": "id is not a string or an integer",
    "label_wrong_type": "label is not a category name or id",
    "unknown_label": "unknown label",
    "id_conflict": "id already used for a different text",
    "duplicate": "duplicate text",
}


class IngestError(UserError):
    """A problem with the request itself (missing file, unknown format): nothing was read."""


@dataclass
class IngestStats:
    files: int = 0
    rows_read: int = 0
    inserted: int = 0
    already_present: int = 0
    duplicates: int = 0  # same text under another id, or repeated within the input
    rejected: int = 0
    gold_imported: int = 0
    seconds: float = 0.0
    reject_reasons: dict[str, int] = field(default_factory=dict)  # reject code -> count (no 'duplicate')
    files_skipped: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file in a folder, why it was not read)
    run_id: str | None = None  # the run the rejects were recorded under

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    def reject_summary(self) -> list[tuple[str, int]]:
        """``(phrase, count)`` per reject code, the most frequent first."""
        counts = sorted(self.reject_reasons.items(), key=lambda kv: -kv[1])
        return [(REJECT_PHRASES[code], count) for code, count in counts]


@dataclass
class _Row:
    line: int | None
    record: dict | None = None  # the parsed row, None when unreadable
    code: str | None = None  # a reject code (REJECT_PHRASES) when the row could not be read
    reason: str | None = None  # the reject's message
    raw: str | None = None
    source: str | None = None  # the file, where it is not the input being read (.txt in a folder)


@dataclass
class _Reject:
    """One ``ingest_rejects`` row."""

    source: str
    line: int | None
    code: str
    reason: str
    raw: str | None = None


@dataclass
class _Unit:
    """One input to read: a file, or a folder's .txt files (read as one stream)."""

    path: Path
    fmt: str  # jsonl, csv, tsv, parquet or txt-folder
    files: tuple[Path, ...] = ()  # txt-folder: the .txt files


@dataclass
class IngestPlan:
    """Checked inputs (see :func:`plan_ingest`): what :func:`ingest_files` will read and what it skips."""

    paths: list[str]  # as given: files and folders
    units: list[_Unit]
    skipped: list[tuple[str, str]]
    text_col: str
    id_col: str | None
    label_col: str | None


def normalise(text: str) -> str:
    """The form ids and duplicate detection use: NFC, whitespace runs as one space."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def text_hash(text: str) -> str:
    return hashlib.blake2b(normalise(text).encode("utf-8"), digest_size=16).hexdigest()


def detect_format(path: Path) -> str:
    if path.is_dir():
        return "txt-folder"
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise IngestError(
            f"{path}: unknown format {path.suffix or '(no extension)'!r}; "
            f"use one of {', '.join(sorted(FORMATS))} or a folder of .txt files"
        )
    return fmt


def _excerpt(raw: str | bytes) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    return raw[:RAW_EXCERPT_CHARS]


def _one_line(message: object) -> str:
    return " ".join(str(message).split())


def _value_kind(value: object) -> str:
    """How a non-string value reads in a reason: 'a number', 'an array', ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, int):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, (bytes, bytearray)):
        return "bytes"
    return f"a {type(value).__name__}"


def _names(names: Sequence[str], limit: int = 30) -> str:
    shown = [n if len(n) <= 40 else n[:39] + "…" for n in map(str, names[:limit])]
    more = f", … ({len(names)} in all)" if len(names) > limit else ""
    return ", ".join(shown) + more


# --- readers: one _Row per row -------------------------------------------------------------


def _read_jsonl(path: Path) -> Iterator[_Row]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1:
                raw = raw.removeprefix(UTF8_BOM)
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield _Row(number, code="invalid_utf8", reason=f"invalid UTF-8 at byte {exc.start}",
                           raw=_excerpt(raw))
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield _Row(number, code="malformed_json", reason=f"malformed JSON: {exc.msg}", raw=_excerpt(line))
                continue
            if not isinstance(record, dict):
                yield _Row(number, code="not_an_object", reason="line is not a JSON object", raw=_excerpt(line))
                continue
            yield _Row(number, record)


def _open_delimited(path: Path):
    # utf-8-sig: a byte-order mark (Excel's "CSV UTF-8") would otherwise stick to the first column name
    return path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline="")


def _read_delimited(path: Path, delimiter: str) -> Iterator[_Row]:
    """Rows of a CSV/TSV file, each with the line it starts on.

    ``strict`` quoting: a quote closed and followed by more text (``"a"b``), the sign of
    a stray quote that swallowed the rows after it, makes the row a reject instead of
    silently merging lines; a quote still open at the end of the file is rejected with
    the line it was opened on and the number of lines it swallowed.
    """
    csv.field_size_limit(sys.maxsize)
    with _open_delimited(path) as handle:
        reader = csv.reader(handle, delimiter=delimiter, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise IngestError(f"{path}: unreadable header: {_one_line(exc)}") from exc
        width = len(header)
        end = reader.line_num
        while True:
            start = end + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                end = reader.line_num
                if "unexpected end of data" in str(exc):
                    yield _unterminated_quote(path, delimiter, start, end)
                    return
                span = f"line {start}" if end <= start else f"lines {start}-{end}"
                yield _Row(start, code="malformed_row", reason=f"malformed row: {_one_line(exc)} ({span})")
                continue
            end = reader.line_num
            if not values:
                continue
            if len(values) != width:
                yield _Row(
                    start,
                    code="malformed_row",
                    reason=f"malformed row: {len(values)} fields, header has {width}",
                    raw=_excerpt(delimiter.join(values)),
                )
                continue
            yield _Row(start, dict(zip(header, values)))


def _unterminated_quote(path: Path, delimiter: str, start: int, end: int) -> _Row:
    """The reject for a row whose quoted field is still open at the end of the file (line ``end``).

    The row is parsed again, leniently, from its first line: its last field then holds
    everything after the opening quote, so its line breaks say on which line the quote
    was opened.
    """
    with _open_delimited(path) as handle:
        lines = itertools.islice(handle, start - 1, None)
        values = next(csv.reader(lines, delimiter=delimiter), [""])
    tail = values[-1] if values else ""
    breaks = len(_LINE_BREAK.findall(tail))
    opened = end + 1 - breaks if tail.endswith(("\n", "\r")) else end - breaks
    opened = min(max(opened, start), end)
    where = f" (in the row starting on line {start})" if opened > start else ""
    reason = (f"unterminated quote: the quote opened on line {opened}{where} runs to the end of the file "
              f"(line {end}), swallowing {end - opened} more line{'' if end - opened == 1 else 's'}")
    return _Row(opened, code="unterminated_quote", reason=reason, raw=_excerpt(delimiter.join(values)))


def _read_parquet(path: Path) -> Iterator[_Row]:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise IngestError(f"{path}: not a readable Parquet file ({_one_line(exc)})") from exc
    with parquet:
        first = 1  # row number of the row group's first row
        for group in range(parquet.num_row_groups):  # a damaged row group costs its own rows, not the file's
            size = parquet.metadata.row_group(group).num_rows
            batches = parquet.iter_batches(batch_size=10_000, row_groups=[group])
            number = first - 1
            while True:
                try:
                    batch = next(batches)
                except StopIteration:
                    break
                except (pa.ArrowException, OSError) as exc:
                    last = first + size - 1
                    span = f"row {last}" if number + 1 == last else f"rows {number + 1}-{last}"
                    yield _Row(number + 1, code="unreadable_parquet",
                               reason=f"unreadable Parquet data ({span}): {_one_line(exc)}")
                    break
                for record in batch.to_pylist():
                    number += 1
                    yield _Row(number, record)
            first += size


def _read_txt_folder(path: Path, files: Sequence[Path] | None = None) -> Iterator[_Row]:
    """One row per .txt file (default: every ``*.txt`` below ``path``); rejects name the file as their source."""
    for file in sorted(path.rglob("*.txt")) if files is None else files:
        relative = file.relative_to(path).with_suffix("").as_posix()
        raw = file.read_bytes().removeprefix(UTF8_BOM)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield _Row(None, code="invalid_utf8", reason=f"invalid UTF-8 at byte {exc.start}", raw=_excerpt(raw),
                       source=str(file))
            continue
        yield _Row(None, {"id": relative, "text": text, "file": f"{relative}.txt"}, source=str(file))


def read_rows(path: Path, fmt: str) -> Iterator[_Row]:
    if fmt == "jsonl":
        return _read_jsonl(path)
    if fmt in ("csv", "tsv"):
        return _read_delimited(path, "," if fmt == "csv" else "\t")
    if fmt == "parquet":
        return _read_parquet(path)
    return _read_txt_folder(path)


def columns_of(path: Path, fmt: str) -> list[str] | None:
    """Column names known before reading rows (CSV/TSV header, Parquet schema), else None."""
    if fmt == "parquet":
        with pq.ParquetFile(path) as parquet:
            return parquet.schema_arrow.names
    if fmt in ("csv", "tsv"):
        with _open_delimited(path) as handle:
            return next(csv.reader(handle, delimiter="," if fmt == "csv" else "\t"), [])
    return None


# --- checks before anything is written -----------------------------------------------------


def plan_ingest(
    paths: Sequence[str | Path], *, text_col: str = "text", id_col: str | None = None, label_col: str | None = None
) -> IngestPlan:
    """Check the inputs and list what will be read; raise :class:`IngestError` (nothing written) when
    a path is missing or of an unknown format, a folder holds nothing to read, or a file cannot
    give the named columns (see the module docstring)."""
    units: list[_Unit] = []
    skipped: list[tuple[str, str]] = []
    for raw_path in paths:
        path = Path(raw_path)
        if not path.exists():
            raise IngestError(f"{path}: no such file or folder")
        if not path.is_dir():
            units.append(_Unit(path, detect_format(path)))
            continue
        texts, others, passed = [], [], []
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            relative = file.relative_to(path)
            suffix = file.suffix.lower()
            if any(part.startswith(".") for part in relative.parts):
                passed.append((str(file), "hidden file"))
            elif suffix == ".txt":
                texts.append(file)
            elif suffix in FORMATS:
                others.append(_Unit(file, FORMATS[suffix]))
            else:
                passed.append((str(file), f"unsupported file type {suffix or '(no extension)'!r}"))
        if not texts and not others:
            listed = f" (skipped: {_names([Path(p).name for p, _ in passed], 5)})" if passed else ""
            raise IngestError(f"{path}: no .txt, {', '.join(sorted(FORMATS))} file in the folder{listed}")
        if texts:
            units.append(_Unit(path, "txt-folder", tuple(texts)))
        units.extend(others)
        skipped.extend(passed)
    for unit in units:
        if unit.fmt != "txt-folder":
            _check_file(unit.path, unit.fmt, text_col, id_col, label_col)
    return IngestPlan([str(p) for p in paths], units, skipped, text_col, id_col, label_col)


def _check_file(path: Path, fmt: str, text_col: str, id_col: str | None, label_col: str | None) -> None:
    wanted = [(text_col, "text")] + [(c, role) for c, role in ((id_col, "id"), (label_col, "label")) if c]
    if fmt == "parquet":
        _check_parquet(path, wanted)
        return
    with path.open("rb") as handle:
        start = handle.read(4)
    if start.startswith(_UTF16_32_BOMS) or start.startswith(b"\x00\x00\xfe\xff"):
        raise IngestError(f"{path}: the file is UTF-16 or UTF-32 encoded; save it as UTF-8")
    if fmt == "jsonl":
        _check_jsonl(path, wanted)
        return
    with _open_delimited(path) as handle:
        try:  # strict, as the rows will be read: a header with a stray quote is refused here, not half-way
            columns = next(csv.reader(handle, delimiter="," if fmt == "csv" else "\t", strict=True), None)
        except csv.Error as exc:
            raise IngestError(f"{path}: unreadable header: {_one_line(exc)}") from exc
    if columns == []:
        raise IngestError(f"{path}: the first line is blank; it must be the header (the column names)")
    if columns is not None:  # an empty file has no header: it becomes a reject while reading
        _check_columns(path, [name for name, _ in wanted], columns)


def _check_columns(path: Path, wanted: list[str], columns: Sequence[str]) -> None:
    for name in wanted:
        if name not in columns:
            raise IngestError(f"{path}: no column {name!r} (columns: {_names(columns)}){_did_you_mean(name, columns)}")
        if list(columns).count(name) > 1:
            raise IngestError(f"{path}: column {name!r} appears {list(columns).count(name)} times in the header")


def _did_you_mean(name: str, columns: Sequence[str]) -> str:
    close = [c for c in columns if c.strip().lower() == name.strip().lower()]
    return f"; did you mean {close[0]!r}?" if close else ""


def _check_parquet(path: Path, wanted: list[tuple[str, str]]) -> None:
    try:
        with pq.ParquetFile(path) as parquet:
            schema = parquet.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise IngestError(f"{path}: not a readable Parquet file ({_one_line(exc)})") from exc
    _check_columns(path, [name for name, _ in wanted], schema.names)
    for name, role in wanted:
        kind = schema.field(name).type
        value = kind.value_type if pa.types.is_dictionary(kind) else kind
        is_string = pa.types.is_string(value) or pa.types.is_large_string(value) or (
            getattr(pa.types, "is_string_view", lambda _: False)(value))
        if is_string or (role != "text" and pa.types.is_integer(value)):
            continue
        allowed = "a string column" if role == "text" else "a string or integer column"
        raise IngestError(f"{path}: column {name!r} is of type {kind}; the {role} column must be {allowed}")


def _check_jsonl(path: Path, wanted: list[tuple[str, str]]) -> None:
    """A key that none of the first :data:`JSONL_PROBE_ROWS` objects holds is a misnamed column."""
    keys: dict[str, None] = {}
    objects = 0
    whole_file = True
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if objects >= JSONL_PROBE_ROWS:
                whole_file = False
                break
            if number == 1:
                raw = raw.removeprefix(UTF8_BOM)
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError:  # malformed JSON or UTF-8: rejected while reading
                continue
            if isinstance(record, dict):
                objects += 1
                keys.update(dict.fromkeys(map(str, record)))
    if not objects:
        return
    scope = f"any of its {objects} JSON objects" if whole_file else f"its first {objects} JSON objects"
    for name, _ in wanted:
        if name not in keys:
            found = list(keys)
            raise IngestError(f"{path}: no key {name!r} in {scope} (keys: {_names(found)}){_did_you_mean(name, found)}")


# --- writing ---------------------------------------------------------------------------------


class _Batch:
    """Rows waiting to be written, plus the rejects and gold labels that go with them."""

    def __init__(self) -> None:
        self.documents: dict[str, list] = {k: [] for k in ("doc_id", "text", "text_hash", "source", "meta")}
        self.lines: list[int | None] = []
        self.origins: list[str] = []  # the file each document came from, for rejects found at write time
        self.labels: list[int | None] = []
        self.rejects: list[_Reject] = []
        self.repeats = 0  # the same id and text again within the input
        self.seen_ids: dict[str, str] = {}
        self.seen_hashes: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.documents["doc_id"]) + len(self.rejects)


def ingest_files(
    con: duckdb.DuckDBPyConnection,
    paths: Sequence[str | Path] | IngestPlan,
    *,
    text_col: str = "text",
    id_col: str | None = None,
    label_col: str | None = None,
    max_text_chars: int = 100_000,
    batch_size: int = 20_000,
    run_id: str | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> IngestStats:
    """Read ``paths`` into the warehouse; return counts of what happened to the rows.

    Inputs: files or folders (see the module docstring), or an :class:`IngestPlan` from
    :func:`plan_ingest` (whose columns then win over the arguments); ``text_col``,
    ``id_col`` and ``label_col`` name the columns (a folder's .txt files use the file name
    as id). ``label_col`` records the given labels in ``gold_imports`` (source
    ``FILE#label``); a label is read by :func:`~admedtagger.warehouse.rules.resolve_label`:
    a category name (any case) or id, or a name for "fits no category" ("other", "none",
    "inne", ...). ``run_id`` is stored with the rejects. ``on_progress`` receives the
    number of rows read so far.

    Raises :class:`IngestError` before writing anything when :func:`plan_ingest` refuses
    the inputs; every problem inside a file becomes an ``ingest_rejects`` row.
    """
    started = time.perf_counter()
    plan = paths if isinstance(paths, IngestPlan) else plan_ingest(
        paths, text_col=text_col, id_col=id_col, label_col=label_col)
    labels = label_lookup(con) if plan.label_col else {}
    stats = IngestStats(files_skipped=len(plan.skipped), skipped=list(plan.skipped), run_id=run_id)
    # Committed batches collect in the write-ahead log and are folded into the file every
    # 256 MB: checkpointing after every batch (the 16 MB default) made ingest 2-4x slower.
    # A crash loses nothing committed: DuckDB replays the log on the next open.
    threshold = con.execute("SELECT current_setting('checkpoint_threshold')").fetchall()[0][0]
    con.execute("SET checkpoint_threshold = '256MB'")
    try:
        _ingest_units(con, plan, stats, labels, max_text_chars, batch_size, run_id, on_progress)
    finally:
        con.execute(f"SET checkpoint_threshold = '{threshold}'")
    con.execute("CHECKPOINT")
    stats.seconds = time.perf_counter() - started
    return stats


def run_ingest(
    con: duckdb.DuckDBPyConnection,
    plan: IngestPlan,
    *,
    max_text_chars: int = 100_000,
    batch_size: int = 20_000,
    on_progress: Callable[[int], None] | None = None,
) -> IngestStats:
    """:func:`ingest_files` recorded as a run of stage ``ingest`` in ``runs``.

    The run's params are the plan's paths and columns, its metrics the returned stats
    (:meth:`IngestStats.as_dict`); the rejects carry its id, returned as ``stats.run_id``.
    A failed or interrupted ingest leaves its run marked so (see :func:`record_run`).
    """
    if not isinstance(plan, IngestPlan):
        raise TypeError(f"run_ingest takes the IngestPlan of plan_ingest, not {type(plan).__name__}")
    params = {"paths": plan.paths, "text_col": plan.text_col, "id_col": plan.id_col, "label_col": plan.label_col}
    with record_run(con, "ingest", params) as run:
        stats = ingest_files(con, plan, max_text_chars=max_text_chars, batch_size=batch_size, run_id=run.run_id,
                             on_progress=on_progress)
        run.metrics = stats.as_dict()
    return stats


def _ingest_units(con: duckdb.DuckDBPyConnection, plan: IngestPlan, stats: IngestStats, labels: dict[str, int],
                  max_text_chars: int, batch_size: int, run_id: str | None,
                  on_progress: Callable[[int], None] | None) -> None:
    for unit in plan.units:
        stats.files += len(unit.files) if unit.fmt == "txt-folder" else 1
        source = str(unit.path)
        rows = _read_txt_folder(unit.path, unit.files) if unit.fmt == "txt-folder" else read_rows(unit.path, unit.fmt)
        batch = _Batch()
        read_before = stats.rows_read
        for row in rows:
            stats.rows_read += 1
            _add_row(batch, row, source, unit.fmt, plan.text_col, plan.id_col, plan.label_col, labels, max_text_chars)
            if len(batch) >= batch_size:
                _write_batch(con, batch, source, run_id, stats)
                batch = _Batch()
                if on_progress:
                    on_progress(stats.rows_read)
        if stats.rows_read == read_before:  # not one row, not even a bad one: say so
            batch.rejects.append(_Reject(source, None, "no_rows", "no rows in the file"))
        _write_batch(con, batch, source, run_id, stats)
        if on_progress:
            on_progress(stats.rows_read)


def _add_row(batch: _Batch, row: _Row, source: str, fmt: str, text_col: str, id_col: str | None,
             label_col: str | None, labels: dict[str, int], max_text_chars: int) -> None:
    origin = row.source or source

    def reject(code: str, reason: str, raw: str | None = None) -> None:
        batch.rejects.append(_Reject(origin, row.line, code, reason, raw))

    if row.code:
        reject(row.code, row.reason, row.raw)
        return
    record = row.record
    if fmt == "txt-folder":
        text_key, id_key, label_key = "text", "id", None
    else:
        text_key, id_key, label_key = text_col, id_col, label_col

    def whole_row() -> str:
        return _excerpt(json.dumps(record, ensure_ascii=False, default=str))

    if text_key not in record:
        reject("missing_column", f"missing column {text_key!r}", whole_row())
        return
    text = record[text_key]
    if not isinstance(text, str):
        reject("text_not_a_string", f"text is {_value_kind(text)}, not a string", whole_row())
        return
    if not text.strip():
        reject("empty_text", "empty text")
        return
    if len(text) > max_text_chars:
        reject("too_long", f"text longer than {max_text_chars} characters ({len(text)})", _excerpt(text))
        return
    try:
        digest = text_hash(text)
    except UnicodeEncodeError:  # lone surrogates: undecodable bytes under surrogateescape
        reject("invalid_utf8", "invalid UTF-8 in the text", _excerpt(text.encode("utf-8", "replace")))
        return
    if id_key:
        given = record.get(id_key)
        if given is None or given == "":
            reject("missing_id", f"missing id in column {id_key!r}", _excerpt(text))
            return
        if isinstance(given, bool) or not isinstance(given, (str, int)):
            shown = f" ({given!r})" if isinstance(given, (bool, float)) else ""
            reject("id_wrong_type", f"id is {_value_kind(given)}{shown}, not a string or an integer", whole_row())
            return
        doc_id = str(given)
    else:
        doc_id = "h" + digest[:16]
    label = None
    given_label = record.get(label_key) if label_key else None
    if given_label is not None and given_label != "":
        if isinstance(given_label, bool) or not isinstance(given_label, (str, int)):
            reject("label_wrong_type", f"label is {_value_kind(given_label)}, not a category name or id", whole_row())
            return
        label = resolve_label(labels, given_label)
        if label is None:
            reject("unknown_label", f"unknown label {given_label!r} in column {label_key!r}", _excerpt(text))
            return
    previous_hash = batch.seen_ids.get(doc_id)
    if previous_hash is not None:
        if previous_hash == digest:
            batch.repeats += 1
        else:
            reject("id_conflict", f"id {doc_id!r} repeated with a different text")
        return
    if digest in batch.seen_hashes:
        reject("duplicate", f"duplicate text of document {batch.seen_hashes[digest]!r}", _excerpt(text))
        return
    batch.seen_ids[doc_id] = digest
    batch.seen_hashes[digest] = doc_id
    meta = {k: v for k, v in record.items() if k not in (text_key, id_key, label_key)}
    batch.lines.append(row.line)
    batch.origins.append(origin)
    batch.documents["doc_id"].append(doc_id)
    batch.documents["text"].append(text)
    batch.documents["text_hash"].append(digest)
    batch.documents["source"].append(source)
    batch.documents["meta"].append(json.dumps(meta, ensure_ascii=False, default=str) if meta else None)
    batch.labels.append(label)


# What a batch document is against the stored ones (_compare_with_stored).
_NEW = "new"  # to insert
_STORED = "stored"  # the same id with the same text is stored: only its gold label may be new
_CLASH = "clash"  # its id holds another text, or its text is stored under another id: a reject


def _write_batch(con: duckdb.DuckDBPyConnection, batch: _Batch, source: str, run_id: str | None,
                 stats: IngestStats) -> None:
    """Write one batch whole or not at all (one transaction), then count it in ``stats``:
    its new documents, the gold labels of its documents that are not rejected (source
    ``SOURCE#label``), its rejects with those found against the stored documents."""
    documents = pa.table(batch.documents, schema=pa.schema([(k, pa.string()) for k in batch.documents]))
    with transaction(con):
        fates, clashes = _compare_with_stored(con, batch, documents)
        rejects = batch.rejects + clashes
        inserted = _insert_documents(con, documents.filter(pa.array([fate == _NEW for fate in fates], pa.bool_())))
        labelled = [i for i, label in enumerate(batch.labels) if label is not None and fates[i] != _CLASH]
        gold = pa.table({
            "doc_id": pa.array([batch.documents["doc_id"][i] for i in labelled], pa.string()),
            "label": pa.array([batch.labels[i] for i in labelled], pa.int32()),
        })
        gold_imported = insert_gold(con, gold, f"{source}#label")
        _insert_rejects(con, rejects, run_id)
    stats.inserted += inserted
    stats.gold_imported += gold_imported
    stats.already_present += fates.count(_STORED)
    stats.duplicates += batch.repeats
    for reject in rejects:
        if reject.code == "duplicate":
            stats.duplicates += 1
        else:
            stats.rejected += 1
            stats.reject_reasons[reject.code] = stats.reject_reasons.get(reject.code, 0) + 1


def _compare_with_stored(con: duckdb.DuckDBPyConnection, batch: _Batch,
                         documents: pa.Table) -> tuple[list[str], list[_Reject]]:
    """The fate (_NEW, _STORED, _CLASH) of each batch document, and a reject for each clash."""
    fates = [_NEW] * documents.num_rows
    rejects: list[_Reject] = []
    if not documents.num_rows:
        return fates, rejects
    with registered(con, "incoming", documents):
        clashes = con.execute(
            """
            SELECT i.doc_id, d.doc_id, d.text_hash = i.text_hash, true
            FROM incoming i JOIN documents d ON d.doc_id = i.doc_id
            UNION ALL  -- two equi-joins: an OR condition would be a nested-loop join
            SELECT i.doc_id, d.doc_id, true, false
            FROM incoming i JOIN documents d ON d.text_hash = i.text_hash AND d.doc_id <> i.doc_id
            """
        ).fetchall()
    position = {doc_id: i for i, doc_id in enumerate(batch.documents["doc_id"])}
    for doc_id, existing_id, same_text, same_id in clashes:
        i = position[doc_id]
        if fates[i] != _NEW:  # a document clashing twice is reported once
            continue
        if same_id and same_text:
            fates[i] = _STORED
            continue
        fates[i] = _CLASH
        if same_id:
            rejects.append(_Reject(batch.origins[i], batch.lines[i], "id_conflict",
                                   f"id {doc_id!r} already holds a different text"))
        else:
            rejects.append(_Reject(batch.origins[i], batch.lines[i], "duplicate",
                                   f"duplicate text of document {existing_id!r}"))
    return fates, rejects


def _insert_documents(con: duckdb.DuckDBPyConnection, documents: pa.Table) -> int:
    """Append rows (doc_id, text, text_hash, source, meta) to ``documents``; return how many."""
    if documents.num_rows:
        with registered(con, "new_documents", documents):
            con.execute("INSERT INTO documents (doc_id, text, text_hash, source, meta) SELECT * FROM new_documents")
    return documents.num_rows


def _insert_rejects(con: duckdb.DuckDBPyConnection, rejects: Sequence[_Reject], run_id: str | None) -> None:
    """Append to ``ingest_rejects``; a reject already recorded (same file, line and message) is not added again."""
    if not rejects:
        return
    table = pa.table({
        "source": pa.array([r.source for r in rejects], pa.string()),
        "line": pa.array([r.line for r in rejects], pa.int64()),
        "code": pa.array([r.code for r in rejects], pa.string()),
        "reason": pa.array([r.reason for r in rejects], pa.string()),
        "raw": pa.array([r.raw for r in rejects], pa.string()),
    })
    with registered(con, "new_rejects", table):
        con.execute(
            """
            INSERT INTO ingest_rejects (source, line, code, reason, raw, run_id)
            SELECT r.source, r.line, r.code, r.reason, r.raw, ? FROM new_rejects r
            WHERE NOT EXISTS (SELECT 1 FROM ingest_rejects x WHERE x.source = r.source
                              AND x.line IS NOT DISTINCT FROM r.line AND x.reason = r.reason)
            """,
            [run_id],
        )
