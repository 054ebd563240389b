"""admedtagger.toml is checked once, when it is read: wrong values are one-line errors through the real CLI."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest
from typer.testing import CliRunner

from admedtagger.cli import app
from admedtagger.warehouse.config import SCHEMA, ConfigError, load_config, render_config, validate

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ADMEDTAGGER_DB", raising=False)
    return tmp_path


BAD = [
    # (admedtagger.toml, the key and value the message must show, what it must say is expected)
    ('project = "x"\n', 'project = "x"', "expected a table ([project])"),
    ('[project]\nlanguage = "de"\n', 'project.language = "de"', 'expected one of "pl", "en"'),
    ("[project]\ndatabase = 5\n", "project.database = 5", "expected a non-empty string"),
    ('[ingest]\nmax_text_chars = "abc"\n', 'ingest.max_text_chars = "abc"', "expected a whole number >= 1"),
    ("[ingest]\nmax_text_chars = 0\n", "ingest.max_text_chars = 0", "expected a whole number >= 1"),
    ('[gold]\ndev_ratio = "half"\n', 'gold.dev_ratio = "half"', "expected a number between 0 and 1 (exclusive)"),
    ("[gold]\ndev_ratio = 7\n", "gold.dev_ratio = 7", "expected a number between 0 and 1 (exclusive)"),
    ("[gold]\ndev_ratio = 1.0\n", "gold.dev_ratio = 1.0", "between 0 and 1 (exclusive)"),
    ("[gold]\ndev_ratio = 0\n", "gold.dev_ratio = 0", "between 0 and 1 (exclusive)"),
    ("[gold]\ndev_ratio = nan\n", "gold.dev_ratio = nan", "between 0 and 1 (exclusive)"),
    ("[[categories]]\nname = 5\n", "categories[1].name = 5", "expected a non-empty string"),
    ('[[categories]]\nname = "A"\n[[categories]]\nname_pl = "b"\n', "[[categories]] entry 2 has no name", "needs one"),
    ('categories = "Radiology"\n', 'categories = "Radiology"', "expected an array of tables"),
    ('[review]\nmax_chars = "lots"\n', 'review.max_chars = "lots"', "expected a whole number >= 1"),
    ("[review]\nreviewer = 7\n", "review.reviewer = 7", "expected a non-empty string"),
    ('[label]\nkinds = "keyword"\n', 'label.kinds = "keyword"', 'expected a list of "keyword", "python"'),
    ('[label]\nkinds = ["keyword", "k"]\n', 'label.kinds = ["keyword", "k"]', "expected a list of"),
    ('[label]\npack = "yes"\n', 'label.pack = "yes"', "expected true or false"),
    ("[label]\npython = true\n", "label.python = true", "expected a string or a list of strings"),
    ("[label]\nlexicons = [1]\n", "label.lexicons = [1]", "expected a string or a list of strings"),
    ('[label.embedding]\nmargin = "wide"\n', 'label.embedding.margin = "wide"', "expected a number >= 0"),
    ('[label]\nembedding = "x"\n', 'label.embedding = "x"', "expected a table ([label.embedding])"),
    ('[label_model]\nepochs = ["many"]\n', 'label_model.epochs = ["many"]', "expected a whole number >= 1 or a list"),
    ("[label_model]\nlr = 0\n", "label_model.lr = 0", "expected a number > 0 or a list of them"),
    ('[flag]\nfolds = "5"\n', 'flag.folds = "5"', "expected a whole number >= 2"),
    ("[flag]\nlow_confidence = 2\n", "flag.low_confidence = 2", "between 0 and 1 (inclusive)"),
    ("[students]\nmodels_dir = 3\n", "students.models_dir = 3", "expected a non-empty string"),
    ("[llm]\nmax_prompt_tokens = 8\n", "llm.max_prompt_tokens = 8", "expected a whole number >= 16"),
    ('[llm]\nshare_prefix = "no"\n', 'llm.share_prefix = "no"', "expected true or false"),
    ("[llm]\nbase_urls = 80\n", "llm.base_urls = 80", "expected a string or a list of strings"),
    # A value with a line break is shown escaped: the message stays one line.
    ('[ingest]\nmax_text_chars = "1\\n2"\n', 'ingest.max_text_chars = "1\\n2"', "whole number"),
]


@pytest.mark.parametrize("text, shown, expected", BAD, ids=[b[1][:40] for b in BAD])
def test_a_bad_value_is_one_line_naming_file_key_and_value(folder, text, shown, expected):
    (folder / "admedtagger.toml").write_text(text, encoding="utf-8")
    result = invoke("status")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {folder / 'admedtagger.toml'}: {shown}")
    assert expected in lines[0]
    # Checked before the command ran: no warehouse was created.
    assert not (folder / "admedtagger.duckdb").exists()


def test_every_stage_section_is_checked_at_load_whatever_the_command(folder):
    # `sql` never reads [review], yet a bad review setting stops it: one check, at load time.
    assert invoke("init").exit_code == 0
    path = folder / "admedtagger.toml"
    path.write_text(path.read_text(encoding="utf-8") + '\n[review]\nmax_chars = "lots"\n', encoding="utf-8")
    result = invoke("sql", "select 1 as a")
    assert result.exit_code == 2 and "review.max_chars" in result.stderr and result.stdout == ""


def test_invalid_toml_is_one_line_with_the_line_number(folder):
    (folder / "admedtagger.toml").write_text('[project]\nlanguage = "pl"\ndatabase = \n', encoding="utf-8")
    result = invoke("status")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "not valid TOML" in lines[0] and "line 3" in lines[0]


def test_unknown_keys_are_a_warning_once_not_an_error(folder):
    (folder / "admedtagger.toml").write_text(
        render_config("pl") + '\n[lable]\nkinds = ["keyword"]\n[review]\nmax_char = 10\n', encoding="utf-8")
    result = invoke("init")  # init reads the config twice: the warning comes once
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2
    assert "unknown setting lable" in warnings[0] and "unknown setting review.max_char" in warnings[1]
    assert (folder / "admedtagger.duckdb").exists()


def test_the_rendered_config_and_a_full_config_are_valid(folder):
    assert validate(tomllib.loads(render_config("pl")), "x") == []
    assert validate(tomllib.loads(render_config("en")), "x") == []
    full = """
