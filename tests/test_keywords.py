"""Keyword LFs on hand-written sentences: inflection, multi-word terms, abbreviations, negation."""

from __future__ import annotations

import json

import pytest

from admedtagger.labeling.keywords import LexiconError, keyword_lfs, load_lexicon
from admedtagger.labeling.morphology import Dictionary, PolishInflector, cache_dir, expand_terms
from admedtagger.labeling.registry import pack_lexicon, project_lexicon
from admedtagger.warehouse import NONE_LABEL, load_config

CATEGORIES = list(enumerate(["Radiology", "Oncology", "Cardiology", "Hypertension", "Pathology"]))
R, O, C, H, P = range(5)


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ADMEDTAGGER_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def polish():
    return keyword_lfs(load_lexicon(pack_lexicon("pl")), CATEGORIES)


@pytest.fixture
def english():
    return keyword_lfs(load_lexicon(pack_lexicon("en")), CATEGORIES)


def voted(lfs, text: str) -> set[int]:
    """The categories whose keyword LF votes on ``text``."""
    return {lf.label for lf in lfs if lf.apply([text])[0].label != NONE_LABEL}


def test_one_lf_per_category_with_rich_lexicons(polish, english):
    for lfs in (polish, english):
        assert [lf.name for lf in lfs] == ["kw_radiology", "kw_oncology", "kw_cardiology", "kw_hypertension", "kw_pathology",
                                           "kw_radiology_report", "kw_pathology_report"]
        for lf in lfs:
            entries = len(lf.spec["terms"]) + len(lf.spec["exact"]) + len(lf.spec["patterns"])
            assert entries >= (80 if lf.spec["role"] == "topic" else 10), lf.name
            assert lf.kind == "keyword" and len(lf.version) == 12
        assert [lf.spec["role"] for lf in lfs] == ["topic"] * 5 + ["report"] * 2
        assert [lf.label for lf in lfs[5:]] == [R, P]
        assert len({lf.matcher for lf in lfs}) == 1  # one automaton for every column


@pytest.mark.parametrize("text, category", [
    ("Pacjent z nowotworem złośliwym jelita.", O),
    ("Stan po leczeniu rakiem płuca.", O),
    ("Podejrzenie przerzutów do wątroby.", O),
    ("Przebył zawał mięśnia sercowego w 2019 r.", C),
    ("Hospitalizowany z powodu ostrego zespołu wieńcowego.", C),
    ("Chory z chorobą niedokrwienną serca.", C),
    ("Podwyższone stężenie troponiny.", C),  # SGJP lacks it: inflected like "witamina"
    ("Leczony z powodu nadciśnienia tętniczego.", H),
    ("Zalecono leki hipotensyjne.", H),
    ("Wynik badania histopatologicznego wycinka.", P),
    ("Wykonano tomografię komputerową jamy brzusznej.", R),
    ("W zdjęciach rentgenowskich klatki piersiowej.", R),
])
def test_inflected_forms_vote(polish, text, category):
    assert category in voted(polish, text)


@pytest.mark.parametrize("text, category", [
    ("RR 150/95.", H), ("W wywiadzie NT, HT od lat.", H), ("EKG: rytm zatokowy.", C), ("ECHO serca prawidłowe.", C),
    ("TK głowy.", R), ("MR kręgosłupa.", R), ("USG jamy brzusznej.", R), ("RTG klatki piersiowej.", R),
    ("Ca piersi lewej.", O), ("Rak gruczołowy G3.", P), ("Stopień zaawansowania pT2N0M0.", O), ("pT2N0", P),
])
def test_abbreviations_and_tnm_patterns(polish, text, category):
    assert category in voted(polish, text)


def test_case_and_word_boundaries(polish):
    # "NT" is hypertension only as a word of its own, not inside NT-proBNP.
    assert voted(polish, "NT-proBNP 3500 pg/ml.") == {C}
    assert voted(polish, "Zgłasza brak dolegliwości.") == set()  # "rak" inside "brak"
    assert voted(polish, "nt. wizyty kontrolnej") == set()  # NT is case-sensitive
    assert voted(polish, "zmiana ok. 3 cm, ca 3 cm od linii") == set()  # lower-case "ca" alone is circa


def test_a_longer_term_of_one_category_does_not_hide_another(polish):
    # "rak gruczołowy" is a Pathology entry; the "rak" inside still counts for Oncology.
    assert voted(polish, "Rozpoznanie: rak gruczołowy.") == {O, P}


