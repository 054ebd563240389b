"""Prompt views, label words, truncation and the LLM cache, without loading a model.

The tokenizer here is a real (tiny, character-level) `tokenizers` BPE wrapped as a
transformers fast tokenizer with a chat template: every word starts with its first
character's token, except "Ra..." which has a merge of its own.
"""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer, decoders, models
from transformers import PreTrainedTokenizerFast

from admedtagger.labeling.llm.build import gold_examples, lfs_for_backend, settings
from admedtagger.labeling.llm.cache import LLMCache, cache_key
from admedtagger.labeling.llm.labels import LabelWordError, label_set, parse_choice
from admedtagger.labeling.llm.prompts import Prompter, truncate
from admedtagger.labeling.llm.views import Example, Task, ViewError, label_words, load_views, pick_examples
from admedtagger.warehouse import load_config

CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;!?()-<>/\n'\"ąćęłńóśźżĄĆĘŁŃÓŚŹŻ_=%{}|"


@pytest.fixture(scope="module")
def tokenizer():
    vocab = {"<unk>": 0, "<pad>": 1}
    for ch in CHARS:
        vocab.setdefault(ch, len(vocab))
    vocab["Ra"] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=[("R", "a")], unk_token="<unk>"))
    core.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", pad_token="<pad>")
    tok.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    return tok


def test_packs_have_at_least_four_different_views(project):
    for language in ("pl", "en"):
        project.language = language
        views = load_views(project)
        assert len(views) >= 5
        assert {v.kind for v in views.values()} == {"choice", "yesno"}
        assert any(v.examples for v in views.values())
        # Genuinely different: no two views share their instructions or their label words.
        assert len({v.system for v in views.values()}) == len(views)
        assert len({(v.labels if v.kind == "choice" else (v.yes, v.no)) for v in views.values()}) >= 4


def test_polish_pack_mixes_instruction_languages(project):
    views = load_views(project)
    assert "Jesteś" in views["direct_pl"].system and "You are" in views["definitions_en"].system
    assert views["definitions_en"].language == "en"


def test_label_words_follow_the_category_order(project):
    views = load_views(project)
    cats = project.categories
    assert label_words(views["direct_pl"], cats) == ("A", "B", "C", "D", "E")
    assert label_words(views["persona_pl"], cats) == ("1", "2", "3", "4", "5")
    assert label_words(views["definitions_en"], cats) == ("Radiology", "Oncology", "Cardiology", "Hypertension", "Pathology")
    assert label_words(views["fewshot_pl"], cats)[3] == "nadciśnienie tętnicze"
    assert label_words(views["yesno_pl"], cats) == ("Tak", "Nie")


def test_messages_put_instructions_first_and_the_text_last(project):
    views = load_views(project)
    task = Task(views["definitions_en"], project.categories)
    one, two = task.messages("pierwszy tekst"), task.messages("drugi tekst")
    assert one[0] == two[0] and one[0]["role"] == "system"
    assert "Hypertension - Arterial hypertension" in one[0]["content"]
    # Only the text differs, and nothing but the closing tag follows it.
    assert one[-1]["role"] == "user" and one[-1]["content"].endswith("pierwszy tekst\n</document>")
    prefix = one[-1]["content"].split("pierwszy")[0]
    assert "belong to?" in prefix and two[-1]["content"] == prefix + "drugi tekst\n</document>"

    yesno = Task(views["yesno_pl"], project.categories, category=2)
    content = yesno.messages("EKG: rytm zatokowy")[-1]["content"]
    assert "kardiologia" in content and "Tak lub Nie" in content
    assert content.index("kardiologia") < content.index("EKG")


def test_project_views_file_adds_and_replaces_views(project):
    (project.root / "views.toml").write_text(
        '[[views]]\nname = "direct_pl"\nlabels = ["r", "o", "k", "n", "p"]\n'
        'system = "Kategorie:\\n{categories}"\nuser = "{text}\\nOdpowiedź:"\n'
        '[[views]]\nname = "mine"\nkind = "yesno"\nyes = "J"\nno = "N"\nsystem = "S"\nuser = "{category}? {text}"\n',
        encoding="utf-8",
    )
    views = load_views(load_config(project.root / "admedtagger.toml"))
    assert views["direct_pl"].labels == ("r", "o", "k", "n", "p")
    assert views["mine"].kind == "yesno" and "persona_pl" in views


