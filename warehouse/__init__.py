"""The warehouse: the only stateful part. A DuckDB file with the tables of the SQL contract.

Stage packages (labeling, cleaning, students) read and write through these functions and
the tables; they never import each other.
"""

from .config import CONFIG_NAME, Category, Config, ConfigError, find_config, load_config, render_config
from .db import Run, WarehouseError, categories, connect, is_locked, record_run, sync_categories
from .errors import UserError
from .gold_imports import insert_gold
from .ingest import IngestError, IngestStats, ingest_files, run_ingest
from .transactions import registered, transaction
from .rules import (
    NONE_LABEL, NONE_NAME, NONE_NAMES, column_of, label_lookup, label_of_column, last_lf_analysis_run, last_ok_run,
    last_ok_run_params,
    probs_with_none, resolve_label, review_decision,
)

__all__ = [
    "CONFIG_NAME", "Category", "Config", "ConfigError", "IngestError", "IngestStats", "Run", "WarehouseError",
    "categories", "connect", "find_config", "is_locked", "ingest_files", "insert_gold", "label_lookup", "load_config",
    "record_run", "registered", "render_config", "run_ingest", "sync_categories", "transaction", "UserError",
    "NONE_LABEL", "NONE_NAME", "NONE_NAMES", "last_lf_analysis_run", "last_ok_run", "last_ok_run_params",
    "resolve_label", "review_decision", "column_of", "label_of_column", "probs_with_none",
]