@pytest.mark.parametrize("text", [
    "Bez cech nowotworu i przerzutów.",
    "Nie stwierdzono zawału serca.",
    "Zawał serca wykluczono.",
    "Wykluczono zawał mięśnia sercowego.",
    "Brak cech nadciśnienia tętniczego.",
    "Nie stwierdzono: zawału ani niewydolności serca.",  # a colon does not end the scope
    "Badań obrazowych nie wykonywano.",
    "TK nie wykonano.",  # a procedure not done does not vote even though TK is not_negated
])
def test_negated_mentions_do_not_vote(polish, text):
    assert voted(polish, text) == set()


def test_negation_scope_ends_at_the_clause(polish):
    assert voted(polish, "Nie stwierdzono przerzutów, rak piersi w remisji.") == {O}
    assert voted(polish, "Nie stwierdzono zawału, natomiast rozpoznano migotanie przedsionków.") == {C}
    assert voted(polish, "Nowotworu nie stwierdzono. Nadciśnienie tętnicze.") == {H}


def test_pseudo_negation_and_modalities(polish):
    assert voted(polish, "Nie można wykluczyć procesu nowotworowego.") == {O}
    assert voted(polish, "Nie wykluczono zawału serca.") == {C}
    # A modality inside an ordinary negation still names the examination.
    assert voted(polish, "Nie stwierdzono zmian ogniskowych w TK.") == {R}


def test_confidence_grows_with_distinct_entries(polish):
    oncology = polish[O]
    one = oncology.apply(["Rak."])[0]
    same_entry_twice = oncology.apply(["Rak, raka, rakiem."])[0]
    three = oncology.apply(["Rak z przerzutami, chemioterapia."])[0]
    assert one.confidence == same_entry_twice.confidence == 0.5
    assert three.confidence == 0.875 and three.label == O


def test_english_pack(english):
    assert voted(english, "Chest x-ray: opacity in the right lower lobe.") == {R}
    assert voted(english, "History of breast cancer treated with chemotherapy.") == {O}
    assert voted(english, "No history of cancer.") == set()
    assert voted(english, "Malignancy cannot be excluded.") == {O}
    assert voted(english, "Acute myocardial infarction; ECG shows ST elevation.") == {C}
    assert voted(english, "Blood pressure 160/100 mmHg despite amlodipine.") == {H}
    assert voted(english, "Biopsy specimen: poorly differentiated carcinoma, margins clear.") == {O, P}
    assert voted(english, "There is no pneumothorax or pleural effusion.") == set()
    # ignore phrases: a cytokine is not a tumour, the heart's outline on a film is radiology.
    assert voted(english, "Serum tumor necrosis factor levels rose.") == set()
    assert voted(english, "The cardiac silhouette is normal.") == {R}
    assert voted(english, "Cardiac arrest during surgery.") == {C}


def test_morfeusz_expansion_is_cached_on_disk():
    terms = ["nowotwór złośliwy", "zawał"]
    forms = expand_terms(terms, "morfeusz2")
    assert "nowotworem złośliwym" in forms["nowotwór złośliwy"] and "zawałem" in forms["zawał"]
    files = list((cache_dir() / "forms").glob("*.json"))
    assert len(files) == 1
    assert json.loads(files[0].read_text(encoding="utf-8")) == {t: list(f) for t, f in forms.items()}
    assert expand_terms(terms, "morfeusz2") == forms
    expand_terms([*terms, "rak"], "morfeusz2")  # another lexicon, another file
    assert len(list((cache_dir() / "forms").glob("*.json"))) == 2


def test_inflector_rules():
    inflector = PolishInflector()
    assert "raka płuca" in inflector.forms("rak płuca")
    assert "raka płuc" not in inflector.forms("rak płuca")  # the genitive complement stays
    assert "kardiowerter-defibrylatorem" in inflector.forms("kardiowerter-defibrylator")
    assert inflector.forms("ca płuca") == ("ca płuca",)  # does not start with a noun or adjective
    assert not any(f.startswith("nie") for f in inflector.forms("uwidocznić"))  # negated forms left out


def test_every_polish_pack_word_is_in_the_dictionary_or_deliberately_literal():
    # A misspelt lemma would silently match only as written: the pack must not have one.
    lexicon = load_lexicon(pack_lexicon("pl"))
    inflector = PolishInflector(Dictionary(lexicon.inflect_like))
    unknown = {w for c in lexicon.categories.values() for t in (*c.terms, *c.ignore) for w in inflector.unknown(t)}
    unknown |= {w for c in lexicon.categories.values() if c.report for t in c.report.terms for w in inflector.unknown(t)}
    # Abbreviations, Latin, and names already in the genitive ("chłoniak Hodgkina").
    assert unknown == {"ACE", "AV", "DASH", "DiLO", "QT", "RTG", "adenocarcinoma", "Conna", "Gleasona", "Hisa",
                       "Hodgkina", "Hounsfielda", "Karnofsky'ego"}
    assert "troponinę" in inflector.forms("troponina")  # through inflect_like


