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
from .transactions import transaction

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

# Version 3: a reject's reason code beside its message, so statistics never parse text.
_V3 = """
-- code: why the row was rejected, one of (ingest.py REJECT_PHRASES): invalid_utf8, malformed_json,
-- not_an_object, malformed_row, unterminated_quote, unreadable_parquet, no_rows, missing_column,
-- text_not_a_string, empty_text, too_long, missing_id, id_wrong_type, label_wrong_type,
-- unknown_label, id_conflict, duplicate; NULL for rows rejected before version 3
ALTER TABLE ingest_rejects ADD COLUMN code VARCHAR;
"""

# Version 4: text embeddings, computed once per text and encoder (warehouse/embeddings.py).
_V4 = """
CREATE TABLE embeddings (
    text_hash  VARCHAR NOT NULL,       -- ingest.text_hash of the embedded text (documents.text_hash)
    encoder    VARCHAR NOT NULL,       -- Encoder.identity: model, version, cut, prefix
    vector     FLOAT[] NOT NULL,       -- L2-normalised, so a dot product is the cosine similarity
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (text_hash, encoder)
);
"""

# Version 5: several reviewers. A decision made on a document whose reviewers disagree
# settles the dispute (cleaning/review.py record); rows before version 5 read as false.
_V5 = """
ALTER TABLE reviews ADD COLUMN adjudication BOOLEAN NOT NULL DEFAULT false;
"""

MIGRATIONS: list[tuple[int, str]] = [(1, _V1), (2, _V2), (3, _V3), (4, _V4), (5, _V5)]
SCHEMA_VERSION = MIGRATIONS[-1][0]

