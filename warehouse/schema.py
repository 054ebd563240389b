"""The warehouse schema: numbered migrations and the views of the public SQL contract.

A warehouse file records its schema version in ``schema_version``. Opening a file for
writing applies every migration above that version in one transaction each, so an older
file is upgraded in place and a failed upgrade leaves it as it was. Views hold no data
and are recreated on every writable open, so changing a view needs no migration.

Table and view names are part of the user-facing SQL interface (see ARCHITECTURE.md):
columns may be added, names never change.
"""

from __future__ import annotations

import duckdb

from .errors import UserError

# Version 1: the corpus and the bookkeeping every stage shares.
_V1 = """
CREATE TABLE documents (
    doc_id      VARCHAR NOT NULL,      -- the user's id, else 'h' + hash of the normalised text
    text        VARCHAR NOT NULL,
    text_hash   VARCHAR NOT NULL,      -- hash of the normalised text: finds duplicates
    source      VARCHAR,               -- file the document came from
    meta        JSON,                  -- every other column of the input row
    ingested_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE ingest_rejects (
    source      VARCHAR NOT NULL,      -- file
    line        BIGINT,                -- 1-based line (row number for Parquet)
    reason      VARCHAR NOT NULL,
    raw         VARCHAR,               -- the start of the offending row, when readable
    run_id      VARCHAR,
    rejected_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE categories (
    label          INTEGER NOT NULL,   -- the id used in votes, weak labels, gold
    name           VARCHAR NOT NULL,   -- canonical name (English)
    description    VARCHAR,            -- in the project's language
    name_pl        VARCHAR,
    name_en        VARCHAR,
    description_pl VARCHAR,
    description_en VARCHAR
);
CREATE TABLE runs (
    run_id     VARCHAR NOT NULL,
    stage      VARCHAR NOT NULL,
    started_at TIMESTAMP NOT NULL,
    ended_at   TIMESTAMP,
    status     VARCHAR NOT NULL,       -- running, ok, failed, interrupted
    params     JSON,
    metrics    JSON,
    versions   JSON                    -- package versions the run used
);
CREATE TABLE settings (
    key   VARCHAR NOT NULL,
    value VARCHAR NOT NULL
);
CREATE TABLE gold_imports (
    doc_id      VARCHAR NOT NULL,
    label       INTEGER NOT NULL,      -- -1 = fits no category
    source      VARCHAR NOT NULL,      -- where the label came from (file and column)
    imported_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
"""

# Version 2: the tables of the labelling, cleaning and student stages.
_V2 = """
CREATE TABLE lfs (
    lf         VARCHAR NOT NULL,       -- unique name
    kind       VARCHAR NOT NULL,       -- keyword, llm, embedding, python
    version    VARCHAR NOT NULL,       -- hash of the spec: a changed LF gets new votes
    spec       JSON,
    updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE votes (
    doc_id     VARCHAR NOT NULL,
    lf         VARCHAR NOT NULL,
    lf_version VARCHAR NOT NULL,
    label      INTEGER NOT NULL,       -- -1 = abstain
    confidence DOUBLE,
    run_id     VARCHAR NOT NULL
);
CREATE TABLE llm_cache (
    key               VARCHAR NOT NULL,  -- hash(model, rendered prompt, decoding params)
    model             VARCHAR NOT NULL,
    params            JSON,
    prompt            VARCHAR,
    response          VARCHAR,
    label             INTEGER,           -- parsed label, -1 = answer outside the label set
    confidence        DOUBLE,
    scores            DOUBLE[],          -- per-label probabilities when the backend gives them
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    latency_ms        DOUBLE,
    created_at        TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE weak_labels (
    run_id     VARCHAR NOT NULL,
    doc_id     VARCHAR NOT NULL,
    label      INTEGER NOT NULL,
    probs      DOUBLE[],
    confidence DOUBLE,
    model      VARCHAR NOT NULL
);
CREATE TABLE lf_analysis (
    run_id    VARCHAR NOT NULL,
    lf        VARCHAR NOT NULL,
    category  VARCHAR,                 -- NULL = the LF as a whole
    metric    VARCHAR NOT NULL,        -- coverage, overlaps, conflicts, accuracy, precision, recall, weight, ...
    value     DOUBLE
);
CREATE TABLE label_issues (
    run_id          VARCHAR NOT NULL,
    doc_id          VARCHAR NOT NULL,
    given_label     INTEGER,
    suggested_label INTEGER,
    quality         DOUBLE,
    rank            INTEGER,
    reason          VARCHAR
);
CREATE TABLE reviews (
    review_id  VARCHAR NOT NULL,
    doc_id     VARCHAR NOT NULL,
    decision   VARCHAR NOT NULL,       -- accept, relabel, reject (fits no category), skip, undo
    label      INTEGER,                -- the effective label for accept/relabel, -1 for reject
    reviewer   VARCHAR,
    note       VARCHAR,
    source     VARCHAR,                -- terminal, cli, label-studio, simulated, ...
    undoes     VARCHAR,                -- for decision 'undo': the review_id it cancels
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE evaluations (
    run_id    VARCHAR NOT NULL,
    split     VARCHAR NOT NULL,        -- dev or test
    subject   VARCHAR NOT NULL,        -- lf, label_model, student, teacher
    name      VARCHAR NOT NULL,        -- which LF / model
    category  VARCHAR NOT NULL,        -- a category name, or 'macro' / 'accuracy'
    precision DOUBLE,
    recall    DOUBLE,
    f1        DOUBLE,
    support   BIGINT,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE students (
    model_id   VARCHAR NOT NULL,
    kind       VARCHAR NOT NULL,       -- tfidf, transformer
    base_model VARCHAR,
    path       VARCHAR NOT NULL,
    size_bytes BIGINT,
    n_params   BIGINT,
    params     JSON,
    metrics    JSON,
    run_id     VARCHAR,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE predictions (
    model_id   VARCHAR NOT NULL,
    doc_id     VARCHAR NOT NULL,
    label      INTEGER NOT NULL,
    probs      DOUBLE[],
    run_id     VARCHAR,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
"""