def test_user_lexicon_extends_or_replaces_the_pack(project):
    folder = project.root / "lexicons"
    folder.mkdir()
    (folder / "extra.toml").write_text(
        '[categories.Oncology]\nterms = ["onkohematologia"]\n'
        '[categories.Hypertension]\nterms = ["ciśnienie"]\nreplace = true\n', encoding="utf-8")
    lexicon = project_lexicon(load_config(project.path))
    assert "onkohematologia" in lexicon.categories["oncology"].terms and "rak" in lexicon.categories["oncology"].terms
    assert lexicon.categories["hypertension"].terms == ("ciśnienie",)
    lfs = keyword_lfs(lexicon, CATEGORIES)
    assert voted(lfs, "Pomiar ciśnienia.") == {H}
    assert voted(lfs, "Nadciśnienie tętnicze.") == set()


@pytest.mark.parametrize("body, message", [
    ('[categories.Oncology]\npatterns = ["(unclosed"]\n', "bad regular expression"),
    ('[categories.Oncology]\nterms = "rak"\n', "categories.Oncology.terms must be a list"),
    ('[categories.Oncology]\nterms = ["rak"]\nnot_negated = ["TK"]\n', "not in its terms or exact"),
    ('colour = "blue"\n', "unknown key"),
    ('[categories.Oncology\n', "extra.toml"),
])
def test_bad_lexicon_files_name_the_file_and_key(tmp_path, body, message):
    path = tmp_path / "extra.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(LexiconError, match=message) as info:
        load_lexicon(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("text, category", [
    # drug classes: anticoagulant, statin, antiarrhythmic (Cardiology); sartan, CCB, thiazide (Hypertension)
    ("Przewlekle przyjmuje rywaroksaban.", C), ("Włączono atorwastatynę.", C), ("Po amiodaronie bez nawrotu.", C),
    ("Leczona telmisartanem i lerkanidypiną.", H), ("Dodano chlortalidon.", H),
    # cytostatics and targeted therapy
    ("Po oksaliplatynie i kapecytabinie.", O), ("Leczona ozymertynibem.", O),
    # adjective + noun heads: both words inflect ("lewa" also reads as a noun)
    ("Poszerzenie lewej komory.", C), ("Powiększenie lewego przedsionka.", C),
    ("Wykonano przezskórną interwencję wieńcową.", C), ("W badaniu hipokinezę ściany dolnej.", C),
    ("Wycinek z gruczolakorakiem.", O), ("Dodatni odczyn synaptofizyny.", P),
])
def test_new_polish_terms_inflect(polish, text, category):
    assert category in voted(polish, text)


def test_polish_precision_rules(polish):
    # A normal blood pressure reading is in every note; a hypertensive one is evidence.
    assert H not in voted(polish, "RR 120/80 mmHg, tętno 72/min.")
    assert H in voted(polish, "RR 165/100 mmHg.") and H in voted(polish, "Ciśnienie tętnicze 150/85.")
    # Pulmonary hypertension is a cardiopulmonary disease, not arterial hypertension.
    assert voted(polish, "Nadciśnienie płucne w ECHO.") == {C}
    # "preparat" is also a drug: only a named specimen is pathology.
    assert voted(polish, "Zalecono preparat żelaza.") == set()
    assert voted(polish, "Preparat operacyjny utrwalono.") == {P}


def report(lfs, text: str) -> set[int]:
    """The categories whose report LF votes on ``text``."""
    return {lf.label for lf in lfs if lf.spec["role"] == "report" and lf.apply([text])[0].label != NONE_LABEL}


@pytest.mark.parametrize("text, category", [
    ("RTG klatki piersiowej PA i boczne\nPola płucne bez zmian ogniskowych. Sylwetka serca nieposzerzona.", R),
    ("TK jamy brzusznej\nBadanie wykonano w fazie natywnej i po dożylnym podaniu środka kontrastowego.", R),
    ("Opis badania MR głowy: w sekwencjach T2 i FLAIR bez zmian ogniskowych.", R),
    ("WYNIK BADANIA HISTOPATOLOGICZNEGO\nMateriał: wycinki z żołądka.", P),
    ("Materiał nadesłany: węzeł chłonny. Opis makroskopowy: węzeł 2 cm. Opis mikroskopowy: utkanie chłoniaka.", P),
])
def test_polish_report_lf_fires_on_a_report(polish, text, category):
    assert report(polish, text) == {category}


@pytest.mark.parametrize("text", [
    "Celem pracy była ocena przydatności tomografii komputerowej w diagnostyce zatorowości płucnej.",
    "W trakcie hospitalizacji wykonano badanie TK głowy, w którym nie stwierdzono zmian.",
    "Chora po mastektomii. Wynik badania histopatologicznego: rak gruczołowy. Zakwalifikowana do chemioterapii.",
    "ABPM – opis badania\nŚrednie ciśnienie w ciągu doby 150/95 mmHg.",  # an examination, but not imaging
    "Badanie wykonano aparatem z głowicą sektorową; frakcja wyrzutowa 55%.",  # echo, not a radiology report
])
def test_polish_report_lf_stays_silent_on_notes_and_abstracts(polish, text):
    assert report(polish, text) == set()


def test_english_report_lfs(english):
    written = ("EXAMINATION: Chest PA and lateral. COMPARISON: None. FINDINGS: The heart size is normal. "
               "The lungs are clear. IMPRESSION: No acute cardiopulmonary process.")
    assert report(english, written) == {R}
    # The template negation is part of the cue; its mention still votes with 1 - 0.5**n.
    vote = next(lf for lf in english if lf.name == "kw_radiology_report").apply([written])[0]
    assert vote.label == R and vote.confidence >= 1 - 0.5**4
    pathology = ("SPECIMEN: Left breast, core biopsy. GROSS DESCRIPTION: Received in formalin are three cores, "
                 "submitted in toto. FINAL DIAGNOSIS: Invasive ductal carcinoma.")
    assert report(english, pathology) == {P}
    for abstract in (
        "We evaluated computed tomography findings in 120 patients with pulmonary embolism.",
        "BACKGROUND: Chest radiographs are widely used. FINDINGS: Of 2000 radiographs, 12% showed consolidation.",
        "Biopsy specimens were stained with hematoxylin and eosin; the final diagnosis was established by two pathologists.",
    ):
        assert report(english, abstract) == set(), abstract
    # A pseudo negation may carry an entry: "no interval change" is a report phrase.
    assert report(english, "There is no interval change.") == {R}


def test_report_table_in_user_lexicons(tmp_path):
    base = tmp_path / "base.toml"
    base.write_text('[categories.Radiology]\nterms = ["rtg"]\n[categories.Radiology.report]\nterms = ["opis zdjęcia"]\n',
                    encoding="utf-8")
    user = tmp_path / "user.toml"
    user.write_text('[categories.Radiology.report]\nexact = ["WNIOSKI RADIOLOGICZNE"]\n', encoding="utf-8")
    lexicon = load_lexicon(base).merged(load_lexicon(user))
    assert lexicon.categories["radiology"].report.terms == ("opis zdjęcia",)
    assert lexicon.categories["radiology"].report.exact == ("WNIOSKI RADIOLOGICZNE",)
    lfs = keyword_lfs(lexicon, CATEGORIES)
    assert [(lf.name, lf.spec["role"]) for lf in lfs] == [("kw_radiology", "topic"), ("kw_radiology_report", "report")]
    assert report(lfs, "WNIOSKI RADIOLOGICZNE: bez zmian.") == {R} and report(lfs, "Wnioski radiologiczne") == set()
    # Changing the report table changes the report LF's version only.
    user.write_text('[categories.Radiology.report]\nexact = ["OPIS"]\n', encoding="utf-8")
    other = keyword_lfs(load_lexicon(base).merged(load_lexicon(user)), CATEGORIES)
    assert other[0].version == lfs[0].version and other[1].version != lfs[1].version


@pytest.mark.parametrize("body, message", [
    ('[categories.Radiology.report]\nignore = ["x"]\n', "categories.Radiology.report: unknown key"),
    ('[categories.Radiology]\nreport = ["x"]\n', "categories.Radiology.report must be a table"),
    ('[categories.Radiology.report]\nterms = ["a"]\nnot_negated = ["b"]\n', "categories.Radiology.report.not_negated"),
    ('[categories.Radiology.report]\npatterns = ["(x"]\n', "categories.Radiology.report.patterns: bad regular"),
])
def test_bad_report_tables_name_the_key(tmp_path, body, message):
    path = tmp_path / "extra.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(LexiconError, match=message):
        load_lexicon(path)
