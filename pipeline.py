"""The whole pipeline on the bundled demo corpus, stage by stage.

This module sits beside ``cli.py`` (it is the only other module allowed to import every
stage package): ``admedtagger demo`` is a thin shell over :func:`run_demo`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable

from admedtagger.warehouse import CONFIG_NAME, connect, ingest, load_config, record_run, render_config, sync_categories

DEMO_CORPUS = "demo_pl.jsonl"


def demo_corpus_path() -> Path:
    """The bundled Polish demo corpus (JSONL: id, text, label, kind)."""
    return Path(str(resources.files("admedtagger.warehouse") / "data" / DEMO_CORPUS))


@dataclass
class StageReport:
    stage: str
    summary: str
    details: dict = field(default_factory=dict)


def run_demo(folder: Path, report: Callable[[StageReport], None] = lambda r: None) -> Path:
    """Init a project in ``folder``, ingest the demo corpus with its labels as gold.

    Returns the warehouse path. Every stage is idempotent: a second run reuses what the
    first one stored.
    """
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / CONFIG_NAME
    if not config_path.exists():
        config_path.write_text(render_config("pl"), encoding="utf-8")
    config = load_config(config_path)
    db_path = config.db_path()
    con = connect(db_path)
    try:
        sync_categories(con, config)
        report(StageReport("init", f"project {folder} (language {config.language}), warehouse {db_path}"))
        with record_run(con, "ingest", {"paths": [str(demo_corpus_path())], "demo": True}) as run:
            stats = ingest(con, [demo_corpus_path()], id_col="id", label_col="label", run_id=run.run_id,
                           max_text_chars=config.max_text_chars)
            run.metrics = stats.as_dict()
        report(StageReport(
            "ingest",
            f"{stats.inserted} new documents ({stats.already_present} already present), "
            f"{stats.gold_imported} demo labels stored as gold (never shown to the labelling functions)",
            stats.as_dict(),
        ))
    finally:
        con.close()
    return db_path
