"""Python LFs: the decorator, label resolution, versions from source, lfs.py in a project
(imported only when admedtagger.toml enables it)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from admedtagger.cli import app
from admedtagger.labeling.base import Vote
from admedtagger.labeling.python_lf import PythonLFError, labeling_function, load_python_lfs
from admedtagger.labeling.registry import RegistryError, build_lfs
from admedtagger.labeling.runner import apply_lfs
from admedtagger.warehouse import NONE_LABEL, label_lookup, load_config

LFS_PY = '''
from admedtagger.labeling.python_lf import labeling_function


@labeling_function(name="py_mammography")
def mammography(text):
    return "Radiology" if "mammograf" in text.lower() else None


@labeling_function()
def py_tnm(text):
    return ("onkologia", 0.7) if "TNM" in text else -1


def helper(text):  # not decorated: not an LF
    return 0
'''

# An lfs.py with a visible side effect on import: a marker file beside it.
MARKER_LFS_PY = '''
from pathlib import Path
from admedtagger.labeling.python_lf import labeling_function

Path(__file__).with_name("IMPORTED").write_text("lfs.py ran")


@labeling_function(name="py_marker")
def marker(text):
    return None
'''


def enable(project, setting: str = '["lfs.py"]'):
    """Append ``[label] python = ...`` to the project's config and read it again."""
    path = project.root / "admedtagger.toml"
    path.write_text(path.read_text(encoding="utf-8") + f"\n[label]\npython = {setting}\n", encoding="utf-8")
    return load_config(path)


def test_decorator_resolves_names_ids_and_confidences(con):
    @labeling_function(name="mixed")
    def mixed(text):
        return {"a": "Oncology", "b": "kardiologia", "c": 4, "d": ("radiology", 0.25), "e": None, "f": -1}[text]

    lf = mixed.bind(label_lookup(con))
    assert lf.name == "mixed" and lf.kind == "python"
    assert lf.apply(list("abcdef")) == [Vote(1), Vote(2), Vote(4), Vote(0, 0.25), Vote(NONE_LABEL), Vote(NONE_LABEL)]


@pytest.mark.parametrize("answer, message", [
    ("Dermatology", "not a category"), (9, "not a category id"), (("Oncology", "high"), "confidence"),
    ([1], "expected a category name"), (("Oncology", 0.5, 1), "must be \\(label, confidence\\)"),
])
def test_bad_answers_name_the_lf(con, answer, message):
    @labeling_function(name="wrong")
    def wrong(text):
        return answer

    with pytest.raises(PythonLFError, match=f"python LF wrong.*{message}"):
        wrong.bind(label_lookup(con)).apply(["x"])


def test_version_follows_the_source_code():
    @labeling_function(name="same")
    def first(text):
        return None

    @labeling_function(name="same")
    def second(text):
        return "Oncology"

    @labeling_function(name="same")
    def first_again(text):
        return None

    assert first.version != second.version
    assert "return \"Oncology\"" in second.spec["source"]
    # The source includes the def line: a renamed function is a new version.
    assert first.spec["source_sha256"] != first_again.spec["source_sha256"]


def test_enabled_lfs_py_is_found_and_run(demo_con, project):
    (project.root / "lfs.py").write_text(LFS_PY, encoding="utf-8")
    lfs = build_lfs(demo_con, enable(project), kinds=["python"])
    assert [lf.name for lf in lfs] == ["py_mammography", "py_tnm"]
    result = apply_lfs(demo_con, lfs)
    assert result.documents == 640
    rows = dict(demo_con.execute(
        "SELECT lf, count(*) FILTER (WHERE label >= 0) FROM votes GROUP BY lf").fetchall())
    texts = [r[0] for r in demo_con.execute("SELECT text FROM documents").fetchall()]
    assert rows["py_mammography"] == sum("mammograf" in t.lower() for t in texts) > 0
    assert rows["py_tnm"] == sum("TNM" in t for t in texts)
    assert demo_con.execute(
        "SELECT DISTINCT confidence FROM votes WHERE lf = 'py_tnm' AND label >= 0").fetchall() in ([], [(0.7,)])


def test_a_broken_lfs_py_is_a_user_error(tmp_path):
    path = tmp_path / "lfs.py"
    path.write_text("import no_such_module_here\n", encoding="utf-8")
    with pytest.raises(PythonLFError, match="lfs.py: importing it failed: ModuleNotFoundError"):
        load_python_lfs(path)


def test_lfs_py_that_is_not_enabled_is_never_imported(con, project, capsys):
    (project.root / "lfs.py").write_text(MARKER_LFS_PY, encoding="utf-8")
    assert build_lfs(con, project, kinds=["python"]) == []
    assert not (project.root / "IMPORTED").exists()
    note = capsys.readouterr().err
    assert "lfs.py was not imported" in note and '[label] python = ["lfs.py"]' in note
    # Nor by the default kinds, nor by asking for LFs by name.
    with pytest.raises(RegistryError, match="no labelling function named"):
        build_lfs(con, project, names=["py_marker"])
    assert not (project.root / "IMPORTED").exists()


def test_label_command_ignores_a_lfs_py_that_is_not_enabled(project):
    (project.root / "lfs.py").write_text(MARKER_LFS_PY, encoding="utf-8")
    result = CliRunner().invoke(app, ["label", "--kind", "python"], catch_exceptions=False)
    assert not (project.root / "IMPORTED").exists()
    assert result.stderr.count("was not imported") == 1, result.output
    # Enabled, the same command imports it.
    enable(project)
    result = CliRunner().invoke(app, ["label", "--kind", "python"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (project.root / "IMPORTED").read_text() == "lfs.py ran"


def test_python_setting_takes_globs_and_refuses_missing_files(con, project):
    (project.root / "lfs").mkdir()
    (project.root / "lfs" / "a.py").write_text(LFS_PY, encoding="utf-8")
    (project.root / "lfs.py").write_text(MARKER_LFS_PY, encoding="utf-8")
    config = enable(project, '["lfs/*.py"]')
    assert [lf.name for lf in build_lfs(con, config, kinds=["python"])] == ["py_mammography", "py_tnm"]
    assert not (project.root / "IMPORTED").exists()  # lfs.py is not listed
    with pytest.raises(RegistryError, match="python lists gone.py, which does not exist"):
        build_lfs(con, _with_python(project, '"gone.py"'), kinds=["python"])


def _with_python(project, setting: str):
    path = project.root / "admedtagger.toml"
    text = path.read_text(encoding="utf-8").rsplit("\n[label]\n", 1)[0]
    path.write_text(text + f"\n[label]\npython = {setting}\n", encoding="utf-8")
    return load_config(path)


def test_init_says_python_lfs_must_be_enabled(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ADMEDTAGGER_DB", raising=False)
    result = CliRunner().invoke(app, ["init"], catch_exceptions=False)
    assert result.exit_code == 0
    lines = [line for line in result.stderr.splitlines() if "Python LFs" in line]
    assert len(lines) == 1 and '[label] python = ["lfs.py"]' in lines[0]
    # The rendered config carries the commented example; uncommented, it enables lfs.py.
    text = (tmp_path / "admedtagger.toml").read_text(encoding="utf-8")
    assert '# [label]\n# python = ["lfs.py"]' in text
    (tmp_path / "admedtagger.toml").write_text(
        text.replace('# [label]\n# python = ["lfs.py"]', '[label]\npython = ["lfs.py"]'), encoding="utf-8")
    assert load_config(tmp_path / "admedtagger.toml").section("label") == {"python": ["lfs.py"]}