@pytest.mark.parametrize("body, message", [
    ('name = "x"\nsystem = "{categoriez}"\nuser = "{text}"', "bad placeholder"),
    ('name = "x"\nsystem = "s"\nuser = "no text here"', "{text}"),
    ('name = "x"\nsystem = "s"\nuser = "{text}"\nlabels = "emoji"', "labels must be"),
    ('name = "x"\nsystem = "s"\nuser = "{text}"\ntemperature = 1', "unknown field"),
])
def test_bad_views_are_refused_with_file_and_view(project, body, message):
    (project.root / "views.toml").write_text("[[views]]\n" + body + "\n", encoding="utf-8")
    with pytest.raises(ViewError, match="views.toml") as info:
        load_views(load_config(project.root / "admedtagger.toml"))
    assert message in str(info.value)


def test_label_set_uses_distinct_first_tokens_and_spelling_variants(tokenizer):
    labels = label_set(["Tak", "Nie"], tokenizer, "v")
    tak = {tokenizer.decode([t]) for t in labels.token_ids[0]}
    assert tak == {"T", "t"} and {tokenizer.decode([t]) for t in labels.token_ids[1]} == {"N", "n"}
    assert labels.token_strings[0] == frozenset(tak)
    assert labels.max_tokens == 3


def test_label_words_sharing_a_first_token_are_refused(tokenizer):
    with pytest.raises(LabelWordError, match="'Cardiology' and 'Cancer' start with the same token 'C'"):
        label_set(["Radiology", "Cardiology", "Cancer"], tokenizer, "view x")
    # "Radiology" starts with the merged token "Ra", "Rheumatology" with "R": distinct.
    label_set(["Radiology", "Rheumatology"], tokenizer, "view x")
    # A spelling variant that would collide is dropped, not an error: "a" (from "A") vs "all".
    labels = label_set(["A", "all"], tokenizer, "view x")
    assert all(len(g) >= 1 for g in labels.token_ids)
    assert not labels.token_ids[0] & labels.token_ids[1]
    # Constrained choice reads whole words, so shared beginnings are fine there.
    assert label_set(["Cardiology", "Cancer"], tokenizer, "v", check_first_tokens=False).token_ids is None
    with pytest.raises(LabelWordError):
        label_set(["A", "a"], tokenizer, "v")


def test_reading_answers():
    labels = label_set(["Radiology", "nadciśnienie tętnicze"])
    assert parse_choice(" radiology.\n", labels) == 0
    assert parse_choice("Nadciśnienie tętnicze", labels) == 1
    assert parse_choice("Radiology and more", labels) == -1


def test_truncation_to_the_token_budget(project, tokenizer):
    text = "abcdefghij" * 5
    assert truncate(text, 60, tokenizer) == (text, False)
    assert truncate(text, 12, tokenizer) == (text[:12], True)
    assert truncate(text, 3, None) == (text[:12], True)  # 4 characters per token without a tokenizer
    task = Task(load_views(project)["direct_pl"], project.categories)
    prompter = Prompter(task, tokenizer, 20)
    short, long = prompter.render("krótki"), prompter.render("długi tekst " * 20)
    assert not short.truncated and long.truncated
    assert len(long.ids) - len(short.ids) == 20 - len("krótki")
    assert short.text.endswith("<|assistant|>") and short.ids == tokenizer.encode(short.text, add_special_tokens=False)


def test_cache_key_depends_on_model_prompt_and_reading_not_backend():
    messages = [{"role": "user", "content": "tekst"}]
    logprobs = {"mode": "logprobs", "words": ["A", "B"]}
    key = cache_key("m", messages, logprobs)
    assert key == cache_key("m", [dict(m) for m in messages], dict(reversed(list(logprobs.items()))))
    assert key != cache_key("other", messages, logprobs)
    assert key != cache_key("m", [{"role": "user", "content": "tekst2"}], logprobs)
    assert key != cache_key("m", messages, {"mode": "choice", "words": ["A", "B"], "temperature": 0})
    assert key != cache_key("m", messages, {"mode": "logprobs", "words": ["A", "C"]})


