"""`admedtagger predict` inputs and outputs through the real CLI, with a real TF-IDF student.

The student is trained once per module on the demo warehouse, weak labels = the demo's gold
labels; every test then runs `predict` (read-only on the warehouse) from that project folder.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from admedtagger.cli import app
from admedtagger.students.train import train_student
from admedtagger.warehouse import connect, ingest_files, load_config, record_run, render_config, sync_categories
from admedtagger.warehouse.ingest import text_hash

runner = CliRunner()
DEMO_CORPUS = Path(__file__).resolve().parents[1] / "demo" / "data" / "demo_pl.jsonl"
NAMES = ["Radiology", "Oncology", "Cardiology", "Hypertension", "Pathology"]
TEXTS = [
    "Tomografia komputerowa klatki piersiowej z kontrastem: bez zmian ogniskowych.",
    "Nadciśnienie tętnicze, RR 170/100 mmHg, zwiększono dawkę amlodypiny.",
    "Badanie histopatologiczne wycinka: rak płaskonabłonkowy G2, margines wolny.",
]


@pytest.fixture(scope="module")
def trained_root(tmp_path_factory):
    """A project folder whose warehouse holds the demo corpus and one trained TF-IDF student."""
    root = tmp_path_factory.mktemp("predict-project")
    (root / "admedtagger.toml").write_text(render_config("pl"), encoding="utf-8")
    config = load_config(root / "admedtagger.toml")
    con = connect(config.db_path())
    sync_categories(con, config)
    ingest_files(con, [DEMO_CORPUS], id_col="id", label_col="label")
    gold = con.execute("SELECT doc_id, label FROM gold WHERE label >= 0 ORDER BY doc_id").fetchall()
    with record_run(con, "label-model", {"test": "gold as weak labels"}) as run:
        con.executemany(
            "INSERT INTO weak_labels (run_id, doc_id, label, probs, confidence, model) VALUES (?, ?, ?, ?, 0.9, 'gold')",
            [(run.run_id, d, label, [0.9 if k == label else 0.025 for k in range(5)]) for d, label in gold],
        )
    train_student(con, kind="tfidf", models_dir=root / "models", root=root)
    con.close()
    return root


@pytest.fixture
def here(trained_root, tmp_path, monkeypatch):
    """Run from the trained project; return a fresh folder for this test's files."""
    monkeypatch.chdir(trained_root)
    monkeypatch.delenv("ADMEDTAGGER_DB", raising=False)
    return tmp_path


def invoke(*args, input=None):
    return runner.invoke(app, ["predict", *map(str, args)], input=input, catch_exceptions=False)


def jsonl_rows(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def hash_id(text: str) -> str:
    return "h" + text_hash(text)[:16]


def reference(here) -> dict[str, str]:
    """text -> label, from a plain .jsonl file (the input form that always worked)."""
    source = here / "reference.jsonl"
    source.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in TEXTS), encoding="utf-8")
    result = invoke(source)
    assert result.exit_code == 0, result.output
    return {t: row["label"] for t, row in zip(TEXTS, jsonl_rows(result.stdout))}


# --- a) empty input: the output file exists, and the message says what was written ----------


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_empty_input_writes_an_empty_output_file(here, suffix):
    empty = here / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    out = here / f"labels{suffix}"
    out.write_text("stale rows of an earlier run\n", encoding="utf-8")
    result = invoke(empty, "--out", out)
    assert result.exit_code == 0, result.output
    assert "labelled 0 texts" in result.stderr and f"wrote 0 rows to {out}" in result.stderr
    if suffix == ".jsonl":
        assert out.read_bytes() == b""
    elif suffix == ".csv":
        header = out.read_text(encoding="utf-8").splitlines()
        assert len(header) == 1 and next(csv.reader(header)) == [
            "id", "label", "label_id", "confidence", *[f"p_{n}" for n in NAMES], "p_none"]
    else:
        table = pq.read_table(out)
        assert table.num_rows == 0 and table.column_names[:4] == ["id", "label", "label_id", "confidence"]


