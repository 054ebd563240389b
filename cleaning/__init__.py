"""Cleaning: cleanlab flags on the weak labels, the review queue, the gold set, Label Studio.

Reads ``weak_labels``, ``votes``, ``documents``; writes ``label_issues``, ``reviews`` and
``gold_imports``. It meets the other stages only in those tables.
"""

from .errors import CleaningError
from .flag import FlagResult, FlagSettings, flag_labels
from .gold import GoldImportReport, gold_table, import_gold
from .label_studio import ImportReport, export_tasks, import_annotations, labeling_config
from .review import QueueItem, Review, decide, default_reviewer, parse_label, pending, pending_table, record, undo
from .terminal import review_session

__all__ = [
    "CleaningError", "FlagResult", "FlagSettings", "GoldImportReport", "ImportReport", "QueueItem", "Review",
    "decide", "default_reviewer", "export_tasks", "flag_labels", "gold_table", "import_annotations", "import_gold",
    "labeling_config", "parse_label", "pending", "pending_table", "record", "review_session", "undo",
]
