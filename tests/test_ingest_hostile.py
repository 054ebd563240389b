"""Hostile inputs to `admedtagger ingest`, through the real CLI and a real DuckDB warehouse.

Each case says what a user sees (exit status, one-line error) and what the warehouse then
holds: the documents, and the ``ingest_rejects`` rows with their file, line and reason.
A refused run (exit 2) must leave the warehouse exactly as it was.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import admedtagger.warehouse.ingest as ingest_module
from admedtagger.cli import app
from admedtagger.warehouse import connect, ingest_files
from admedtagger.warehouse.ingest import REJECT_PHRASES, IngestError

runner = CliRunner()

A = "RTG klatki piersiowej w projekcji PA: bez zmian ogniskowych."
B = "Rozpoznanie: rak piersi lewej, pT2N0M0. Kwalifikacja do chemioterapii."
C = "EKG: rytm zatokowy miarowy 72/min. ECHO serca: EF 55%."
D = "Nadciśnienie tętnicze, RR 170/100 mmHg, zwiększono dawkę amlodypiny."


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def query(project, sql, params=()):
    con = connect(project.db_path())
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def texts(project):
    return {t for (t,) in query(project, "SELECT text FROM documents")}


def rejects(project, source=None):
    """(line, reason) of the rejects, of one file when ``source`` is given."""
    if source is None:
        return query(project, "SELECT line, reason FROM ingest_rejects ORDER BY line NULLS FIRST, reason")
    return query(project, "SELECT line, reason FROM ingest_rejects WHERE source = ? ORDER BY line NULLS FIRST",
                 [str(source)])


def snapshot(project):
    """What a refused run must not change."""
    return [query(project, f"SELECT count(*) FROM {t}")[0][0] for t in ("documents", "ingest_rejects", "runs",
                                                                         "gold_imports")]


def assert_refused(project, result, *fragments):
    """Exit 2, a single `error: ...` line holding every fragment."""
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


# --- 3. a CSV quote left open -----------------------------------------------------------------


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("delimiter", [",", "\t"])
def test_quote_open_to_the_end_of_the_file_is_one_reject_with_its_lines(project, tmp_path, delimiter, newline):
    path = tmp_path / ("a.csv" if delimiter == "," else "a.tsv")
    rows = ["id,text", f"1,{A}", f'2,"{B}', f"3,{C}", f"4,{D}"]
    path.write_text(newline.join(r.replace(",", delimiter, 1) for r in rows) + newline, encoding="utf-8",
                    newline="")
    result = invoke("ingest", path, "--id-col", "id")
    assert result.exit_code == 0, result.output
    assert texts(project) == {A}  # the row before the broken one is in
    [(line, reason)] = rejects(project, path)
    assert line == 3
    assert reason.startswith("unterminated quote: the quote opened on line 3 ")
    assert "end of the file (line 5), swallowing 2 more lines" in reason
    assert "rejected 1: unterminated quote" in result.output


def test_unterminated_quote_after_a_multiline_field_names_the_row_and_the_quote(project, tmp_path):
    path = tmp_path / "a.csv"
    # row 2 starts on line 3; its text spans lines 3-4; its note opens a quote on line 4 that never closes
    path.write_text(f'id,text,note\n1,{A},n\n2,"{B}\nciąg dalszy","otwarty cudzysłów\n3,{C},n\n4,{D},n',
                    encoding="utf-8")  # and no final line break
    assert invoke("ingest", path, "--id-col", "id").exit_code == 0
    [(line, reason)] = rejects(project, path)
    assert line == 4
    assert "opened on line 4 (in the row starting on line 3)" in reason and "(line 6), swallowing 2 more" in reason
    assert texts(project) == {A}


def test_quote_closed_lines_later_is_a_reject_not_a_merged_row(project, tmp_path):
    path = tmp_path / "a.csv"
    # the quote opened on line 3 is closed on line 4 and followed by more text: without strict quoting
    # lines 3-4 became one silently merged text
    path.write_text(f'id,text\n1,{A}\n2,"{B}\n3,"{C}" tekst\n4,"{D}"\n', encoding="utf-8")
    assert invoke("ingest", path, "--id-col", "id").exit_code == 0
    [(line, reason)] = rejects(project, path)
    assert line == 3 and reason.startswith("malformed row: ") and reason.endswith("(lines 3-4)")
    assert texts(project) == {A, D}  # before and after the broken rows


def test_well_formed_multiline_quotes_are_still_one_text(project, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(f'id,text\n1,"{A}\n\n""cytat"", dalej"\n2,"{B}"\n', encoding="utf-8")
    assert invoke("ingest", path, "--id-col", "id").exit_code == 0
    assert rejects(project) == []
    assert texts(project) == {f'{A}\n\n"cytat", dalej', B}
    assert query(project, "SELECT line FROM ingest_rejects") == []


# --- 4. values that are not text -------------------------------------------------------------


def test_jsonl_text_of_another_type_is_rejected_with_its_type(project, tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [
        {"text": A},
        {"text": 123},
        {"text": {"a": 1}},
        {"text": True},
        {"text": None},
        {"text": ["x", "y"]},
        {"text": 1.5},
        {"text": B},
    ])
    result = invoke("ingest", path)
    assert result.exit_code == 0, result.output
    assert texts(project) == {A, B}
    assert rejects(project, path) == [
        (2, "text is a number, not a string"),
        (3, "text is an object, not a string"),
        (4, "text is a boolean, not a string"),
        (5, "text is null, not a string"),
        (6, "text is an array, not a string"),
        (7, "text is a decimal number, not a string"),
    ]
    raw = query(project, "SELECT raw FROM ingest_rejects WHERE line = 3")[0][0]
    assert json.loads(raw) == {"text": {"a": 1}}  # the row as read, for the user to find it
    assert "rejected 6: text is not a string" in result.output  # one code, whatever the type


def test_jsonl_ids_integers_kept_as_strings_other_types_rejected(project, tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [
        {"id": 17, "text": A},
        {"id": "d2", "text": B},
        {"id": [1], "text": C},
        {"id": {"k": 1}, "text": D},
        {"id": True, "text": D + " (2)"},
        {"id": 2.5, "text": D + " (3)"},
    ])
    assert invoke("ingest", path, "--id-col", "id").exit_code == 0
    assert sorted(query(project, "SELECT doc_id FROM documents")) == [("17",), ("d2",)]
    assert rejects(project, path) == [
        (3, "id is an array, not a string or an integer"),
        (4, "id is an object, not a string or an integer"),
        (5, "id is a boolean (True), not a string or an integer"),
        (6, "id is a decimal number (2.5), not a string or an integer"),
    ]


def test_jsonl_labels_names_and_category_ids_accepted_other_types_rejected(project, tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [
        {"id": "a", "text": A, "label": "radiologia"},
        {"id": "b", "text": B, "label": 1},  # a category id
        {"id": "c", "text": C, "label": ["Oncology"]},
        {"id": "d", "text": D, "label": True},
    ])
    result = invoke("ingest", path, "--id-col", "id", "--label-col", "label")
    assert result.exit_code == 0, result.output
    assert dict(query(project, "SELECT doc_id, label FROM gold_imports")) == {"a": 0, "b": 1}
    assert rejects(project, path) == [
        (3, "label is an array, not a category name or id"),
        (4, "label is a boolean, not a category name or id"),
    ]
    assert texts(project) == {A, B}


@pytest.mark.parametrize("column, values, shown", [
    ("text", pa.array([1, 2], pa.int64()), "int64"),
    ("text", pa.array([b"a", b"b"], pa.binary()), "binary"),
    ("text", pa.array([["a"], ["b"]], pa.list_(pa.string())), "list<"),
    ("doc", pa.array([[1], [2]], pa.list_(pa.int64())), "list<"),
    ("doc", pa.array([1.0, 2.0], pa.float64()), "double"),
    ("label", pa.array([True, False]), "bool"),
])
def test_parquet_column_of_the_wrong_type_is_refused(project, tmp_path, column, values, shown):
    columns = {"text": pa.array([A, B]), "doc": pa.array(["p1", "p2"]), "label": pa.array(["radiologia", "other"])}
    columns[column] = values
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table(columns), path)
    before = snapshot(project)
    result = invoke("ingest", path, "--id-col", "doc", "--label-col", "label")
    assert_refused(project, result, "a.parquet", f"column {column!r} is of type {shown}")
    assert snapshot(project) == before


def test_parquet_integer_ids_and_labels_and_null_texts(project, tmp_path):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({
        "text": pa.array([A, None, B], pa.large_string()),
        "doc": pa.array([17, 18, 19], pa.int32()),
        "label": pa.array([0, 1, -1], pa.int8()),
    }), path)
    assert invoke("ingest", path, "--id-col", "doc", "--label-col", "label").exit_code == 0
    assert sorted(query(project, "SELECT doc_id, text FROM documents")) == [("17", A), ("19", B)]
    assert rejects(project, path) == [(2, "text is null, not a string")]
    assert dict(query(project, "SELECT doc_id, label FROM gold_imports")) == {"17": 0, "19": -1}


# --- 5. unreadable files, folders of mixed files -----------------------------------------------


def test_random_bytes_named_parquet_is_a_one_line_error(project, tmp_path):
    good = write_jsonl(tmp_path / "good.jsonl", [{"text": A}])
    path = tmp_path / "junk.parquet"
    path.write_bytes(bytes(range(256)) * 8)
    before = snapshot(project)
    result = invoke("ingest", good, path)
    assert_refused(project, result, "junk.parquet: not a readable Parquet file")
    assert snapshot(project) == before  # good.jsonl, named first, was not read either


def test_parquet_damaged_row_group_is_a_reject_the_other_groups_are_read(project, tmp_path):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"text": [f"Opis badania numer {i}. " * 10 for i in range(60)]}), path,
                   row_group_size=20, compression="snappy")
    chunk = pq.ParquetFile(path).metadata.row_group(1).column(0)  # rows 21-40
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data = bytearray(path.read_bytes())
    data[start:start + chunk.total_compressed_size] = b"\xab" * chunk.total_compressed_size
    path.write_bytes(bytes(data))
    result = invoke("ingest", path)
    assert result.exit_code == 0, result.output
    numbers = sorted(int(t.split()[3].rstrip(".")) for t in texts(project))
    assert numbers == list(range(20)) + list(range(40, 60))
    [(line, reason)] = rejects(project, path)
    assert line == 21 and reason.startswith("unreadable Parquet data (rows 21-40): ")
    assert "rejected 1: unreadable Parquet data" in result.output


def test_folder_reads_every_supported_file_and_lists_the_skipped_ones(project, tmp_path):
    folder = tmp_path / "corpus"
    (folder / "sub").mkdir(parents=True)
    (folder / "n1.txt").write_text(A, encoding="utf-8")
    write_jsonl(folder / "sub" / "b.jsonl", [{"text": B}])
    (folder / "c.csv").write_text(f"text\n{C}\n", encoding="utf-8")
    (folder / "sub" / "d.tsv").write_text(f"text\n{D}\n", encoding="utf-8")
    pq.write_table(pa.table({"text": ["Tomografia komputerowa jamy brzusznej: bez zmian."]}), folder / "e.parquet")
    (folder / "notes.docx").write_bytes(b"PK\x03\x04")
    (folder / "sub" / "README").write_text("nie tekst", encoding="utf-8")
    (folder / ".DS_Store").write_bytes(b"\x00\x01")
    result = invoke("ingest", folder)
    assert result.exit_code == 0, result.output
    assert texts(project) == {A, B, C, D, "Tomografia komputerowa jamy brzusznej: bez zmian."}
    sources = dict(query(project, "SELECT text, source FROM documents"))
    assert sources[A] == str(folder) and sources[B] == str(folder / "sub" / "b.jsonl")
    assert query(project, "SELECT doc_id FROM documents WHERE text = ?", [A]) == [("n1",)]
    assert "skipped 3 files:" in result.output
    assert f"{folder / 'notes.docx'}: unsupported file type '.docx'" in result.output
    assert f"{folder / 'sub' / 'README'}: unsupported file type '(no extension)'" in result.output
    assert f"{folder / '.DS_Store'}: hidden file" in result.output
    metrics = json.loads(query(project, "SELECT metrics FROM runs WHERE stage = 'ingest'")[0][0])
    assert metrics["files"] == 5 and metrics["files_skipped"] == 3


def test_empty_and_undecodable_txt_rejects_name_the_file(project, tmp_path):
    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    (folder / "ok.txt").write_text(A, encoding="utf-8")
    (folder / "sub" / "empty.txt").write_text("  \n", encoding="utf-8")
    (folder / "bad.txt").write_bytes("zła".encode("cp1250"))
    assert invoke("ingest", folder).exit_code == 0
    assert texts(project) == {A}
    assert rejects(project, folder / "sub" / "empty.txt") == [(None, "empty text")]
    assert rejects(project, folder / "bad.txt") == [(None, "invalid UTF-8 at byte 1")]


def test_folder_with_nothing_to_read_is_an_error(project, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.pdf").write_bytes(b"%PDF")
    before = snapshot(project)
    assert_refused(project, invoke("ingest", folder), f"{folder}: no .txt", "(skipped: a.pdf)")
    assert snapshot(project) == before


def test_folder_file_with_a_missing_column_refuses_the_whole_run(project, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text(A, encoding="utf-8")
    (folder / "b.csv").write_text(f"body\n{B}\n", encoding="utf-8")
    before = snapshot(project)
    assert_refused(project, invoke("ingest", folder), f"{folder / 'b.csv'}: no column 'text' (columns: body)")
    assert snapshot(project) == before


def test_empty_files_are_rejects_not_silence(project, tmp_path):
    empty_csv = tmp_path / "a.csv"
    empty_csv.write_text("", encoding="utf-8")
    header_only = tmp_path / "b.csv"
    header_only.write_text("text\n", encoding="utf-8")
    blank_jsonl = tmp_path / "c.jsonl"
    blank_jsonl.write_text("\n\n", encoding="utf-8")
    result = invoke("ingest", empty_csv, header_only, blank_jsonl)
    assert result.exit_code == 1 and "no row could be ingested" in result.output
    for path in (empty_csv, header_only, blank_jsonl):
        assert rejects(project, path) == [(None, "no rows in the file")]


# --- 6. byte-order marks and misnamed columns ------------------------------------------------


@pytest.mark.parametrize("name, content", [
    ("a.csv", f"id,text,label\nd1,{A},radiologia\nd2,\"{B}\",onkologia\n"),
    ("a.tsv", f"id\ttext\tlabel\nd1\t{A}\tradiologia\nd2\t{B}\tonkologia\n"),
    ("a.jsonl", json.dumps({"id": "d1", "text": A, "label": "radiologia"}, ensure_ascii=False) + "\n"
     + json.dumps({"id": "d2", "text": B, "label": "onkologia"}, ensure_ascii=False) + "\n"),
])
def test_utf8_byte_order_mark_is_dropped(project, tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbf" + content.encode("utf-8"))
    result = invoke("ingest", path, "--id-col", "id", "--label-col", "label")
    assert result.exit_code == 0, result.output
    assert sorted(query(project, "SELECT doc_id, text FROM documents")) == [("d1", A), ("d2", B)]
    assert dict(query(project, "SELECT doc_id, label FROM gold_imports")) == {"d1": 0, "d2": 1}
    assert rejects(project) == []


def test_byte_order_mark_of_a_txt_file_is_not_part_of_the_text(project, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_bytes(b"\xef\xbb\xbf" + A.encode("utf-8"))
    assert invoke("ingest", folder).exit_code == 0
    assert texts(project) == {A}


@pytest.mark.parametrize("option, value, column", [
    ("--text-col", "txt", "txt"),
    ("--id-col", "doc_id", "doc_id"),
    ("--label-col", "gold", "gold"),
])
@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet"])
def test_column_missing_from_the_header_is_an_error_naming_the_columns(project, tmp_path, option, value, column, fmt):
    path = tmp_path / f"corpus.{fmt}"
    if fmt == "parquet":
        pq.write_table(pa.table({"id": ["d1"], "text": [A], "label": ["radiologia"]}), path)
    else:
        sep = "," if fmt == "csv" else "\t"
        path.write_text(sep.join(["id", "text", "label"]) + "\n" + sep.join(["d1", A, "radiologia"]) + "\n",
                        encoding="utf-8")
    before = snapshot(project)
    result = invoke("ingest", path, option, value)
    assert_refused(project, result, f"corpus.{fmt}: no column {column!r} (columns: id, text, label)")
    assert snapshot(project) == before


def test_refused_ingest_in_a_fresh_folder_creates_no_warehouse(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ADMEDTAGGER_DB", raising=False)
    path = tmp_path / "corpus.csv"
    path.write_text(f"id,body\n1,{A}\n", encoding="utf-8")
    result = invoke("ingest", path)
    assert result.exit_code == 2 and "corpus.csv: no column 'text' (columns: id, body)" in result.output
    assert list(tmp_path.iterdir()) == [path]  # no warehouse file, no log: nothing changed


def test_column_named_twice_in_the_header_is_an_error(project, tmp_path):
    path = tmp_path / "corpus.csv"
    path.write_text(f"text,id,text\n{A},1,\n", encoding="utf-8")
    assert_refused(project, invoke("ingest", path), "corpus.csv: column 'text' appears 2 times in the header")


def test_column_named_in_another_case_is_suggested(project, tmp_path):
    path = tmp_path / "corpus.csv"
    path.write_text(f"ID,Text\n1,{A}\n", encoding="utf-8")
    assert_refused(project, invoke("ingest", path), "no column 'text' (columns: ID, Text); did you mean 'Text'?")


@pytest.mark.parametrize("option, value", [("--text-col", "txt"), ("--id-col", "doc"), ("--label-col", "gold")])
def test_jsonl_key_in_no_row_is_an_error_naming_the_keys(project, tmp_path, option, value):
    path = write_jsonl(tmp_path / "corpus.jsonl", [{"id": "d1", "text": A, "label": "radiologia"},
                                                   {"id": "d2", "text": B, "label": "other", "ward": "3"}])
    before = snapshot(project)
    result = invoke("ingest", path, option, value)
    assert_refused(project, result, f"corpus.jsonl: no key {value!r} in any of its 2 JSON objects "
                                    "(keys: id, text, label, ward)")
    assert snapshot(project) == before


def test_jsonl_key_missing_from_the_first_rows_only_is_checked_on_those(project, tmp_path, monkeypatch):
    monkeypatch.setattr(ingest_module, "JSONL_PROBE_ROWS", 2)
    late = write_jsonl(tmp_path / "late.jsonl", [{"body": A}, {"body": B}, {"text": C}])
    assert_refused(project, invoke("ingest", late), "late.jsonl: no key 'text' in its first 2 JSON objects (keys: body)")
    some = write_jsonl(tmp_path / "some.jsonl", [{"body": A}, {"text": B}, {"body": C}])
    assert invoke("ingest", some).exit_code == 0  # found in some rows: the others are per-row rejects
    assert texts(project) == {B}
    assert rejects(project, some) == [(1, "missing column 'text'"), (3, "missing column 'text'")]


def test_utf16_file_is_refused_with_the_reason(project, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(f"text\n{A}\n".encode("utf-16"))
    assert_refused(project, invoke("ingest", path), "excel.csv: the file is UTF-16 or UTF-32 encoded; save it as UTF-8")


def test_refusal_happens_before_the_library_writes_anything(con, tmp_path):
    good = write_jsonl(tmp_path / "good.jsonl", [{"txt": A}])
    bad = tmp_path / "bad.csv"
    bad.write_text(f"id,text\n1,{B}\n", encoding="utf-8")
    with pytest.raises(IngestError, match="bad.csv: no column 'txt'"):
        ingest_files(con, [good, bad], text_col="txt")
    assert con.execute("SELECT count(*) FROM documents").fetchall() == [(0,)]


# --- reject summaries read whole ---------------------------------------------------------------


def test_reject_summary_groups_by_code(project, tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"text": "caf\xe9"}\n{"text": "z\xff\xfe"}\n' + json.dumps({"text": A}).encode() + b"\n"
                     + b'{"text": "x\n' + json.dumps({"text": "y" * 200_000}).encode() + b"\n")
    result = invoke("ingest", path)
    assert result.exit_code == 0, result.output
    assert "  rejected 2: invalid UTF-8\n" in result.output  # two byte positions, one group
    assert "  rejected 1: malformed JSON\n" in result.output
    assert f"  rejected 1: {REJECT_PHRASES['too_long']}\n" in result.output
    assert query(project, "SELECT line, code FROM ingest_rejects ORDER BY line") == [
        (1, "invalid_utf8"), (2, "invalid_utf8"), (4, "malformed_json"), (5, "too_long")]
    run_id, metrics = query(project, "SELECT run_id, metrics FROM runs WHERE stage = 'ingest'")[0]
    assert json.loads(metrics)["reject_reasons"] == {"invalid_utf8": 2, "malformed_json": 1, "too_long": 1}
    assert query(project, "SELECT DISTINCT run_id FROM ingest_rejects") == [(run_id,)]
    assert rejects(project, path) == [
        (1, "invalid UTF-8 at byte 13"),
        (2, "invalid UTF-8 at byte 11"),
        (4, "malformed JSON: Invalid control character at"),
        (5, "text longer than 100000 characters (200000)"),
    ]