def test_empty_input_to_stdout_prints_nothing(here):
    empty = here / "empty.csv"
    empty.write_text("text\n", encoding="utf-8")
    result = invoke(empty)
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and "labelled 0 texts" in result.stderr and "wrote" not in result.stderr


def test_written_row_count_matches_the_file(here):
    source = here / "two.csv"
    source.write_text("text\n" + "\n".join(f'"{t}"' for t in TEXTS[:2]) + "\n", encoding="utf-8")
    out = here / "labels.jsonl"
    result = invoke(source, "--out", out)
    assert result.exit_code == 0, result.output
    assert len(jsonl_rows(out.read_text(encoding="utf-8"))) == 2 and f"wrote 2 rows to {out}" in result.stderr


# --- b) rows read, none labelled: exit 1 as ingest does -------------------------------------


def test_all_bad_rows_exit_1_with_an_error_line(here):
    bad = here / "bad.jsonl"
    bad.write_text('{broken\n{"note": "no text here"}\n{"text": "   "}\n', encoding="utf-8")
    out = here / "labels.jsonl"
    result = invoke(bad, "--out", out)
    assert result.exit_code == 1, result.output
    assert "skipped 3 rows (first: " in result.stderr and "bad.jsonl:1: malformed JSON" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "error: no row could be labelled"
    assert out.read_bytes() == b""  # still an (empty) file, as the message says

    mixed = here / "mixed.jsonl"
    mixed.write_text('{broken\n' + json.dumps({"text": TEXTS[0]}, ensure_ascii=False) + "\n", encoding="utf-8")
    result = invoke(mixed)
    assert result.exit_code == 0 and "skipped 1 rows" in result.stderr and len(jsonl_rows(result.stdout)) == 1


def test_missing_text_column_is_a_one_line_error(here):
    source = here / "wrong.csv"
    source.write_text("body\nsome text\n", encoding="utf-8")
    out = here / "labels.jsonl"
    result = invoke(source, "--out", out)
    assert result.exit_code == 2 and not out.exists()
    assert result.output.strip() == f"error: {source}: no column 'text' (columns: body)"


# --- c) a column named `id` is the id by default -------------------------------------------


def test_id_column_is_used_by_default_and_id_col_names_another(here):
    source = here / "new.jsonl"
    rows = [{"id": "note-1", "nr": 10, "text": TEXTS[0]}, {"id": 2, "nr": 20, "text": TEXTS[1]},
            {"nr": 30, "text": TEXTS[2]}]
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = here / "labels.jsonl"
    result = invoke(source, "--out", out)
    assert result.exit_code == 0, result.output
    labelled = jsonl_rows(out.read_text(encoding="utf-8"))
    assert [r["id"] for r in labelled] == ["note-1", "2", hash_id(TEXTS[2])]  # no id: the warehouse's hash id

    result = invoke(source, "--id-col", "nr")
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in jsonl_rows(result.stdout)] == ["10", "20", "30"]

    result = invoke(source, "--id-col", "id")  # named explicitly: a row without one is skipped
    assert result.exit_code == 0 and [r["id"] for r in jsonl_rows(result.stdout)] == ["note-1", "2"]
    assert "skipped 1 rows" in result.stderr and "new.jsonl:3: no id in column 'id'" in result.stderr


def test_id_column_of_a_csv_reaches_csv_output(here):
    source = here / "new.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["id", "text"], *[[f"k{i}", t] for i, t in enumerate(TEXTS)]])
    out = here / "labels.csv"
    result = invoke(source, "--out", out)
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8", newline="") as handle:
        assert [r["id"] for r in csv.DictReader(handle)] == ["k0", "k1", "k2"]
    result = invoke(source, "--id-col", "nr")
    assert result.exit_code == 2 and "no column 'nr' (columns: id, text)" in result.output


# --- d) standard input and a plain .txt file ------------------------------------------------