def test_cache_reads_a_batch_and_never_duplicates(con):
    cache = LLMCache(con)
    row = {"key": "k1", "model": "m", "params": json.dumps({"mode": "choice"}), "prompt": "[]", "response": "B",
           "label": 1, "confidence": 0.8, "scores": None, "prompt_tokens": 10, "completion_tokens": 1, "latency_ms": 5.0}
    cache.store([row, {**row, "key": "k2", "label": -1, "confidence": None, "scores": [0.5, 0.5]}])
    cache.store([row])  # already there: not stored twice
    found = cache.lookup(["k1", "k2", "k3", "k1"])
    assert set(found) == {"k1", "k2"}
    assert found["k1"].index == 1 and found["k1"].confidence == 0.8
    assert found["k2"].index == -1 and found["k2"].scores == [0.5, 0.5]
    assert con.execute("SELECT count(*), count(DISTINCT key) FROM llm_cache").fetchall() == [(2, 2)]
    # Written through its own cursor and committed: visible to a caller mid-transaction.
    con.execute("BEGIN TRANSACTION")
    cache.store([{**row, "key": "k4"}])
    con.execute("ROLLBACK")
    assert con.execute("SELECT count(*) FROM llm_cache WHERE key = 'k4'").fetchall() == [(1,)]


def test_few_shot_examples_come_from_dev_gold_only(demo_con):
    examples = gold_examples(demo_con)
    splits = dict(demo_con.execute("SELECT doc_id, split FROM gold").fetchall())
    assert examples and {splits[e.doc_id] for e in examples} == {"dev"}
    assert all(e.label >= 0 for e in examples)
    assert examples == gold_examples(demo_con)  # stable
    chosen = pick_examples(examples, 1)
    assert sorted(e.label for e in chosen) == [0, 1, 2, 3, 4]
    assert pick_examples([Example("a", "t", 0), Example("b", "t", 0), Example("c", "t", 1)], 1) == [
        Example("a", "t", 0), Example("c", "t", 1)]


def test_settings_merge_config_and_cli_options(project):
    (project.root / "admedtagger.toml").write_text(
        (project.root / "admedtagger.toml").read_text() + '\n[llm]\nmax_prompt_tokens = 100\nconcurrency = 2\n')
    config = load_config(project.root / "admedtagger.toml")
    merged = settings(config, {"max_prompt_tokens": 64, "concurrency": None, "base_url": ["http://a", "http://b"]})
    assert merged == {"max_prompt_tokens": 64, "concurrency": 2, "base_urls": ["http://a", "http://b"]}


def test_lf_spec_changes_with_view_model_words_and_budget(project, tokenizer):
    from admedtagger.labeling.llm.backend import Backend

    class Offline(Backend):  # builds LFs only; never asked to answer
        name, modes = "offline", ("logprobs", "choice")

        def __init__(self, model_id):
            self.model_id, self.tokenizer = model_id, tokenizer

        def answer(self, prompts, labels, mode):
            raise AssertionError("not called")

    def versions(model="m", **opts):
        lfs = lfs_for_backend(Offline(model), project, project.categories, None, opts)
        return {lf.name: lf.version for lf in lfs}

    base = versions()
    assert "llm_fewshot_pl" not in base  # no gold, no few-shot view
    assert {"llm_direct_pl", "llm_yesno_pl_radiology", "llm_yesno_pl_pathology"} <= set(base)
    assert len(set(base.values())) == len(base)
    assert versions() == base
    assert set(versions(model="other").values()).isdisjoint(base.values())
    assert set(versions(max_prompt_tokens=64).values()).isdisjoint(base.values())
    assert set(versions(mode="choice").values()).isdisjoint(base.values())
    # The logprobs vote rule is part of an LF's identity; choice mode has none.
    assert set(versions(min_label_mass=0.2).values()).isdisjoint(base.values())
    assert set(versions(calibrate=False).values()).isdisjoint(base.values())
    assert versions(mode="choice", calibrate=False) == versions(mode="choice")
