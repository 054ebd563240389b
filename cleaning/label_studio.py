"""Label Studio interchange: flagged documents out as tasks, annotations back in as reviews.

Export writes Label Studio's *basic JSON task format* with pre-annotations: a list of
tasks, each ``{"data": {...}, "predictions": [...]}``. ``data.text`` is the document,
``data.meta.doc_id`` (and ``data.doc_id``, for the Data Manager's columns) our id,
``data.hint`` a one-line summary shown above the text. The prediction is the weak label:
``model_version``, ``score`` (the weak label's probability) and one ``result`` of
``type: "choices"`` whose ``from_name``/``to_name`` match the labelling config written
beside the tasks (``<Choices name="label" toName="text" choice="single">``, one choice
per category plus "None of these").

Import reads Label Studio's JSON export (Export -> JSON): a list of tasks, each with
``annotations[]``, each annotation with ``result[].value.choices``, ``completed_by``
(a user id, or an object with an email, depending on the version), ``created_at`` /
``updated_at`` and ``was_cancelled``. The latest non-cancelled annotation of a task
becomes one review (source ``label-studio``, time = the annotation's time, or the import's
time for an export without times): accept when the choice equals the given label, relabel
for another category, reject for "None of these". Tasks that cannot be matched (no id,
unknown document, no annotation, unknown choice) are reported and change nothing.

Importing the same export twice adds nothing. A decision counts as imported before when
``reviews`` holds it with the annotation's time; for an annotation without a time, when
the latest review of the same annotation (same task and annotation ids, in the review's
note, and the same reviewer) holds the same label.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import quoteattr

import duckdb

from admedtagger.warehouse import NONE_LABEL, label_lookup, resolve_label, review_decision, transaction
from admedtagger.warehouse.rules import flagged_weak_run, last_ok_run_params

from .errors import CleaningError
from .review import given_label, pending, record

FROM_NAME = "label"
TO_NAME = "text"
NONE_CHOICE = "None of these"  # how "fits no category" is shown; read back through resolve_label (NONE_NAMES)
SOURCE = "label-studio"


def labeling_config(names: list[str]) -> str:
    """The Label Studio labelling config (XML) that the exported tasks are made for."""
    choices = "\n".join(f"    <Choice value={quoteattr(name)}/>" for name in [*names, NONE_CHOICE])
    return (
        "<View>\n"
        '  <Header value="$hint"/>\n'
        f'  <Text name="{TO_NAME}" value="$text"/>\n'
        f'  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single" showInLine="false">\n'
        f"{choices}\n"
        "  </Choices>\n"
        "</View>\n"
    )


def config_path_for(tasks_path: Path) -> Path:
    return tasks_path.with_name(tasks_path.stem + ".label_config.xml")


def export_tasks(con: duckdb.DuckDBPyConnection, path: Path, limit: int | None = None) -> tuple[int, Path]:
    """Write the pending queue as tasks to ``path`` and the config beside it; (tasks, config path)."""
    flag_run = last_ok_run_params(con, "flag")
    if flag_run is None:
        raise CleaningError("no flag run yet: run `admedtagger flag` first")
    run_id = flag_run[0]
    names = [row[0] for row in con.execute("SELECT name FROM categories ORDER BY label").fetchall()]
    weak_run = flagged_weak_run(con)
    model = con.execute("SELECT any_value(model) FROM weak_labels WHERE run_id = ?", [weak_run]).fetchall()[0][0]
    model_version = f"{model or 'weak labels'} ({weak_run})"
    tasks = []
    for item in pending(con, limit):
        def name(label: int | None) -> str | None:
            return None if label is None else (NONE_CHOICE if label == NONE_LABEL else names[label])

        given, suggested = name(item.given_label), name(item.suggested_label)
        score = "" if item.weak_confidence is None else f" ({item.weak_confidence:.2f})"
        task = {
            "data": {
                "text": item.text,
                "doc_id": item.doc_id,
                "hint": f"weak label: {given or '-'}{score} · suggested: {suggested or '-'} · "
                        f"flagged for: {item.reason}",
                "meta": {
                    "doc_id": item.doc_id, "flag_run": run_id, "rank": item.rank, "reason": item.reason,
                    "quality": item.quality, "given_label": given, "suggested_label": suggested,
                },
            },
        }
        if given is not None:
            task["predictions"] = [{
                "model_version": model_version,
                "score": item.weak_confidence,
                "result": [{
                    "id": f"weak-{item.rank}", "from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices",
                    "value": {"choices": [given]},
                }],
            }]
        tasks.append(task)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(tasks, ensure_ascii=False, indent=1), encoding="utf-8")
    config = config_path_for(path)
    config.write_text(labeling_config(names), encoding="utf-8")
    return len(tasks), config


@dataclass
class ImportReport:
    tasks: int = 0
    imported: dict[str, int] = field(default_factory=dict)  # decision -> count
    already: int = 0  # the same annotation was imported before
    unmatched: list[tuple[str, str]] = field(default_factory=list)  # (task, why)


def import_annotations(con: duckdb.DuckDBPyConnection, path: Path) -> ImportReport:
    """Append one review per matched task (module doc), all in one transaction."""
    tasks = _read_export(path)
    lookup = label_lookup(con)
    report = ImportReport(tasks=len(tasks))
    rows = []
    for position, task in enumerate(tasks, start=1):
        ref = f"task {task.get('id', '#' + str(position))}" if isinstance(task, dict) else f"task #{position}"
        try:
            rows.append(_decision(con, task, lookup))
        except _Unmatched as why:
            report.unmatched.append((ref, str(why)))
    with transaction(con):
        for doc_id, decision, label, reviewer, created_at, note in rows:
            if _imported_before(con, doc_id, label, reviewer, created_at, note):
                report.already += 1
                continue
            record(con, doc_id, decision, label, reviewer, note, SOURCE,
                   created_at=created_at or datetime.now())
            report.imported[decision] = report.imported.get(decision, 0) + 1
    return report


def _imported_before(con: duckdb.DuckDBPyConnection, doc_id: str, label: int, reviewer: str,
                     created_at: datetime | None, note: str) -> bool:
    """Whether this annotation's decision is in ``reviews`` already.

    With a time: a review of this source, document, label, reviewer and time. Without one
    (exports that lack ``created_at``/``updated_at``): the latest review of the same
    annotation (same document, reviewer and note, which names the task and annotation ids)
    holds the same label, so re-importing adds nothing while an annotation changed since
    the last import (another choice) still becomes a new review.
    """
    if created_at is not None:
        return bool(con.execute(
            "SELECT count(*) FROM reviews WHERE source = ? AND doc_id = ? AND label = ? AND reviewer = ? "
            "AND created_at = ?",
            [SOURCE, doc_id, label, reviewer, created_at],
        ).fetchall()[0][0])
    latest = con.execute(
        "SELECT label FROM reviews WHERE source = ? AND doc_id = ? AND reviewer = ? AND note = ? "
        "ORDER BY created_at DESC LIMIT 1",
        [SOURCE, doc_id, reviewer, note],
    ).fetchall()
    return bool(latest) and latest[0][0] == label


class _Unmatched(Exception):
    pass


def _read_export(path: Path) -> list:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CleaningError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise CleaningError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except UnicodeDecodeError as exc:
        raise CleaningError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not isinstance(data, list):
        raise CleaningError(
            f"{path}: expected a JSON list of tasks (Label Studio's JSON export), got {type(data).__name__}")
    return data


def _decision(con: duckdb.DuckDBPyConnection, task, lookup: dict[str, int]) -> tuple:
    """(doc_id, decision, label, reviewer, created_at, note) for one exported task."""
    if not isinstance(task, dict):
        raise _Unmatched("not a task object")
    data = task.get("data") if isinstance(task.get("data"), dict) else {}
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    doc_id = meta.get("doc_id") or data.get("doc_id")
    if not doc_id:
        raise _Unmatched("no doc_id in data.meta or data")
    doc_id = str(doc_id)
    if not con.execute("SELECT count(*) FROM documents WHERE doc_id = ?", [doc_id]).fetchall()[0][0]:
        raise _Unmatched(f"unknown document {doc_id!r}")
    annotations = [a for a in task.get("annotations") or [] if isinstance(a, dict)]
    if not annotations:
        raise _Unmatched("no annotation")
    kept = [a for a in annotations if not a.get("was_cancelled")]
    if not kept:
        raise _Unmatched("every annotation was cancelled (skipped in Label Studio)")
    annotation = max(kept, key=_recency)
    choices = _choices(annotation)
    if not choices:
        raise _Unmatched("the annotation has no choice")
    if len(choices) > 1:
        raise _Unmatched(f"several choices {choices} (the labelling config is single-choice)")
    choice = str(choices[0]).strip()
    label = resolve_label(lookup, choice)
    if label is None:
        raise _Unmatched(f"unknown choice {choice!r}")
    decision = review_decision(label, given_label(con, doc_id))
    note = f"label-studio task {task.get('id', '?')} annotation {annotation.get('id', '?')}"
    return doc_id, decision, label, _reviewer(annotation.get("completed_by")), _timestamp(annotation), note


def _recency(annotation: dict) -> tuple[str, int]:
    """Sort key for the latest annotation: its time, then its id (Label Studio counts ids up)."""
    ident = annotation.get("id")
    number = ident if isinstance(ident, int) else int(ident) if isinstance(ident, str) and ident.isdigit() else -1
    return str(annotation.get("updated_at") or annotation.get("created_at") or ""), number


def _choices(annotation: dict) -> list:
    results = [r for r in annotation.get("result") or [] if isinstance(r, dict) and r.get("type") == "choices"]
    ours = [r for r in results if r.get("from_name") == FROM_NAME] or results
    for result in ours:
        value = result.get("value")
        if isinstance(value, dict) and value.get("choices"):
            return list(value["choices"])
    return []


def _reviewer(completed_by) -> str:
    if isinstance(completed_by, dict):
        who = completed_by.get("email") or completed_by.get("username") or completed_by.get("id")
        return f"label-studio:{who}" if who is not None else "label-studio"
    if completed_by in (None, ""):
        return "label-studio"
    return f"label-studio:{completed_by}"


def _timestamp(annotation: dict) -> datetime | None:
    """The annotation's time as local naive time (how every other review time is stored); None without one."""
    for key in ("updated_at", "created_at"):
        value = annotation.get(key)
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                continue
            return moment.astimezone().replace(tzinfo=None) if moment.tzinfo else moment
    return None