MIGRATIONS: list[tuple[int, str]] = [(1, _V1), (2, _V2)]
SCHEMA_VERSION = MIGRATIONS[-1][0]

# The dev/test split hashes the doc id (md5 is stable across DuckDB versions, unlike
# hash()), so a document keeps its split however the gold set grows.
VIEWS = """
CREATE OR REPLACE VIEW gold AS
WITH decisions AS (
    SELECT doc_id, label, 'review:' || coalesce(reviewer, '?') AS source, created_at, 1 AS priority
    FROM reviews
    WHERE decision IN ('accept', 'relabel', 'reject')
      AND review_id NOT IN (SELECT undoes FROM reviews WHERE decision = 'undo' AND undoes IS NOT NULL)
    UNION ALL
    SELECT doc_id, label, source, imported_at, 0 FROM gold_imports
),
latest AS (
    SELECT * FROM decisions
    QUALIFY row_number() OVER (PARTITION BY doc_id ORDER BY priority DESC, created_at DESC) = 1
)
SELECT l.doc_id, l.label, c.name AS label_name, l.source, l.created_at AS decided_at,
       CASE WHEN (('0x' || substr(md5(l.doc_id), 1, 8))::UBIGINT % 10000)
                 < 10000 * coalesce((SELECT value::DOUBLE FROM settings WHERE key = 'dev_ratio'), 0.5)
            THEN 'dev' ELSE 'test' END AS split
FROM latest l LEFT JOIN categories c ON c.label = l.label;

CREATE OR REPLACE VIEW labelled_corpus AS
WITH last_label_model AS (
    SELECT run_id FROM runs WHERE stage = 'label-model' AND status = 'ok'
    ORDER BY started_at DESC LIMIT 1
),
last_flag AS (
    SELECT run_id FROM runs WHERE stage = 'flag' AND status = 'ok'
    ORDER BY started_at DESC LIMIT 1
),
last_student AS (
    SELECT model_id FROM students ORDER BY created_at DESC LIMIT 1
)
SELECT d.doc_id, d.text, d.source,
       w.label AS weak_label, wc.name AS weak_label_name, w.confidence AS weak_confidence,
       (f.doc_id IS NOT NULL) AS flagged, f.reason AS flag_reason,
       g.label AS gold_label, g.label_name AS gold_label_name, g.split AS gold_split,
       p.label AS student_label, pc.name AS student_label_name
FROM documents d
LEFT JOIN weak_labels w ON w.doc_id = d.doc_id AND w.run_id = (SELECT run_id FROM last_label_model)
LEFT JOIN categories wc ON wc.label = w.label
LEFT JOIN label_issues f ON f.doc_id = d.doc_id AND f.run_id = (SELECT run_id FROM last_flag)
LEFT JOIN gold g ON g.doc_id = d.doc_id
LEFT JOIN predictions p ON p.doc_id = d.doc_id AND p.model_id = (SELECT model_id FROM last_student)
LEFT JOIN categories pc ON pc.label = p.label;
"""


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """Schema version of an open warehouse; 0 for an empty file."""
    has_table = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_name = 'schema_version' AND table_schema = 'main'"
    ).fetchall()[0][0]
    if not has_table:
        return 0
    row = con.execute("SELECT max(version) FROM schema_version").fetchall()[0]
    return row[0] or 0


def migrate(con: duckdb.DuckDBPyConnection, target: int = SCHEMA_VERSION) -> list[int]:
    """Apply the migrations above the file's version up to ``target``; return those applied.

    Each migration runs in its own transaction together with its version row, so a crash
    mid-way leaves the file at the last complete version.
    """
    version = current_version(con)
    if version > SCHEMA_VERSION:
        raise UserError(
            f"warehouse schema version {version} is newer than this admedtagger "
            f"(knows up to {SCHEMA_VERSION}): upgrade admedtagger"
        )
    applied = []
    for number, ddl in MIGRATIONS:
        if version < number <= target:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version "
                    "(version INTEGER NOT NULL, applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
                )
                con.execute(ddl)
                con.execute("INSERT INTO schema_version (version) VALUES (?)", [number])
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
            applied.append(number)
    if target == SCHEMA_VERSION:
        con.execute(VIEWS)
    return applied