def test_stdin_plain_lines(here):
    expected = reference(here)
    result = invoke("-", input="\n".join(TEXTS[:2]) + "\n\n  \n" + TEXTS[2] + "\r\n")
    assert result.exit_code == 0, result.output
    rows = jsonl_rows(result.stdout)
    assert [r["id"] for r in rows] == [hash_id(t) for t in TEXTS]  # blank lines are no texts; CRLF is stripped
    assert [r["label"] for r in rows] == [expected[t] for t in TEXTS]
    assert "labelled 3 texts" in result.stderr and "skipped" not in result.stderr


def test_stdin_plain_line_that_looks_like_json_stays_a_text(here):
    line = '{"not": "the text column"} Tomografia komputerowa głowy bez kontrastu.'
    result = invoke("-", input=line + "\n" + TEXTS[0] + "\n")
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in jsonl_rows(result.stdout)] == [hash_id(line), hash_id(TEXTS[0])]


def test_stdin_json_lines(here):
    expected = reference(here)
    lines = [json.dumps({"id": "a", "text": TEXTS[0]}, ensure_ascii=False), "",
             json.dumps({"text": TEXTS[1], "nr": 7}, ensure_ascii=False), "{broken",
             json.dumps({"id": 3, "text": TEXTS[2]}, ensure_ascii=False)]
    result = invoke("-", input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    rows = jsonl_rows(result.stdout)
    assert [r["id"] for r in rows] == ["a", hash_id(TEXTS[1]), "3"]
    assert [r["label"] for r in rows] == [expected[t] for t in TEXTS]
    assert "skipped 1 rows (first: -:4: malformed JSON" in result.stderr

    result = invoke("-", "--id-col", "nr", "--text-col", "text", input="\n".join(lines[2:3]) + "\n")
    assert result.exit_code == 0 and [r["id"] for r in jsonl_rows(result.stdout)] == ["7"]
    result = invoke("-", "--text-col", "body", input=json.dumps({"body": TEXTS[0]}, ensure_ascii=False) + "\n")
    assert result.exit_code == 0 and [r["id"] for r in jsonl_rows(result.stdout)] == [hash_id(TEXTS[0])]


def test_stdin_errors(here):
    result = invoke("-", "--id-col", "id", input=TEXTS[0] + "\n")
    assert result.exit_code == 2 and "--id-col id: standard input holds plain text lines" in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = invoke("-", input='{"text": 5}\n{"text": ""}\n')
    assert result.exit_code == 1 and "error: no row could be labelled" in result.stderr
    result = invoke("-", input="")
    assert result.exit_code == 0 and result.stdout == "" and "labelled 0 texts" in result.stderr


def test_txt_file_is_one_text_per_line(here):
    expected = reference(here)
    source = here / "notes.txt"
    source.write_bytes(("\ufeff" + TEXTS[0] + "\r\n\r\n" + TEXTS[1] + "\n   \n").encode("utf-8")
                       + b"bad \xff byte\n" + TEXTS[2].encode("utf-8"))  # no final newline
    out = here / "labels.jsonl"
    result = invoke(source, "--out", out)
    assert result.exit_code == 0, result.output
    rows = jsonl_rows(out.read_text(encoding="utf-8"))
    assert [r["id"] for r in rows] == [hash_id(t) for t in TEXTS]  # the BOM is not part of the first text
    assert [r["label"] for r in rows] == [expected[t] for t in TEXTS]
    assert "skipped 1 rows (first: " in result.stderr and "notes.txt:5: invalid UTF-8 at byte 4" in result.stderr

    assert invoke(source, "--id-col", "nr").exit_code == 2


def test_txt_folder_still_one_document_per_file(here):
    expected = reference(here)
    folder = here / "letters"
    (folder / "2024").mkdir(parents=True)
    (folder / "a.txt").write_text(TEXTS[0] + "\n" + "Druga linia tego samego listu.", encoding="utf-8")
    (folder / "2024" / "b.txt").write_text(TEXTS[1], encoding="utf-8")
    result = invoke(folder)
    assert result.exit_code == 0, result.output
    rows = jsonl_rows(result.stdout)
    assert [r["id"] for r in rows] == ["2024/b", "a"]
    assert rows[0]["label"] == expected[TEXTS[1]]
