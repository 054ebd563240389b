"""Project configuration: ``admedtagger.toml``, found upward from the working folder.

A project is a folder holding ``admedtagger.toml``. Commands look for it in the current
folder and its parents, like git looks for ``.git``; without one they use the defaults
below and a database in the current folder. Relative paths in the file are relative to
the folder that holds it.

The database path is chosen, first match wins: ``--db``, ``$ADMEDTAGGER_DB``, the
config's ``project.database``, ``./admedtagger.duckdb``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UserError

CONFIG_NAME = "admedtagger.toml"
DEFAULT_DB_NAME = "admedtagger.duckdb"
LANGUAGES = ("pl", "en")


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

# Label names in gold data that mean "fits none of the categories".
NONE_LABELS = frozenset({"other", "none", "inne", "inna", "brak", "-1"})


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


def load_config(path: Path | None = None) -> Config:
    """Read a config file (or find one upward from the cwd); defaults when there is none."""
    path = path or find_config()
    if path is None:
        return Config(root=Path.cwd())
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    project = data.get("project", {})
    language = project.get("language", "pl")
    if language not in LANGUAGES:
        raise ConfigError(f"{path}: project.language must be one of {LANGUAGES}, got {language!r}")
    categories = DEFAULT_CATEGORIES
    if "categories" in data:
        try:
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
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: every [[categories]] entry needs a name ({exc})") from exc
        names = [c.name.lower() for c in categories]
        if len(set(names)) != len(names) or not names:
            raise ConfigError(f"{path}: category names must be unique and non-empty")
    return Config(
        root=path.parent.resolve(),
        language=language,
        database=project.get("database", DEFAULT_DB_NAME),
        max_text_chars=int(data.get("ingest", {}).get("max_text_chars", 100_000)),
        dev_ratio=float(data.get("gold", {}).get("dev_ratio", 0.5)),
        categories=categories,
        path=path,
        raw=data,
    )


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


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
        "# The taxonomy: single-label, multi-class. Label ids follow this order.",
        "# Texts that fit none of the categories get no label (LFs abstain).",
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
