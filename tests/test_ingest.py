"""Ingest of every format, idempotent re-ingest, duplicates and each kind of bad row."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from admedtagger.warehouse import IngestError, ingest_files, insert_gold
from admedtagger.warehouse.ingest import REJECT_PHRASES, text_hash

TEXTS = [
    "RTG klatki piersiowej w projekcji PA: bez zmian ogniskowych.",
    "Rozpoznanie: rak piersi lewej, pT2N0M0. Kwalifikacja do chemioterapii.",
    "EKG: rytm zatokowy miarowy 72/min. ECHO serca: EF 55%.",
]


def count(con, table: str) -> int:
    return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_jsonl_ids_labels_and_meta(con, tmp_path):
    rows = [{"id": f"d{i}", "text": t, "label": lab, "ward": "A"}
            for i, (t, lab) in enumerate(zip(TEXTS, ["radiologia", "Oncology", "other"]))]
    stats = ingest_files(con, [write_jsonl(tmp_path / "a.jsonl", rows)], id_col="id", label_col="label")
    assert (stats.inserted, stats.rejected, stats.gold_imported) == (3, 0, 3)
    assert con.execute("SELECT doc_id FROM documents ORDER BY doc_id").fetchall() == [("d0",), ("d1",), ("d2",)]
    assert json.loads(con.execute("SELECT meta FROM documents WHERE doc_id = 'd0'").fetchall()[0][0]) == {"ward": "A"}
    gold = dict(con.execute("SELECT doc_id, label FROM gold").fetchall())
    assert gold == {"d0": 0, "d1": 1, "d2": -1}  # Polish name, English name, "other" = no category
    assert con.execute("SELECT DISTINCT split FROM gold").fetchall()  # every gold row has a split


def test_csv_tsv_parquet_and_txt_folder(con, tmp_path):
    csv_path = tmp_path / "a.csv"
    csv_path.write_text('text,n\n"' + TEXTS[0] + '",1\n"multi\nline, quoted",2\n', encoding="utf-8")
    tsv_path = tmp_path / "b.tsv"
    tsv_path.write_text("body\n" + TEXTS[1] + "\n", encoding="utf-8")
    parquet_path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"text": [TEXTS[2]], "doc": ["p1"]}), parquet_path)
    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "n1.txt").write_text("Pacjent l. 54, skierowanie do poradni dermatologicznej.", encoding="utf-8")
    ingest_files(con, [csv_path], text_col="text")
    ingest_files(con, [tsv_path], text_col="body")
    ingest_files(con, [parquet_path], id_col="doc")
    ingest_files(con, [folder])
    texts = {r[0] for r in con.execute("SELECT text FROM documents").fetchall()}
    assert texts >= {TEXTS[0], "multi\nline, quoted", TEXTS[1], TEXTS[2]}
    assert con.execute("SELECT count(*) FROM documents WHERE doc_id = 'p1'").fetchall()[0][0] == 1
    assert con.execute("SELECT count(*) FROM documents WHERE doc_id = 'sub/n1'").fetchall()[0][0] == 1
    hashed = con.execute("SELECT doc_id FROM documents WHERE text = ?", [TEXTS[0]]).fetchall()[0][0]
    assert hashed == "h" + text_hash(TEXTS[0])[:16]


def test_reingest_adds_nothing_and_duplicates_are_detected(con, tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [{"text": t} for t in TEXTS] + [{"text": "  " + TEXTS[0] + "\n"}])
    first = ingest_files(con, [path])
    assert (first.inserted, first.duplicates) == (3, 1)  # whitespace-only difference = same text
    second = ingest_files(con, [path])
    assert (second.inserted, second.already_present) == (0, 3)
    assert count(con, "documents") == 3
    other = write_jsonl(tmp_path / "b.jsonl", [{"id": "x1", "text": TEXTS[1]}])
    third = ingest_files(con, [other], id_col="id")
    assert (third.inserted, third.duplicates) == (0, 1)
    [(code, reason)] = con.execute("SELECT code, reason FROM ingest_rejects").fetchall()
    assert code == "duplicate" and "duplicate text of document" in reason
    assert third.reject_reasons == {}  # a duplicate is counted as one, not as rejected
    rejects_before = count(con, "ingest_rejects")
    ingest_files(con, [other], id_col="id")
    assert count(con, "ingest_rejects") == rejects_before  # the same bad row is recorded once


def test_each_kind_of_bad_row_is_rejected_with_file_and_line(con, tmp_path):
    path = tmp_path / "bad.jsonl"
    lines = [
        json.dumps({"text": TEXTS[0]}).encode(),
        json.dumps({"text": "   "}).encode(),                      # 2 empty
        b'{"text": "caf\xe9 bez UTF-8"}',                           # 3 invalid UTF-8
        json.dumps({"body": "no text column"}).encode(),            # 4 missing column
        b'{"text": "unterminated',                                  # 5 malformed
        json.dumps({"text": "x" * 500}).encode(),                   # 6 too long
        json.dumps(["not", "an", "object"]).encode(),               # 7 not an object
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    stats = ingest_files(con, [path], max_text_chars=400)
    assert (stats.inserted, stats.rejected) == (1, 6)
    rejects = dict(con.execute("SELECT line, reason FROM ingest_rejects WHERE source = ?", [str(path)]).fetchall())
    assert rejects[2] == "empty text"
    assert rejects[3].startswith("invalid UTF-8")
    assert rejects[4] == "missing column 'text'"
    assert rejects[5].startswith("malformed JSON")
    assert rejects[6].startswith("text longer than 400")
    assert rejects[7] == "line is not a JSON object"
    codes = dict(con.execute("SELECT line, code FROM ingest_rejects WHERE source = ?", [str(path)]).fetchall())
    assert codes == {2: "empty_text", 3: "invalid_utf8", 4: "missing_column", 5: "malformed_json", 6: "too_long",
                     7: "not_an_object"}
    assert stats.reject_reasons == {code: 1 for code in codes.values()}
    assert set(codes.values()) <= set(REJECT_PHRASES)


def test_csv_bad_rows(con, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"id,text\n1,ok tekst\n2,za,duzo\n3,z\xff\xfe bajty\n4,\n")
    stats = ingest_files(con, [path], id_col="id")
    assert (stats.inserted, stats.rejected) == (1, 3)
    reasons = dict(con.execute("SELECT line, reason FROM ingest_rejects").fetchall())
    assert reasons[3].startswith("malformed row: 3 fields")
    assert reasons[4] == "invalid UTF-8 in the text"
    assert reasons[5] == "empty text"
    assert stats.reject_reasons == {"malformed_row": 1, "invalid_utf8": 1, "empty_text": 1}


def test_insert_gold_skips_rows_already_stored_and_wants_one_label_per_document(con):
    rows = pa.table({"doc_id": ["a", "b"], "label": pa.array([0, -1], pa.int32())})
    assert insert_gold(con, rows, "f.csv#label") == 2
    assert insert_gold(con, rows, "f.csv#label") == 0  # the same rows again: nothing added
    assert insert_gold(con, rows, "g.csv#label") == 2  # another source is another import
    assert insert_gold(con, pa.table({"doc_id": ["a"], "label": [1]}), "f.csv#label") == 1  # a changed label
    with pytest.raises(ValueError, match="more than once"):
        insert_gold(con, pa.table({"doc_id": ["c", "c"], "label": [0, 1]}), "f.csv#label")
    with pytest.raises(ValueError, match="label"):
        insert_gold(con, pa.table({"doc_id": ["c"]}), "f.csv#label")


def test_missing_column_in_header_is_an_error_and_writes_nothing(con, tmp_path):
    good = write_jsonl(tmp_path / "good.jsonl", [{"text": TEXTS[0]}])
    path = tmp_path / "a.csv"
    path.write_text("body\nsome text\n", encoding="utf-8")
    with pytest.raises(IngestError, match=r"a\.csv: no column 'text' \(columns: body\)"):
        ingest_files(con, [good, path])  # checked before the first file is read
    assert count(con, "documents") == 0 and count(con, "ingest_rejects") == 0


@pytest.mark.parametrize("name", ["missing.jsonl", "data.xlsx"])
def test_missing_file_or_unknown_format_is_an_error_and_writes_nothing(con, tmp_path, name):
    if name.endswith("xlsx"):
        (tmp_path / name).write_bytes(b"PK")
    with pytest.raises(IngestError, match=name):
        ingest_files(con, [tmp_path / name])
    assert count(con, "documents") == 0 and count(con, "ingest_rejects") == 0


def test_killed_mid_file_keeps_committed_batches(con, tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [{"text": f"tekst numer {i}"} for i in range(50)])
    calls = []

    def interrupt(done):
        calls.append(done)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest_files(con, [path], batch_size=10, on_progress=interrupt)
    assert count(con, "documents") == 20  # two whole batches committed, nothing half-written
    resumed = ingest_files(con, [path], batch_size=10)
    assert (resumed.inserted, resumed.already_present) == (30, 20)