[project]
language = "en"
database = "w.duckdb"
[ingest]
max_text_chars = 5000
[gold]
dev_ratio = 0.3
[label]
kinds = ["keyword", "python"]
pack = false
lexicons = "lexicons/*.toml"
python = ["lfs.py", "more/*.py"]
[label.embedding]
margin = 0
temperature = 0.05
[label_model]
model = "snorkel"
epochs = 100
lr = [0.01, 0.1]
priors = ["uniform"]
[flag]
folds = 3
alpha = 1
[review]
reviewer = "ann"
max_chars = 200
lock_wait = 0.5
[students]
models_dir = "m"
[llm]
backend = "openai"
base_urls = ["http://a/v1"]
concurrency = 4
timeout_s = 30
gpu_memory_utilization = 0.9
[[categories]]
name = "A"
[[categories]]
name = "B"
description_en = "b things"
"""
    (folder / "admedtagger.toml").write_text(full, encoding="utf-8")
    assert validate(tomllib.loads(full), "x") == []
    config = load_config(folder / "admedtagger.toml")
    assert (config.language, config.max_text_chars, config.dev_ratio) == ("en", 5000, 0.3)
    assert [c.name for c in config.categories] == ["A", "B"]


def test_duplicate_category_names_are_refused(folder):
    path = folder / "admedtagger.toml"
    path.write_text('[[categories]]\nname = "A"\n[[categories]]\nname = "a"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="unique"):
        load_config(path)


def test_the_schema_knows_every_setting_the_stages_read():
    """The stages' own option lists are all declared, so none of them is 'unknown'."""
    from admedtagger.cleaning.flag import FlagSettings
    from admedtagger.labeling.embedding import DEFAULTS as EMBEDDING
    from admedtagger.labeling.llm.backend_openai import OpenAIBackend
    from admedtagger.labeling.llm.backend_transformers import TransformersBackend
    from admedtagger.labeling.llm.backend_vllm import VLLMBackend
    from admedtagger.labeling.selection import Options

    wanted = {f"flag.{f.name}" for f in dataclasses.fields(FlagSettings)}
    wanted |= {f"label_model.{f.name}" for f in dataclasses.fields(Options)}
    wanted |= {f"label.embedding.{k}" for k in EMBEDDING}
    for backend in (OpenAIBackend, TransformersBackend, VLLMBackend):
        wanted |= {f"llm.{k}" for k in backend.OPTIONS}
    wanted |= {"llm.backend", "llm.model", "llm.views", "llm.views_files", "llm.mode", "llm.max_prompt_tokens",
               "llm.calibrate", "llm.min_label_mass"}
    assert sorted(wanted - set(SCHEMA)) == []
