"""Cleaning: cleanlab flags on the weak labels, the review queue, the gold set, Label Studio.

Reads ``weak_labels``, ``votes``, ``documents``; writes ``label_issues``, ``reviews`` and
``gold_imports``. It meets the other stages only in those tables.
"""

from .agreement import agreement_items, agreement_table, disputes_table
from .errors import CleaningError
from .flag import FlagResult, FlagSettings, flag_labels
from .gold import GoldImportReport, gold_table, import_gold
from .label_studio import ImportReport, export_tasks, import_annotations, labeling_config
from .review import (
    DEFAULT_OVERLAP, TASKS, QueueItem, Review, current_task, decide, default_reviewer, effective_decision,
    overlap_share, parse_label, pending, pending_table, queue_size, record, record_if_pending, undo,
)
from .terminal import review_session

__all__ = [
    "CleaningError", "DEFAULT_OVERLAP", "FlagResult", "FlagSettings", "GoldImportReport", "ImportReport", "QueueItem",
    "Review", "TASKS", "agreement_items", "agreement_table", "current_task", "decide", "default_reviewer",
    "disputes_table", "effective_decision", "export_tasks", "flag_labels", "gold_table", "import_annotations",
    "import_gold", "labeling_config", "overlap_share", "parse_label", "pending", "pending_table", "queue_size",
    "record", "record_if_pending", "review_session", "undo",
]
