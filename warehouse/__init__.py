"""The warehouse: the only stateful part. A DuckDB file with the tables of the SQL contract.

Stage packages (labeling, cleaning, students) read and write through these functions and
the tables; they never import each other.
"""

from .config import CONFIG_NAME, Category, Config, ConfigError, find_config, load_config, render_config
from .db import Run, WarehouseError, categories, connect, label_lookup, record_run, sync_categories
from .errors import UserError
from .ingest import IngestError, IngestStats, ingest

__all__ = [
    "CONFIG_NAME", "Category", "Config", "ConfigError", "IngestError", "IngestStats", "Run", "WarehouseError",
    "categories", "connect", "find_config", "ingest", "label_lookup", "load_config",
    "record_run", "render_config", "sync_categories", "UserError",
]
