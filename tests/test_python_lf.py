"""Python LFs: the decorator, label resolution, versions from source, lfs.py in a project."""

from __future__ import annotations

import pytest

from admedtagger.labeling.base import ABSTAIN, Vote
from admedtagger.labeling.python_lf import PythonLFError, labeling_function, load_python_lfs
from admedtagger.labeling.registry import build_lfs
from admedtagger.labeling.runner import label
from admedtagger.warehouse import label_lookup

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


def test_decorator_resolves_names_ids_and_confidences(con):
    @labeling_function(name="mixed")
    def mixed(text):
        return {"a": "Oncology", "b": "kardiologia", "c": 4, "d": ("radiology", 0.25), "e": None, "f": -1}[text]

    lf = mixed.bind(label_lookup(con))
    assert lf.name == "mixed" and lf.kind == "python"
    assert lf.apply(list("abcdef")) == [Vote(1), Vote(2), Vote(4), Vote(0, 0.25), Vote(ABSTAIN), Vote(ABSTAIN)]


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


def test_lfs_py_in_the_project_is_found_and_run(demo_con, project):
    (project.root / "lfs.py").write_text(LFS_PY, encoding="utf-8")
    lfs = build_lfs(demo_con, project, kinds=["python"])
    assert [lf.name for lf in lfs] == ["py_mammography", "py_tnm"]
    result = label(demo_con, lfs)
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