# The rules over the tables that every stage shares, each written once, here, as a view.
# Python code reads them through these views (or the small functions of rules.py that
# wrap them); nothing else restates them.
#
# - last_ok_runs: the latest successful run of each stage (ties: the larger run_id).
# - current_lfs: each LF's current version, the version of its newest row in lfs.
# - current_votes: the current vote of each LF on each document: cast by the LF's current
#   version; where several runs voted, the run that started last (then the larger run_id).
# - md5_bucket(key): a stable bucket 0..9999 of a string (md5, stable across DuckDB
#   versions, unlike hash()): the gold split and the review overlap sample.
# - in_review_overlap(doc_id, share): whether a document is in the share of documents that
#   two reviewers review independently ([review] overlap, passed by the caller; salted, so
#   the sample does not follow the gold split).
# - live_reviews: the review rows that stand: every decision (accept, relabel, reject,
#   skip) that no undo row cancelled.
# - reviewer_decisions: each reviewer's current independent decision per document: their
#   latest live accept, relabel or reject that is not an adjudication (ties: the larger
#   review_id). A reviewer who decides again corrects their own decision.
# - review_disputes: the documents whose reviewers' current decisions disagree (different
#   labels) and that no live adjudication settles, one row per (document, reviewer).
# - review_decisions: the effective review decision per document: the latest live
#   adjudication if there is one; else none while the document is disputed; else its latest
#   live accept, relabel or reject (ties: the larger review_id).
# - gold: the effective human label per document: the review decision where there is one,
#   else the latest imported label; a disputed document has none until it is adjudicated.
#   An imported document is split into dev/test by md5_bucket of the doc id, so it keeps its split however
#   the gold set grows; a document known only from reviews is dev: reviews are chosen by
#   the queue, not at random, so they cannot stand for the corpus in a test, and as dev gold
#   they teach the label-model choice and the example LFs.
# - labelled_corpus: one row per document with everything known about it, and its final
#   label: the human one (review, else imported), else the weak label ("none" included),
#   else the latest student's prediction, with final_source saying which; disputed says
#   whether reviewers disagree on it (its human label waits for an adjudication).
VIEWS = """
CREATE OR REPLACE MACRO md5_bucket(key) AS ('0x' || substr(md5(key), 1, 8))::UBIGINT % 10000;

CREATE OR REPLACE MACRO in_review_overlap(doc_id, share) AS md5_bucket('review-overlap:' || doc_id) < 10000 * share;

CREATE OR REPLACE VIEW last_ok_runs AS
SELECT * FROM runs WHERE status = 'ok'
QUALIFY row_number() OVER (PARTITION BY stage ORDER BY started_at DESC, run_id DESC) = 1;

CREATE OR REPLACE VIEW current_lfs AS
SELECT lf, kind, version, spec, updated_at FROM lfs
QUALIFY row_number() OVER (PARTITION BY lf ORDER BY updated_at DESC, version DESC) = 1;

CREATE OR REPLACE VIEW current_votes AS
SELECT v.doc_id, v.lf, v.label, v.confidence, v.run_id
FROM votes v
JOIN current_lfs l ON l.lf = v.lf AND l.version = v.lf_version
LEFT JOIN runs r ON r.run_id = v.run_id
QUALIFY row_number() OVER (
    PARTITION BY v.doc_id, v.lf ORDER BY r.started_at DESC NULLS LAST, v.run_id DESC
) = 1;

CREATE OR REPLACE VIEW live_reviews AS
SELECT * FROM reviews
WHERE decision <> 'undo'
  AND review_id NOT IN (SELECT undoes FROM reviews WHERE decision = 'undo' AND undoes IS NOT NULL);

CREATE OR REPLACE VIEW reviewer_decisions AS
SELECT doc_id, reviewer, label, decision, review_id, note, source, created_at
FROM live_reviews
WHERE decision IN ('accept', 'relabel', 'reject') AND NOT adjudication
QUALIFY row_number() OVER (PARTITION BY doc_id, reviewer ORDER BY created_at DESC, review_id DESC) = 1;

CREATE OR REPLACE VIEW review_disputes AS
SELECT doc_id, reviewer, label, decision, review_id, created_at
FROM reviewer_decisions
WHERE doc_id IN (SELECT doc_id FROM reviewer_decisions GROUP BY doc_id HAVING count(DISTINCT label) > 1)
  AND doc_id NOT IN (SELECT doc_id FROM live_reviews
                     WHERE adjudication AND decision IN ('accept', 'relabel', 'reject'));

CREATE OR REPLACE VIEW review_decisions AS
SELECT doc_id, label, decision, review_id, reviewer, note, source, created_at, adjudication
FROM live_reviews
WHERE decision IN ('accept', 'relabel', 'reject')
  AND doc_id NOT IN (SELECT doc_id FROM review_disputes)
QUALIFY row_number() OVER (PARTITION BY doc_id ORDER BY adjudication DESC, created_at DESC, review_id DESC) = 1;

CREATE OR REPLACE VIEW gold AS
WITH latest_import AS (
    SELECT doc_id, label, source, imported_at FROM gold_imports
    QUALIFY row_number() OVER (PARTITION BY doc_id ORDER BY imported_at DESC, source DESC) = 1
),
effective AS (
    SELECT doc_id, label, 'review:' || coalesce(reviewer, '?') AS source, created_at FROM review_decisions
    UNION ALL
    SELECT i.doc_id, i.label, i.source, i.imported_at FROM latest_import i
    WHERE i.doc_id NOT IN (SELECT doc_id FROM review_decisions)
      AND i.doc_id NOT IN (SELECT doc_id FROM review_disputes)
)
SELECT e.doc_id, e.label, c.name AS label_name, e.source, e.created_at AS decided_at,
       CASE WHEN e.doc_id NOT IN (SELECT doc_id FROM latest_import) THEN 'dev'
            WHEN md5_bucket(e.doc_id)
                 < 10000 * coalesce((SELECT value::DOUBLE FROM settings WHERE key = 'dev_ratio'), 0.5)
            THEN 'dev' ELSE 'test' END AS split
FROM effective e LEFT JOIN categories c ON c.label = e.label;

CREATE OR REPLACE VIEW labelled_corpus AS
WITH last_student AS (
    SELECT model_id FROM students ORDER BY created_at DESC LIMIT 1
)
SELECT d.doc_id, d.text, d.source,
       w.label AS weak_label, wc.name AS weak_label_name, w.confidence AS weak_confidence,
       (f.doc_id IS NOT NULL) AS flagged, f.reason AS flag_reason,
       g.label AS gold_label, g.label_name AS gold_label_name, g.split AS gold_split,
       p.label AS student_label, pc.name AS student_label_name,
       coalesce(g.label, w.label, p.label) AS final_label,
       CASE WHEN coalesce(g.label, w.label, p.label) = -1 THEN 'none'
            ELSE coalesce(g.label_name, wc.name, pc.name) END AS final_label_name,  -- -1, 'none': rules.NONE_LABEL, NONE_NAME
       CASE WHEN g.doc_id IS NOT NULL THEN (CASE WHEN g.source LIKE 'review:%' THEN 'review' ELSE 'imported' END)
            WHEN w.doc_id IS NOT NULL THEN 'weak_label'
            WHEN p.doc_id IS NOT NULL THEN 'student' END AS final_source,
       d.doc_id IN (SELECT doc_id FROM review_disputes) AS disputed
FROM documents d
LEFT JOIN weak_labels w ON w.doc_id = d.doc_id
     AND w.run_id = (SELECT run_id FROM last_ok_runs WHERE stage = 'label-model')
LEFT JOIN categories wc ON wc.label = w.label
LEFT JOIN label_issues f ON f.doc_id = d.doc_id
     AND f.run_id = (SELECT run_id FROM last_ok_runs WHERE stage = 'flag')
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
            with transaction(con):
                con.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version "
                    "(version INTEGER NOT NULL, applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
                )
                con.execute(ddl)
                con.execute("INSERT INTO schema_version (version) VALUES (?)", [number])
            applied.append(number)
    if target == SCHEMA_VERSION:
        con.execute(VIEWS)
    return applied
