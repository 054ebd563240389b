"""Seeded, deterministic generator of the admedtagger Polish clinical demo corpus.

This module builds a synthetic but realistic corpus of short Polish clinical
documents (imaging reports, referrals, discharge summaries, prescriptions,
consultations, laboratory and histopathology results, ...) for the demo of the
weak-supervision labelling pipeline.  Every text is assembled from many
document-type templates per category with randomised slot fillers (organs,
sizes, dates, drugs and doses, ICD-10 codes, wards, patient age and sex),
optional and reordered sentences and inflected forms of the key words, so that
a classifier cannot simply learn a template id.  About 15% of each category are
deliberate hard cases: negated mentions of other categories' terms, mixed
topics labelled by the dominant one, terse telegraphic notes and abbreviations.

Each row is ``{"id", "text", "label", "kind"}``.  ``label`` is the category the
text was *written for* (one of :data:`CATEGORIES` or :data:`OTHER`).  It is the
gold standard for the demo's evaluation only and must never be shown to the
labelling functions.  ``kind`` is the document type (referral, imaging,
histopathology, discharge, prescription, consultation, lab, ...).

No real patient data is used; all people, dates and numbers are random.
Only the standard library is needed and the output depends only on the seed
(``random.Random(seed)``, never the global generator).

Regenerate the bundled demo file (byte-identical for the default seed)::

    python demo/corpus.py

which writes :data:`BUNDLED_CORPUS` (``demo/data/demo_pl.jsonl``, next to this module).
"""

from __future__ import annotations

import datetime as _dt
import json
import random
import re
from pathlib import Path
from typing import Callable, Iterable, Sequence

CATEGORIES = ("Radiology", "Oncology", "Cardiology", "Hypertension", "Pathology")
OTHER = "Other"

HARD_FRACTION = 0.15
MIN_CHARS = 150
MAX_CHARS = 900
# The corpus shipped with the package (package-data): what `admedtagger demo` ingests.
BUNDLED_CORPUS = Path(__file__).resolve().parent / "data" / "demo_pl.jsonl"

Template = Callable[["_Ctx"], "tuple[str, str]"]


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def _pl(n: int, one: str, few: str, many: str) -> str:
    """Polish plural form for the number ``n`` (1 / 2-4 / 5+)."""
    if n == 1:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def _count(n: int, one: str, few: str, many: str) -> str:
    return f"{n} {_pl(n, one, few, many)}"


def _acc(drug: str) -> str:
    """Accusative of a single-word drug name (amlodypina -> amlodypinę)."""
    return drug[:-1] + "ę" if drug.endswith("a") else drug


def _ins(drug: str) -> str:
    """Instrumental of a single-word drug name (ramipryl -> ramiprylem)."""
    return drug[:-1] + "ą" if drug.endswith("a") else drug + "em"


def _gen(drug: str) -> str:
    """Genitive of a single-word drug name (amlodypina -> amlodypiny)."""
    return drug[:-1] + "y" if drug.endswith("a") else drug + "u"


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:] if s else s


class _Patient:
    """Sex-dependent word forms, used inside f-strings (``zgłosi{p.la} się``)."""

    def __init__(self, female: bool, age: int) -> None:
        self.female = female
        self.age = age
        if female:
            self.P, self.p = "Pacjentka", "pacjentka"
            self.p_gen, self.p_acc, self.p_dat = "pacjentki", "pacjentkę", "pacjentce"
            self.C, self.c, self.c_gen = "Chora", "chora", "chorej"
            self.la, self.y, self.letni, self.sex = "ła", "a", "letnia", "K"
            self.pan = "Pani"
        else:
            self.P, self.p = "Pacjent", "pacjent"
            self.p_gen, self.p_acc, self.p_dat = "pacjenta", "pacjenta", "pacjentowi"
            self.C, self.c, self.c_gen = "Chory", "chory", "chorego"
            self.la, self.y, self.letni, self.sex = "ł", "y", "letni", "M"
            self.pan = "Pan"


class _Ctx:
    """Thin wrapper around the seeded RNG with slot-filling helpers."""

    def __init__(self, rng: random.Random) -> None:
        self.r = rng

    def ch(self, seq: Sequence):
        return self.r.choice(seq)

    def i(self, lo: int, hi: int) -> int:
        return self.r.randint(lo, hi)

    def f(self, lo: float, hi: float, nd: int = 1) -> str:
        return f"{self.r.uniform(lo, hi):.{nd}f}".replace(".", ",")

    def p(self, prob: float) -> bool:
        return self.r.random() < prob

    def maybe(self, prob: float, text: str) -> str:
        return text if self.r.random() < prob else ""

    def some(self, seq: Sequence, lo: int, hi: int, keep_order: bool = True) -> list:
        k = min(len(seq), self.i(lo, hi))
        idx = self.r.sample(range(len(seq)), k)
        if keep_order:
            idx.sort()
        return [seq[j] for j in idx]

    def shuffled(self, seq: Iterable) -> list:
        out = list(seq)
        self.r.shuffle(out)
        return out

    def day(self) -> _dt.date:
        return _dt.date(2024, 1, 1) + _dt.timedelta(days=self.i(0, 2 * 365 + 300))

    def date(self) -> str:
        return self.day().strftime("%d.%m.%Y")

    def patient(self, female: bool | None = None, lo: int = 25, hi: int = 88) -> _Patient:
        if female is None:
            female = self.p(0.5)
        return _Patient(female, self.i(lo, hi))

    def who(self, p: _Patient) -> str:
        return self.ch([
            f"{p.P} lat {p.age}",
            f"{p.P} l. {p.age}",
            f"{p.age}-{p.letni} {p.p}",
            f"{p.P} w wieku {p.age} lat",
            f"{p.C} l. {p.age}",
        ])

    def demo(self, p: _Patient) -> str:
        return self.ch([
            f"{p.P}: {p.sex}, {p.age} l.",
            f"Płeć: {p.sex}, wiek: {p.age} {_pl(p.age, 'rok', 'lata', 'lat')}.",
            f"{p.P}, lat {p.age}.",
            f"{p.P} ({p.sex}), {p.age} l.",
        ])

    def sig(self, spec: str | None = None) -> str:
        title = self.ch(["lek.", "lek. med.", "dr n. med.", "dr hab. n. med.", "lek."])
        name = self.ch(["A.", "M.", "K.", "J.", "P.", "E.", "T.", "B.", "R.", "D.", "S.", "W."])
        surname = self.ch([
            "Nowak", "Wójcik", "Zając", "Mazur", "Kaczmarek", "Krawczyk", "Dudek",
            "Wróbel", "Pawlak", "Sikora", "Baran", "Michalak", "Szewczyk", "Ostrowska",
            "Jabłońska", "Walczak", "Stępień", "Dziedzic", "Kubiak", "Adamczyk",
        ])
        s = f"{title} {name} {surname}"
        if spec and self.p(0.6):
            s += f", specjalista {spec}"
        return s


def _findings(c: _Ctx, groups: Sequence, lo: int, hi: int, p_abn: float = 0.3,
              keep_order: bool = True) -> tuple[list[str], list[str]]:
    """Pick ``lo..hi`` finding groups; each is (normal variants, abnormal callables).

    Abnormal callables return ``(sentence, impression or None)``.
    """
    sentences: list[str] = []
    impressions: list[str] = []
    for normal, abnormal in c.some(groups, lo, hi, keep_order=keep_order):
        if abnormal and c.p(p_abn):
            s, imp = c.ch(abnormal)()
            sentences.append(s)
            if imp:
                impressions.append(imp)
        else:
            sentences.append(c.ch(normal))
    return sentences, impressions


def _conclusion(c: _Ctx, impressions: list[str], normal: Sequence[str]) -> str:
    if impressions:
        head = c.ch(["Wnioski:", "Podsumowanie:", "Wniosek:", "Rozpoznanie radiologiczne:"])
        return f"{head} {_cap('; '.join(impressions))}."
    return c.ch(normal)


def _lines(*lines) -> str:
    """Join lines; a line may be a string or a list of sentences (joined by spaces)."""
    out = []
    for line in lines:
        if isinstance(line, (list, tuple)):
            line = " ".join(s for s in line if s)
        if line:
            out.append(line)
    return "\n".join(out)


def _terse(c: _Ctx, head: str, frags: Sequence[str], lo: int, hi: int, tail: Sequence[str] = ("",),
           pre: Sequence[str] = ("",), upper: float = 0.25) -> str:
    """Telegraphic note: ``head: frag, frag, frag. tail`` in lower (or upper) case."""
    body = ", ".join(f for f in c.some(frags, lo, hi) if f).rstrip(".")
    txt = _lines(c.ch(pre), f"{head}: {body}.", c.ch(tail))
    roll = c.r.random()
    if roll < upper:
        return txt.upper()
    return txt.lower() if roll < upper + 0.35 else txt


def _clean(text: str) -> str:
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r" ([.,;:])", r"\1", text)
    text = re.sub(r"(?<!\.)\.\.(?!\.)", ".", text)
    return text.strip()


_ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"]
_CONTRAST_CT = ["Omnipaque 350", "Iomeron 400", "Ultravist 370", "Visipaque 320"]
_CONTRAST_MR = ["Gadovist", "Dotarem", "Clariscan", "ProHance"]
_HOSPITALS = [
    "Szpital Wojewódzki", "Szpital Miejski nr 2", "Szpital Specjalistyczny",
    "Uniwersytecki Szpital Kliniczny", "Szpital Powiatowy", "Centrum Medyczne",
]


# --------------------------------------------------------------------------
# Radiology
# --------------------------------------------------------------------------


def _rad_ct_abdomen(c: _Ctx) -> tuple[str, str]:
    p = c.patient()
    agent = c.ch(_CONTRAST_CT)
    header = c.ch([
        "OPIS BADANIA TK", "Opis badania", "Tomografia komputerowa jamy brzusznej i miednicy – opis",
        "Zakład Diagnostyki Obrazowej. Opis badania TK",
    ])
    tech = c.ch([
        f"W badaniu TK jamy brzusznej i miednicy z kontrastem ({agent}, {c.i(80, 120)} ml i.v.), wykonanym w fazie tętniczej i wrotnej, stwierdzono:",
        f"Badanie TK jamy brzusznej i miednicy wykonano przed i po dożylnym podaniu środka kontrastowego ({agent}, {c.i(80, 120)} ml).",
        f"TK jamy brzusznej i miednicy w fazie natywnej oraz po podaniu kontrastu i.v. ({agent}).",
    ])
    indication = c.maybe(0.6, "Wskazanie: " + c.ch([
        "bóle brzucha o niejasnej etiologii", "podwyższona aktywność enzymów wątrobowych",
        "utrata masy ciała", "ocena zmiany w wątrobie uwidocznionej w USG",
        "podejrzenie kamicy nerkowej", "niedokrwistość o niejasnej przyczynie",
    ]) + ".")
    seg = _ROMAN[1:8]
    groups = [
        (["Wątroba niepowiększona, o jednorodnym miąższu, bez zmian ogniskowych.",
          "Wątroba prawidłowej wielkości, o jednorodnej densyjności, bez zmian ogniskowych."],
         [lambda s=c.ch(seg): (f"W segmencie {s} wątroby hipodensyjna, ostro odgraniczona zmiana o wymiarach {c.i(8, 30)} x {c.i(6, 25)} mm, o gęstości ok. {c.i(2, 15)} HU, niewzmacniająca się po kontraście – obraz odpowiada torbieli prostej.", f"torbiel prosta wątroby w segmencie {s}"),
          lambda: (f"Wątroba powiększona (wymiar czaszkowo-ogonowy {c.f(17, 21)} cm), o obniżonej densyjności miąższu ({c.i(25, 40)} HU w fazie natywnej) – stłuszczenie.", "hepatomegalia ze stłuszczeniem wątroby"),
          lambda s=c.ch(seg): (f"W segmencie {s} wątroby zmiana o wymiarach {c.i(12, 35)} mm z obwodowym, guzkowym wzmocnieniem w fazie tętniczej i wypełnianiem się w fazie późnej – obraz typowy dla naczyniaka.", f"naczyniak wątroby w segmencie {s}")]),
        (["Pęcherzyk żółciowy bez uwapnionych złogów.", "Pęcherzyk żółciowy dobrze wypełniony, o cienkich ścianach."],
         [lambda: (f"W pęcherzyku żółciowym uwapniony złóg śr. {c.i(6, 22)} mm.", "kamica pęcherzyka żółciowego"),
          lambda: ("Stan po cholecystektomii.", None)]),
        (["Drogi żółciowe wewnątrz- i zewnątrzwątrobowe nieposzerzone."],
         [lambda: (f"Przewód żółciowy wspólny poszerzony do {c.i(9, 14)} mm, bez uwidocznionej przyczyny.", "poszerzenie przewodu żółciowego wspólnego – do rozważenia MRCP")]),
        (["Trzustka prawidłowej grubości, o zrazikowej budowie.", "Trzustka bez zmian ogniskowych."],
         [lambda: ("Trzustka obrzęknięta, z pasmowatymi naciekami w otaczającej tkance tłuszczowej – obraz ostrego zapalenia trzustki.", "cechy ostrego zapalenia trzustki")]),
        ([f"Śledziona niepowiększona (długość {c.f(9, 12)} cm).", "Śledziona bez zmian."],
         [lambda: (f"Śledziona powiększona, długości {c.f(14, 17)} cm.", "splenomegalia")]),
        (["Nadnercza smukłe, bez zmian ogniskowych."],
         [lambda: (f"W {c.ch(['lewym', 'prawym'])} nadnerczu guzek o wymiarach {c.i(10, 25)} mm, o densyjności {c.i(-5, 9)} HU w fazie natywnej – obraz typowy dla gruczolaka.", "incydentaloma nadnercza o cechach gruczolaka")]),
        (["Nerki prawidłowej wielkości i położenia, bez cech zastoju w układach kielichowo-miedniczkowych.",
          "Nerki symetrycznie wydzielają kontrast, bez złogów i bez zastoju."],
         [lambda: (f"W {c.ch(['górnym', 'dolnym'])} biegunie nerki {c.ch(['prawej', 'lewej'])} torbiel prosta śr. {c.i(10, 45)} mm (Bosniak I).", "torbiel prosta nerki (Bosniak I)"),
          lambda: (f"W moczowodzie {c.ch(['prawym', 'lewym'])} na wysokości L{c.i(3, 5)} złóg śr. {c.i(3, 9)} mm z poszerzeniem układu kielichowo-miedniczkowego do {c.i(12, 25)} mm.", "kamica moczowodowa z zastojem moczu")]),
        (["Nie uwidoczniono powiększonych węzłów chłonnych w jamie brzusznej ani w miednicy.",
          "Węzły chłonne zaotrzewnowe i miednicy niepowiększone."],
         [lambda: (f"Pojedyncze węzły chłonne okołoaortalne do {c.i(8, 11)} mm w osi krótkiej.", None)]),
        (["Aorta brzuszna prawidłowej szerokości, ze zmianami miażdżycowymi."],
         [lambda: (f"Aorta podnerkowa poszerzona tętniakowato do {c.i(32, 55)} mm na odcinku {c.i(40, 80)} mm, ze skrzepliną przyścienną.", "tętniak aorty brzusznej podnerkowej")]),
        (["Nie stwierdzono wolnego płynu ani wolnego gazu w jamie otrzewnej."],
         [lambda: ("Niewielka ilość wolnego płynu w miednicy mniejszej.", None)]),
        (["Pętle jelitowe nieposzerzone, bez poziomów płynów.", "Jelito grube bez pogrubienia ścian."],
         [lambda: ("Liczne uchyłki esicy, bez cech zapalenia.", "uchyłkowatość esicy"),
          lambda: (f"Pogrubienie ściany esicy z naciekiem zapalnym okolicznej tkanki tłuszczowej i drobnym ropniem śr. {c.i(12, 30)} mm.", "ostre zapalenie uchyłków esicy z ropniem")]),
        (["Pęcherz moczowy średnio wypełniony, o gładkich ścianach."], []),
        (["W uwidocznionych kościach zmiany zwyrodnieniowe kręgosłupa, bez zmian destrukcyjnych.", "Kości bez zmian ogniskowych."],
         [lambda n=c.i(1, 4): (f"Złamanie kompresyjne trzonu L{n} z obniżeniem wysokości o ok. {c.i(20, 40)}%.", f"złamanie kompresyjne trzonu L{n}")]),
    ]
    found, imps = _findings(c, groups, 4, 7)
    concl = _conclusion(c, imps, [
        "Wnioski: obraz TK jamy brzusznej i miednicy bez istotnych odchyleń od normy.",
        "Podsumowanie: bez zmian ogniskowych w narządach miąższowych jamy brzusznej.",
        "Wniosek: badanie w normie.",
    ])
    return "imaging", _lines(header, [c.maybe(0.4, c.demo(p)), indication], [tech] + found, concl,
                             c.maybe(0.4, c.sig("radiologii i diagnostyki obrazowej")))


def _rad_cxr(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=18, hi=92)
    header = c.ch([
        "RTG klatki piersiowej w projekcji PA", "RTG klatki piersiowej PA i boczne",
        "Zdjęcie przeglądowe klatki piersiowej (PA)", "RTG kl. piersiowej – opis badania",
        "Opis badania: RTG klatki piersiowej AP (przyłóżkowe)",
    ])
    indication = c.maybe(0.6, "Wskazanie: " + c.ch([
        "kaszel od 3 tygodni", "gorączka i duszność", "kontrola po zapaleniu płuc",
        "badanie przed zabiegiem operacyjnym", "uraz klatki piersiowej", "badanie okresowe",
    ]) + ".")
    groups = [
        (["Pola płucne bez zmian ogniskowych i naciekowych.", "Miąższ płucny bez zagęszczeń.",
          "Pola płucne prawidłowo powietrzne, bez zmian ogniskowych."],
         [lambda s=c.ch(["prawego", "lewego"]): (f"W polu dolnym płuca {s} zagęszczenie miąższowe z bronchogramem powietrznym – obraz odpowiada zmianom zapalnym.", f"zmiany zapalne w polu dolnym płuca {s}"),
          lambda s=c.ch(["prawego", "lewego"]): (f"W polu środkowym płuca {s} okrągły cień o średnicy {c.i(9, 28)} mm – wskazane poszerzenie diagnostyki o TK klatki piersiowej.", "zmiana ogniskowa w płucu – do dalszej diagnostyki"),
          lambda: ("Wzmożony rysunek śródmiąższowy w polach dolnych obu płuc.", "zmiany śródmiąższowe u podstawy płuc"),
          lambda: ("Cechy rozedmy: spłaszczenie przepony i zwiększona przejrzystość pól płucnych.", "cechy rozedmy płuc")]),
        (["Wnęki naczyniowe, nieposzerzone.", "Wnęki płucne prawidłowe."],
         [lambda: ("Wnęki poszerzone, o zatartym rysunku naczyniowym – obraz zastoju w krążeniu płucnym.", "cechy zastoju w krążeniu płucnym")]),
        (["Śródpiersie nieposzerzone.", "Tchawica w linii pośrodkowej."], []),
        ([f"Sylwetka serca w normie (wskaźnik sercowo-płucny 0,{c.i(42, 49)}).", "Serce niepowiększone."],
         [lambda: (f"Sylwetka serca poszerzona w lewo, wskaźnik sercowo-płucny 0,{c.i(55, 63)}.", "powiększenie sylwetki serca")]),
        (["Kąty przeponowo-żebrowe wolne."],
         [lambda s=c.ch([("prawym", "prawej"), ("lewym", "lewej")]): (f"Niewielka ilość płynu w {s[0]} kącie przeponowo-żebrowym.", f"niewielka ilość płynu w {s[1]} jamie opłucnej")]),
        (["Przepona gładka, prawidłowo ustawiona.", "Kopuły przepony o gładkich zarysach."], []),
        (["Bez cech odmy opłucnowej."], []),
        (["Uwidocznione struktury kostne bez zmian urazowych.", "Kościec bez zmian ogniskowych."],
         [lambda: (f"Złamanie żebra {c.ch(_ROMAN[5:9])} po stronie {c.ch(['lewej', 'prawej'])} bez przemieszczenia odłamów.", "złamanie żebra bez przemieszczenia")]),
    ]
    found, imps = _findings(c, groups, 4, 7)
    concl = _conclusion(c, imps, [
        "Wniosek: RTG klatki piersiowej bez zmian.", "Obraz klatki piersiowej w normie.",
        "Podsumowanie: bez zmian patologicznych w obrębie płuc i serca.", "",
    ])
    return "imaging", _lines(header, [c.maybe(0.4, c.demo(p)), indication], found, concl,
                             c.maybe(0.3, c.sig("radiologii i diagnostyki obrazowej")))


def _rad_mr_head(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=20, hi=85)
    header = c.ch(["MR głowy bez i z kontrastem", "Rezonans magnetyczny mózgowia", "Badanie MR głowy – opis",
                   "MR mózgowia z gadolinem", "OPIS BADANIA MR GŁOWY"])
    tech = c.ch([
        f"Badanie wykonano w sekwencjach T1, T2, FLAIR, DWI i SWI, przed i po dożylnym podaniu środka kontrastowego ({c.ch(_CONTRAST_MR)}, {c.i(5, 15)} ml).",
        f"MR głowy w sekwencjach T2, FLAIR, DWI oraz T1 przed i po podaniu kontrastu ({c.ch(_CONTRAST_MR)}).",
        "Badanie wykonano aparatem 1,5 T, w płaszczyznach osiowej, czołowej i strzałkowej.",
    ])
    indication = c.maybe(0.6, "Wskazanie: " + c.ch([
        "przewlekłe bóle głowy", "zawroty głowy i zaburzenia równowagi", "napad drgawek",
        "niedowład kończyn prawych", "zaburzenia pamięci",
    ]) + ".")
    lobes = ["płacie czołowym", "płacie skroniowym", "płacie ciemieniowym", "płacie potylicznym"]
    groups = [
        (["Układ komorowy symetryczny, nieposzerzony.", "Układ komorowy prawidłowej szerokości."],
         [lambda: ("Układ komorowy poszerzony odpowiednio do zaników korowo-podkorowych.", "zanik korowo-podkorowy mózgu")]),
        (["Struktury środkowe nieprzemieszczone."], []),
        (["Bez ognisk patologicznego sygnału w istocie białej.", "Istota biała bez zmian ogniskowych."],
         [lambda f=c.i(1, 2): (f"W istocie białej obu półkul mózgu pojedyncze drobne ogniska hiperintensywne w obrazach T2 i FLAIR, do {c.i(3, 7)} mm – zmiany o charakterze naczyniopochodnym (Fazekas {f}).", f"drobne zmiany naczyniopochodne w istocie białej (Fazekas {f})")]),
        (["W sekwencji DWI bez cech świeżego niedokrwienia.", "Bez ognisk ograniczonej dyfuzji."],
         [lambda: (f"W sekwencji DWI ognisko restrykcji dyfuzji w {c.ch(lobes)} {c.ch(['lewym', 'prawym'])} o wymiarach {c.i(8, 25)} mm – świeże ognisko niedokrwienne.", "świeży udar niedokrwienny")]),
        (["Po podaniu kontrastu nie stwierdzono patologicznego wzmocnienia.", "Bez ognisk patologicznego wzmocnienia kontrastowego."],
         [lambda: (f"Po podaniu kontrastu w {c.ch(lobes)} {c.ch(['lewym', 'prawym'])} obrączkowato wzmacniająca się zmiana o wymiarach {c.i(12, 40)} x {c.i(10, 35)} mm z rozległym obrzękiem okołoogniskowym.", "zmiana ogniskowa mózgu wzmacniająca się obwodowo – do różnicowania (guz pierwotny, przerzut, ropień)"),
          lambda: (f"Przy sierpie mózgu, w okolicy czołowej, przyoponowa zmiana o wymiarach {c.i(12, 30)} mm, jednorodnie wzmacniająca się, z objawem ogona oponowego.", "obraz typowy dla oponiaka sierpa mózgu")]),
        (["Przestrzenie płynowe przymózgowe nieposzerzone."], []),
        (["Zatoki przynosowe prawidłowo powietrzne.", "Zatoki przynosowe i komórki powietrzne wyrostków sutkowatych prawidłowo powietrzne."],
         [lambda: ("Pogrubienie błony śluzowej zatok szczękowych.", None)]),
        (["Przysadka prawidłowej wielkości.", "Okolica siodła tureckiego bez zmian."], []),
    ]
    found, imps = _findings(c, groups, 4, 7)
    concl = _conclusion(c, imps, ["Wniosek: obraz MR mózgowia w granicach normy.",
                                  "Bez zmian ogniskowych w mózgowiu.", "Podsumowanie: MR głowy bez zmian patologicznych."])
    return "imaging", _lines(header, [c.maybe(0.3, c.demo(p)), indication], [tech] + found, concl)


def _rad_usg_abdomen(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=18, hi=85)
    header = c.ch(["USG jamy brzusznej", "Badanie ultrasonograficzne jamy brzusznej", "USG j. brzusznej – opis",
                   "Opis badania USG jamy brzusznej"])
    groups = [
        ([f"Wątroba niepowiększona ({c.f(13, 16)} cm w linii środkowo-obojczykowej), o prawidłowej echogeniczności, bez zmian ogniskowych."],
         [lambda: ("Wątroba o wzmożonej echogeniczności, z osłabieniem penetracji fali – obraz stłuszczenia.", "stłuszczenie wątroby"),
          lambda: (f"W prawym płacie wątroby hiperechogeniczna, dobrze odgraniczona zmiana śr. {c.i(8, 20)} mm – obraz mogący odpowiadać naczyniakowi.", "prawdopodobny naczyniak wątroby")]),
        ([f"Drogi żółciowe nieposzerzone, przewód żółciowy wspólny {c.i(3, 6)} mm."], []),
        (["Pęcherzyk żółciowy o cienkich ścianach, bez złogów."],
         [lambda: (f"W pęcherzyku żółciowym liczne złogi do {c.i(5, 18)} mm, dające cień akustyczny.", "kamica pęcherzyka żółciowego")]),
        (["Trzustka w dostępnych fragmentach bez zmian.", "Trzustka słabo widoczna z powodu gazów jelitowych."], []),
        ([f"Nerka prawa {c.f(10, 12)} cm, nerka lewa {c.f(10, 12)} cm, o prawidłowej grubości miąższu, bez zastoju i bez złogów."],
         [lambda: (f"W nerce {c.ch(['lewej', 'prawej'])} złóg {c.i(4, 9)} mm w kielichu dolnym, bez poszerzenia UKM.", "kamica nerkowa bez zastoju")]),
        (["Śledziona niepowiększona, jednorodna."], []),
        (["Aorta brzuszna w dostępnym odcinku nieposzerzona."], []),
        (["Pęcherz moczowy dobrze wypełniony, o gładkich ścianach."], []),
        (["Nie stwierdzono wolnego płynu w jamie otrzewnej."], []),
    ]
    if p.female:
        groups.insert(8, (["Macica i przydatki w badaniu przezbrzusznym bez uchwytnych zmian."], []))
    else:
        groups.insert(8, ([f"Gruczoł krokowy o wymiarach {c.i(35, 55)} x {c.i(30, 45)} mm, objętość ok. {c.i(22, 60)} ml."], []))
    found, imps = _findings(c, groups, 5, 8, p_abn=0.35)
    concl = _conclusion(c, imps, ["Wniosek: USG jamy brzusznej bez odchyleń od normy.", "Obraz USG w normie.",
                                  "Bez zmian patologicznych w badaniu USG."])
    return "imaging", _lines(header, c.maybe(0.5, c.demo(p)), found, concl,
                             c.maybe(0.3, c.sig("radiologii i diagnostyki obrazowej")))


def _rad_referral(c: _Ctx) -> tuple[str, str]:
    exams = [
        ("MR odcinka lędźwiowego kręgosłupa", "M54.5", "Ból okolicy lędźwiowo-krzyżowej",
         f"ból okolicy lędźwiowej z promieniowaniem do {c.ch(['lewej', 'prawej'])} kończyny dolnej od {c.i(6, 12)} tygodni, bez poprawy po leczeniu zachowawczym",
         "ocena dyskopatii i ucisku na struktury nerwowe", False),
        ("TK głowy bez kontrastu", "R51", "Ból głowy",
         "nowy, silny ból głowy u osoby po 50. roku życia, bez objawów ogniskowych",
         "wykluczenie zmian wewnątrzczaszkowych", False),
        ("TK klatki piersiowej z kontrastem", "R91", "Nieprawidłowe wyniki badań obrazowych płuc",
         f"w RTG klatki piersiowej okrągły cień w płucu {c.ch(['prawym', 'lewym'])} śr. {c.i(10, 25)} mm, palacz ({c.i(20, 45)} paczkolat)",
         "charakterystyka zmiany ogniskowej płuca", True),
        ("USG tarczycy", "E04.1", "Wole guzkowe pojedyncze nietoksyczne",
         "wyczuwalny guzek w płacie prawym tarczycy, TSH w normie", "ocena guzka i kwalifikacja do BACC", False),
        (f"MR stawu kolanowego {c.ch(['prawego', 'lewego'])}", "M23.2", "Uszkodzenie łąkotki",
         "ból i blokowanie kolana po urazie skrętnym sprzed 2 miesięcy, objaw McMurraya dodatni",
         "ocena łąkotek i więzadeł", False),
        ("USG Doppler tętnic szyjnych", "I65.2", "Niedrożność i zwężenie tętnicy szyjnej",
         "szmer nad lewą tętnicą szyjną, przemijające zaburzenia widzenia", "ocena stopnia zwężenia", False),
        ("TK jamy brzusznej i miednicy z kontrastem", "R10.4", "Inne i nieokreślone bóle brzucha",
         "nawracające bóle brzucha, w USG nieprawidłowy obraz trzustki", "ocena trzustki i przestrzeni zaotrzewnowej", True),
    ]
    exam, icd, icd_name, info, goal, contrast = c.ch(exams)
    p = c.patient(lo=30, hi=80)
    parts = [
        f"Rozpoznanie: {icd} – {icd_name}.",
        f"Informacje kliniczne: {info}.",
        f"Cel badania: {goal}.",
        c.maybe(0.5, f"Tryb: {c.ch(['planowy', 'pilny', 'pilny – podejrzenie choroby nowotworowej'])}."),
    ]
    if contrast:
        parts.append(f"Kreatynina {c.f(0.6, 1.2, 2)} mg/dl, eGFR {c.i(65, 110)} ml/min/1,73 m² – brak przeciwwskazań do podania kontrastu jodowego.")
        parts.append(c.ch(["Uczulenia na jod neguje.", "Bez uczuleń na środki kontrastowe w wywiadzie.", ""]))
    body = parts[:1] + c.shuffled(parts[1:])
    head = c.ch([f"Skierowanie na badanie: {exam}", f"SKIEROWANIE – {exam}", f"Proszę o wykonanie badania: {exam}"])
    return "referral", _lines(head, c.demo(p), body, c.maybe(0.5, c.sig()))


def _rad_ctpa(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=25, hi=88)
    header = c.ch(["Angio-TK tętnic płucnych", "Angio-TK klatki piersiowej (protokół w kierunku zatorowości płucnej)",
                   "Opis badania: angio-TK tętnic płucnych"])
    ind = c.maybe(0.7, f"Wskazanie: duszność, D-dimery {c.i(900, 6000)} ng/ml, podejrzenie zatorowości płucnej.")
    pe = c.p(0.5)
    parts = []
    if pe:
        lobe = c.ch(["płata dolnego prawego", "płata dolnego lewego", "płata środkowego", "płata górnego prawego"])
        parts.append(f"W tętnicach {c.ch(['segmentalnych', 'płatowych i segmentalnych'])} {lobe} ubytki wypełnienia kontrastem – obraz materiału zatorowego.")
        rvlv = c.f(0.8, 1.4, 2)
        parts.append(f"Stosunek wymiarów RV/LV {rvlv}.")
        concl = c.ch(["Wniosek: zatorowość płucna", "Rozpoznanie radiologiczne: zatorowość płucna"]) + f" w gałęziach {lobe}."
    else:
        parts.append(c.ch([
            "Tętnica płucna i jej gałęzie do poziomu tętnic podsegmentalnych prawidłowo zakontrastowane, bez ubytków wypełnienia.",
            "Nie uwidoczniono ubytków wypełnienia w tętnicach płucnych.",
        ]))
        concl = c.ch(["Wniosek: nie stwierdza się cech zatorowości płucnej.", "Bez cech zatorowości płucnej."])
    parts += c.some([
        f"Pień płucny szerokości {c.i(22, 33)} mm.",
        c.ch(["Miąższ płucny bez zmian ogniskowych.", f"Zmiany niedodmowe w segmentach podstawnych płuca {c.ch(['prawego', 'lewego'])}."]),
        c.ch(["Bez płynu w jamach opłucnej.", "Niewielka ilość płynu w prawej jamie opłucnej."]),
        "Węzły chłonne śródpiersia niepowiększone.",
        "Serce niepowiększone, bez płynu w worku osierdziowym.",
    ], 2, 4)
    return "imaging", _lines(header, [c.maybe(0.4, c.demo(p)), ind], parts, concl)


def _rad_mr_spine(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=28, hi=80)
    lvl = c.ch(["L4-L5", "L5-S1", "L3-L4"])
    side = c.ch(["lewo", "prawo"])
    header = c.ch(["MR odcinka lędźwiowego kręgosłupa", "Rezonans magnetyczny kręgosłupa L-S", "Opis badania MR kręgosłupa lędźwiowego"])
    parts = c.some([
        c.ch(["Lordoza lędźwiowa spłycona.", "Lordoza lędźwiowa zachowana."]),
        "Trzony kręgów prawidłowej wysokości, ze zmianami zwyrodnieniowymi w postaci osteofitów brzeżnych.",
        f"Krążki międzykręgowe {c.ch(['L4-L5 i L5-S1', 'L3-L4 i L4-L5'])} odwodnione, o obniżonej wysokości.",
        f"Zmiany typu Modic {c.i(1, 2)} w płytkach granicznych trzonów na poziomie {lvl}.",
        "Stożek rdzenia na wysokości L1, o prawidłowym sygnale.",
        f"Stawy międzywyrostkowe na poziomie {lvl} ze zmianami zwyrodnieniowymi.",
    ], 2, 5)
    hern = f"Na poziomie {lvl} centralno-{side}boczna przepuklina krążka międzykręgowego wielkości ok. {c.i(4, 9)} mm, modelująca worek oponowy i zwężająca {'lewy' if side == 'lewo' else 'prawy'} zachyłek boczny."
    canal = f"Kanał kręgowy na poziomie {lvl} zwężony do {c.i(8, 12)} mm w wymiarze strzałkowym."
    parts.insert(c.i(0, len(parts)), hern)
    if c.p(0.5):
        parts.append(canal)
    concl = c.ch([
        f"Wnioski: przepuklina krążka {lvl} z uciskiem na korzeń {c.ch(['L5', 'S1'])} po stronie {'lewej' if side == 'lewo' else 'prawej'}; zmiany zwyrodnieniowe kręgosłupa.",
        f"Podsumowanie: dyskopatia {lvl} z przepukliną {side}boczną.",
    ])
    return "imaging", _lines(header, c.maybe(0.5, c.demo(p)), parts, concl)


def _rad_xray_bone(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=16, hi=90)
    region, normal, abn = c.ch([
        (f"RTG stawu skokowego {c.ch(['prawego', 'lewego'])} w projekcji AP i bocznej",
         "Bez cech złamania i zwichnięcia. Szpara stawowa prawidłowej szerokości.",
         f"Złamanie kostki bocznej bez istotnego przemieszczenia odłamów (typ B wg Webera). Obrzęk tkanek miękkich."),
        (f"RTG nadgarstka {c.ch(['prawego', 'lewego'])} PA i bok",
         "Struktury kostne nadgarstka bez cech złamania.",
         "Złamanie dalszej nasady kości promieniowej z przemieszczeniem grzbietowym odłamu obwodowego (typu Collesa)."),
        (f"RTG stawu kolanowego {c.ch(['prawego', 'lewego'])} AP i boczne",
         "Szpara stawowa prawidłowej szerokości, bez zmian zwyrodnieniowych.",
         f"Szpara stawowa w przedziale przyśrodkowym zwężona, osteofity brzeżne – zmiany zwyrodnieniowe {c.ch(['II', 'III'])} stopnia wg Kellgrena-Lawrence'a."),
        ("RTG stawów biodrowych AP",
         "Stawy biodrowe o prawidłowej szerokości szpar stawowych.",
         f"Zwężenie szpary stawu biodrowego {c.ch(['prawego', 'lewego'])}, sklerotyzacja podchrzęstna i torbiele zwyrodnieniowe panewki – koksartroza."),
        ("RTG odcinka szyjnego kręgosłupa AP i boczne",
         "Lordoza szyjna zachowana, trzony kręgów prawidłowej wysokości.",
         "Lordoza szyjna wyprostowana, osteofity na przednich krawędziach trzonów C5-C6, zwężenie przestrzeni międzykręgowej C5-C6."),
    ])
    extra = c.some(["Tkanki miękkie bez zmian.", "Struktura kostna prawidłowa, bez cech osteoporozy.", "Bez odczynu okostnowego.",
                    "Bez ciał wolnych w stawie.",
                    f"Porównano z badaniem z dnia {c.date()}."], 1, 3)
    ind = "Wskazanie: " + c.ch(["uraz", "ból przy obciążaniu", "kontrola po unieruchomieniu", "ograniczenie ruchomości",
                                "ból od kilku tygodni", "uraz komunikacyjny"]) + "."
    abnormal = c.p(0.5)
    concl = c.ch(["Wniosek: zmiany jak w opisie.", "Do konsultacji ortopedycznej."]) if abnormal else c.ch(["Wniosek: bez zmian urazowych.", "Obraz prawidłowy.", ""])
    return "imaging", _lines(c.ch([region, "Opis badania RTG " + region[4:]]), [c.maybe(0.7, c.demo(p)), ind],
                             [abn if abnormal else normal] + extra, concl, c.maybe(0.3, c.sig("radiologii")))


def _rad_mammo(c: _Ctx) -> tuple[str, str]:
    p = c.patient(female=True, lo=45, hi=74)
    acr = c.ch([("tłuszczowej", "A"), ("z rozproszonymi obszarami tkanki włóknisto-gruczołowej", "B"),
                ("heterogennie gęstej", "C"), ("o bardzo dużej gęstości", "D")])
    header = c.ch(["Mammografia obu piersi (projekcje CC i MLO)", "Mammografia skryningowa", "Opis badania mammograficznego"])
    parts = [f"Piersi o budowie {acr[0]} (typ ACR {acr[1]})."]
    if c.p(0.6):
        parts.append(c.ch(["Nie stwierdzono podejrzanych mas, mikrozwapnień ani zaburzeń architektoniki.",
                           "Bez zmian ogniskowych i skupisk mikrozwapnień."]))
        birads = c.ch(["BI-RADS 1 – kontrola w ramach programu skryningowego za 2 lata.",
                       "BI-RADS 2 – zmiany łagodne (uwapnione gruczolakowłókniaki), kontrola za 2 lata."])
    else:
        parts.append(f"W kwadrancie {c.ch(['górnym zewnętrznym', 'górnym wewnętrznym', 'dolnym zewnętrznym'])} piersi {c.ch(['lewej', 'prawej'])} zagęszczenie o nieregularnych, spikularnych zarysach, wielkości {c.i(8, 25)} mm, z towarzyszącymi drobnymi mikrozwapnieniami.")
        birads = c.ch(["BI-RADS 4 – wskazana biopsja gruboigłowa pod kontrolą USG.",
                       "BI-RADS 5 – zmiana wysoce podejrzana, wskazana pilna weryfikacja histopatologiczna."])
    parts.append(c.ch(["Węzły chłonne pachowe niepowiększone.", "W dołach pachowych węzły chłonne o zachowanej wnęce tłuszczowej."]))
    return "imaging", _lines(header, c.maybe(0.6, f"{c.who(p)}, {c.ch(['skryning', 'kontrola', 'badanie diagnostyczne'])}."),
                             c.shuffled(parts[1:]) if c.p(0.3) else parts, birads)


def _rad_usg_thyroid(c: _Ctx) -> tuple[str, str]:
    p = c.patient(female=c.p(0.75), lo=20, hi=80)
    r1 = [c.i(14, 22), c.i(13, 20), c.i(40, 55)]
    l1 = [c.i(13, 21), c.i(12, 19), c.i(38, 52)]
    parts = [
        f"Tarczyca położona typowo, płat prawy {r1[0]} x {r1[1]} x {r1[2]} mm, płat lewy {l1[0]} x {l1[1]} x {l1[2]} mm, objętość całkowita ok. {c.i(9, 24)} ml.",
        c.ch(["Echogeniczność miąższu prawidłowa.", "Miąższ o obniżonej, niejednorodnej echogeniczności – obraz mogący odpowiadać zapaleniu autoimmunologicznemu."]),
    ]
    if c.p(0.65):
        echo = c.ch(["hipoechogeniczny", "izoechogeniczny", "mieszany"])
        irregular, micro = c.p(0.3), c.p(0.3)
        tir = "5" if echo == "hipoechogeniczny" and (irregular or micro) else ("4" if echo == "hipoechogeniczny" else "3")
        parts.append(f"W płacie {c.ch(['prawym', 'lewym'])} {echo} guzek o wymiarach {c.i(7, 28)} x {c.i(6, 20)} mm, o {'nieregularnych' if irregular else 'regularnych'} zarysach, {'z pojedynczymi mikrozwapnieniami' if micro else 'bez mikrozwapnień'}, z przepływem obwodowym w badaniu dopplerowskim.")
        concl = f"Wniosek: guzek tarczycy EU-TIRADS {tir}" + (" – wskazana BACC." if tir != "3" else " – kontrola USG za 12 miesięcy.")
    else:
        concl = "Wniosek: bez zmian ogniskowych w tarczycy."
    parts.append(c.ch(["Węzły chłonne szyi niepowiększone.", "Pojedyncze węzły chłonne szyi o prawidłowej budowie."]))
    return "imaging", _lines(c.ch(["USG tarczycy", "USG tarczycy i węzłów chłonnych szyi", "Badanie ultrasonograficzne tarczycy"]),
                             c.maybe(0.5, c.demo(p)), parts, concl)


def _rad_carotid(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=50, hi=88)
    side = c.ch([("prawej", "prawa"), ("lewej", "lewa")])
    sten = c.i(30, 80)
    parts = c.some([
        f"Kompleks błony wewnętrznej i środkowej (IMT) tętnic szyjnych wspólnych {c.f(0.7, 1.3)} mm.",
        f"W opuszce i początkowym odcinku tętnicy szyjnej wewnętrznej {side[0]} hipoechogeniczna blaszka miażdżycowa zwężająca światło o ok. {sten}%, PSV {c.i(110, 290)} cm/s.",
        f"Tętnica szyjna wewnętrzna {c.ch(['prawa', 'lewa'])} bez istotnego hemodynamicznie zwężenia.",
        "Przepływ w tętnicach kręgowych dogłowowy, prawidłowy.",
        "Tętnice szyjne zewnętrzne drożne.",
    ], 3, 5)
    concl = f"Wniosek: {'istotne hemodynamicznie ' if sten >= 70 else ''}zwężenie tętnicy szyjnej wewnętrznej {side[0]} ok. {sten}%." \
        if any("zwężająca" in s for s in parts) else "Wniosek: bez istotnych zwężeń w tętnicach szyjnych i kręgowych."
    return "imaging", _lines(c.ch(["USG Doppler tętnic szyjnych i kręgowych", "Badanie dopplerowskie tętnic dogłowowych"]),
                             c.maybe(0.5, c.demo(p)), parts, concl, c.maybe(0.3, c.sig()))


# --- Radiology hard cases ---------------------------------------------------


def _rad_h_staging(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=40, hi=82)
    cancer = c.ch(["rakiem jelita grubego", "rakiem płuca", "rakiem nerki", "rakiem piersi", "czerniakiem"])
    prev = c.i(18, 45)
    resp = c.ch(["pr", "sd", "pd"])
    now = {"pr": int(prev * c.r.uniform(0.4, 0.65)), "sd": int(prev * c.r.uniform(0.9, 1.1)), "pd": int(prev * c.r.uniform(1.25, 1.6))}[resp]
    header = c.ch(["TK klatki piersiowej, jamy brzusznej i miednicy z kontrastem – badanie kontrolne",
                   "Opis badania TK (ocena odpowiedzi na leczenie)", "TK KLP + JB + MN z kontrastem i.v."])
    parts = [
        f"{c.who(p)} z {cancer}, w trakcie leczenia systemowego.",
        f"Badanie porównano z poprzednim z dnia {c.date()}.",
        f"Zmiana referencyjna w {c.ch(['segmencie VI wątroby', 'płacie dolnym płuca prawego', 'węźle chłonnym przywnękowym lewym'])} ma obecnie {now} mm (poprzednio {prev} mm).",
    ]
    extra = c.some([
        "Nie stwierdzono nowych zmian ogniskowych." if resp != "pd" else f"Nowe ogniska hipodensyjne w wątrobie do {c.i(6, 15)} mm – podejrzane o przerzuty.",
        "Węzły chłonne śródpiersia i jamy brzusznej niepowiększone.",
        "Bez płynu w jamach opłucnej i jamie otrzewnej.",
        "Bez zmian osteolitycznych w uwidocznionym kośćcu.",
    ], 2, 4)
    verdict = {"pr": "częściowa odpowiedź (PR)", "sd": "stabilizacja choroby (SD)", "pd": "progresja choroby (PD)"}[resp]
    return "imaging", _lines(header, parts + extra, f"Ocena wg RECIST 1.1: {verdict}.")


def _rad_h_negative(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=35, hi=85)
    kind_, intro = c.ch([
        ("TK klatki piersiowej – kontrola guzka płuca", f"kontrola guzka płuca {c.ch(['prawego', 'lewego'])} opisanego w badaniu z {c.date()}."),
        ("MR jamy brzusznej", "ocena zmiany ogniskowej wątroby widocznej w USG."),
        ("TK jamy brzusznej z kontrastem", "podejrzenie procesu rozrostowego – utrata masy ciała."),
        ("Opis badania: MR przysadki", "bóle głowy, podwyższona prolaktyna."),
    ])
    neg = c.some([
        "Nie stwierdzono zmian ogniskowych.",
        "Bez cech procesu nowotworowego.",
        "Nie uwidoczniono zmian podejrzanych o przerzuty.",
        "Węzły chłonne niepowiększone.",
        "Wcześniej opisywana zmiana nie jest obecnie widoczna – najpewniej miała charakter zapalny.",
        "Bez płynu w jamach ciała.",
    ], 3, 5, keep_order=False)
    return "imaging", _lines(kind_, [c.maybe(0.5, c.demo(p)), "Wskazanie: " + intro], neg,
                             c.ch(["Wniosek: bez zmian patologicznych; nie ma wskazań do dalszej diagnostyki obrazowej.",
                                   "Wniosek: badanie bez cech nowotworu.", "Obraz prawidłowy."]))


def _rad_h_terse(c: _Ctx) -> tuple[str, str]:
    pre = [f"pac. {c.i(20, 88)} l.", f"{c.ch(['k', 'm'])}, {c.i(20, 88)} l., skier. z POZ", f"wskazanie: {c.ch(['kaszel', 'ból brzucha', 'uraz głowy', 'ból kolana', 'palacz, kontrola'])}"]
    head, frags, tail = c.ch([
        (c.ch(["rtg kl. p. pa", "rtg klp pa + bok", "rtg kl. piersiowej ap przyłóżkowe"]),
         ["pola płucne bez zagęszczeń", "bez zmian ogniskowych", "wnęki naczyniowe", "sylwetka serca nie powiększona",
          f"wsk. s-p 0,{c.i(42, 50)}", "kąty p-ż wolne", "przepona gładka", "bez odmy", "śródpiersie nieposzerz.", "kościec b/z"],
         ["wniosek: bez zmian.", "obraz prawidłowy.", "b/z."]),
        (c.ch(["usg j.b.", "usg jamy brzusznej"]),
         ["wątroba nie powiększona, jednorodna", "bez zmian ogn.", "pęcherzyk bez złogów", "drogi żółciowe nieposzerz.",
          "trzustka b/z w dostępnych fragm.", "nerki b/z, bez zastoju i złogów", f"śledziona {c.f(9, 12)} cm", "płynu wolnego brak",
          "aorta nieposzerz.", "pęcherz moczowy gładkościenny"],
         ["wniosek: usg j.b. w normie.", "bez odchyleń.", ""]),
        (c.ch(["tk głowy bez kontr.", "tk głowy bez kontrastu"]),
         ["bez krwawienia wewnątrzczaszkowego", "bez cech świeżego niedokrwienia", "układ komorowy nieposzerz.",
          "struktury środkowe w linii pośr.", "przestrzenie płynowe przymózgowe prawidłowe", "zatoki powietrzne",
          "kości czaszki bez złamań", "okołokomorowe zmiany naczyniopochodne"],
         ["wniosek: bez zmian ostrych.", "bez zmian pourazowych.", ""]),
        (f"mr kolana {c.ch(['p', 'l'])}",
         [f"pęknięcie rogu tylnego łąkotki przyśrodkowej (st. {c.ch(['ii', 'iii'])})", "acl ciągłe", "pcl b/z",
          "więzadła poboczne ciągłe", "niewielki wysięk w stawie", "obrzęk szpiku kłykcia przyśrodkowego kości udowej",
          "chrząstka rzepki z ubytkami gr. ii"],
         ["do konsultacji ortopedycznej.", "wniosek: uszkodzenie łąkotki przyśrodkowej.", ""]),
        (c.ch(["tk kl. p. z kontr.", "tk klp z kontrastem"]),
         [f"guzek w segm. {c.i(1, 10)} płuca {c.ch(['p', 'l'])} śr. {c.i(5, 12)} mm", "lity, o gładkich zarysach",
          "węzły chłonne śródpiersia niepowiększone", "bez płynu w opłucnej", "bez zatorowości", "rozedma centrilobularna",
          "serce niepowiększone", "kościec b/z"],
         ["kontrola tk za 6 mies. wg zaleceń Fleischnera.", "do oceny w porównaniu z poprzednimi badaniami.", "zalecana kontrola tk."]),
    ])
    return "imaging", _terse(c, head, frags, 5, 8, tail, pre)


def _rad_h_ht_head(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=45, hi=88)
    rr = f"{c.i(190, 240)}/{c.i(110, 135)} mmHg"
    bleed = c.p(0.5)
    parts = [
        f"{c.who(p)} z wieloletnim nadciśnieniem tętniczym, przywiezion{p.y} z RR {rr}, z nagłym bólem głowy.",
        "TK głowy bez kontrastu:",
    ]
    if bleed:
        parts += [f"W jądrach podstawy po stronie {c.ch(['prawej', 'lewej'])} hiperdensyjny krwiak śródmózgowy o wymiarach {c.i(15, 40)} x {c.i(12, 30)} mm (ok. {c.i(60, 75)} HU), z wąskim rąbkiem obrzęku.",
                  f"Przemieszczenie struktur środkowych o {c.i(1, 6)} mm."]
        concl = "Wniosek: krwiak śródmózgowy w typowej lokalizacji dla krwotoku nadciśnieniowego."
    else:
        parts += ["Nie stwierdzono krwawienia wewnątrzczaszkowego ani ognisk niedokrwiennych.",
                  "Układ komorowy nieposzerzony, struktury środkowe nieprzemieszczone.",
                  c.ch(["Okołokomorowe zmiany naczyniopochodne w istocie białej.", "Zwapnienia w ścianach tętnic szyjnych wewnętrznych."])]
        concl = "Wniosek: TK głowy bez zmian ostrych."
    return "imaging", _lines("Opis badania TK głowy", parts, concl)


def _rad_h_coronary_ct(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=40, hi=75)
    cs = c.i(0, 600)
    sten = c.ch([(0, "0", "bez zwężeń"), (c.i(1, 24), "1", "minimalne zwężenie"), (c.i(25, 49), "2", "łagodne zwężenie"),
                 (c.i(50, 69), "3", "umiarkowane zwężenie"), (c.i(70, 95), "4A", "istotne zwężenie")])
    vessel = c.ch(["gałęzi przedniej zstępującej (LAD)", "gałęzi okalającej (Cx)", "prawej tętnicy wieńcowej (RCA)"])
    parts = [
        f"Wskazanie: ból w klatce piersiowej o nietypowym charakterze, pośrednie prawdopodobieństwo choroby wieńcowej.",
        f"Wskaźnik uwapnienia tętnic wieńcowych (Agatston): {cs}.",
        (f"W proksymalnym odcinku {vessel} blaszka {c.ch(['mieszana', 'niezwapniała', 'zwapniała'])} powodująca {sten[2]} światła (ok. {sten[0]}%)."
         if sten[0] else "Tętnice wieńcowe bez blaszek i bez zwężeń."),
        "Dominacja prawa." if c.p(0.7) else "Dominacja lewa.",
        c.maybe(0.5, "Uwidocznione fragmenty płuc bez zmian ogniskowych."),
    ]
    return "imaging", _lines(c.ch(["Angio-TK tętnic wieńcowych", "Opis badania: angio-TK tętnic wieńcowych (CCTA)"]),
                             c.maybe(0.5, c.demo(p)), parts, f"CAD-RADS {sten[1]}. {'Wykluczono istotne zwężenia tętnic wieńcowych.' if sten[1] in ('0', '1', '2') else 'Wskazana konsultacja kardiologiczna.'}")


# --------------------------------------------------------------------------
# Oncology
# --------------------------------------------------------------------------

# nom / gen / ins forms, ICD-10, sex restriction, surgery (genitive), regimens, marker
_CANCERS = [
    dict(nom="rak piersi lewej", gen="raka piersi lewej", ins="rakiem piersi lewej", icd="C50.4", sex="F",
         op="kwadrantektomii z biopsją węzła wartowniczego", reg=["AC-T", "EC", "docetaksel + trastuzumab + pertuzumab"],
         marker=("CA 15-3", 8, 90, "U/ml")),
    dict(nom="rak piersi prawej", gen="raka piersi prawej", ins="rakiem piersi prawej", icd="C50.9", sex="F",
         op="mastektomii prostej z biopsją węzła wartowniczego", reg=["AC-T", "paklitaksel co tydzień", "TCHP"],
         marker=("CA 15-3", 8, 90, "U/ml")),
    dict(nom="gruczolakorak esicy", gen="gruczolakoraka esicy", ins="gruczolakorakiem esicy", icd="C18.7", sex=None,
         op="laparoskopowej resekcji esicy", reg=["FOLFOX", "XELOX", "FOLFIRI + bewacyzumab"], marker=("CEA", 1, 60, "ng/ml")),
    dict(nom="rak odbytnicy", gen="raka odbytnicy", ins="rakiem odbytnicy", icd="C20", sex=None,
         op="przedniej resekcji odbytnicy z całkowitym wycięciem mezorektum (TME)", reg=["FOLFOX", "CAPOX"],
         marker=("CEA", 1, 60, "ng/ml")),
    dict(nom="niedrobnokomórkowy rak płuca prawego", gen="niedrobnokomórkowego raka płuca prawego",
         ins="niedrobnokomórkowym rakiem płuca prawego", icd="C34.1", sex=None, op="lobektomii górnej prawej",
         reg=["cisplatyna + winorelbina", "karboplatyna + pemetreksed + pembrolizumab", "cisplatyna + etopozyd"],
         marker=("CYFRA 21-1", 1, 25, "ng/ml")),
    dict(nom="rak gruczołu krokowego", gen="raka gruczołu krokowego", ins="rakiem gruczołu krokowego", icd="C61", sex="M",
         op="prostatektomii radykalnej", reg=["docetaksel", "goserelina + enzalutamid", "leuprorelina + abirateron"],
         marker=("PSA", 0.1, 80, "ng/ml")),
    dict(nom="rak jajnika", gen="raka jajnika", ins="rakiem jajnika", icd="C56", sex="F",
         op="cytoredukcji (histerektomia z przydatkami i omentektomią)", reg=["karboplatyna + paklitaksel", "karboplatyna + paklitaksel + bewacyzumab"],
         marker=("CA 125", 10, 900, "U/ml")),
    dict(nom="rak żołądka", gen="raka żołądka", ins="rakiem żołądka", icd="C16.9", sex=None,
         op="gastrektomii totalnej", reg=["FLOT"], marker=("CA 19-9", 5, 300, "U/ml")),
    dict(nom="rak trzustki", gen="raka trzustki", ins="rakiem trzustki", icd="C25.0", sex=None,
         op="pankreatoduodenektomii sposobem Whipple'a", reg=["FOLFIRINOX", "gemcytabina + nab-paklitaksel"],
         marker=("CA 19-9", 10, 2000, "U/ml")),
    dict(nom="rak urotelialny pęcherza moczowego", gen="raka urotelialnego pęcherza moczowego",
         ins="rakiem urotelialnym pęcherza moczowego", icd="C67.9", sex=None, op="cystektomii radykalnej",
         reg=["gemcytabina + cisplatyna", "awelumab"], marker=None),
    dict(nom="rak jasnokomórkowy nerki lewej", gen="raka jasnokomórkowego nerki lewej",
         ins="rakiem jasnokomórkowym nerki lewej", icd="C64", sex=None, op="nefrektomii radykalnej lewostronnej",
         reg=["sunitynib", "niwolumab + ipilimumab", "pembrolizumab + aksytynib"], marker=None),
    dict(nom="czerniak skóry pleców", gen="czerniaka skóry pleców", ins="czerniakiem skóry pleców", icd="C43.5", sex=None,
         op="doszczętnego wycięcia blizny z biopsją węzła wartowniczego", reg=["niwolumab", "pembrolizumab", "dabrafenib + trametynib"],
         marker=("LDH", 150, 600, "U/l")),
    dict(nom="rak płaskonabłonkowy szyjki macicy", gen="raka płaskonabłonkowego szyjki macicy",
         ins="rakiem płaskonabłonkowym szyjki macicy", icd="C53.9", sex="F", op="radykalnej histerektomii",
         reg=["cisplatyna co tydzień z radioterapią", "karboplatyna + paklitaksel"], marker=("SCC-Ag", 0.5, 15, "ng/ml")),
]

_SCHEMAS = {"AC-T", "EC", "TCHP", "FOLFOX", "XELOX", "CAPOX", "FOLFIRI + bewacyzumab", "FLOT", "FOLFIRINOX"}


def _cancer(c: _Ctx) -> tuple[dict, _Patient]:
    ca = c.ch(_CANCERS)
    female = {"F": True, "M": False}.get(ca["sex"])
    return ca, c.patient(female=female, lo=34, hi=84)


def _tnm(c: _Ctx, prefix: str | None = None, m1: float = 0.15, t_min: int = 1) -> tuple[str, bool]:
    pre = prefix or c.ch(["c", "p"])
    t, n = c.i(t_min, 4), c.i(0, 2)
    m = 1 if c.p(m1) else 0
    sub = c.ch(["", "", "a", "b"]) if t < 4 else ""
    return f"{pre}T{t}{sub}N{n}M{m}", bool(m)


def _regimen(reg: str, case: str = "gen") -> str:
    """Regimen phrase in the genitive / accusative / nominative case.

    ``_regimen("FOLFOX")`` -> "chemioterapii wg schematu FOLFOX".
    """
    if reg in _SCHEMAS:
        head = {"gen": "chemioterapii", "acc": "chemioterapię", "nom": "chemioterapia"}[case]
        return f"{head} wg schematu {reg}"
    head = {"gen": "leczenia systemowego", "acc": "leczenie systemowe", "nom": "leczenie systemowe"}[case]
    return f"{head} ({reg})"


def _adj_regimen(reg: str, stem: str) -> str:
    """Nominative regimen phrase with an agreeing adjective stem ("przedoperacyjn")."""
    ending = "a" if reg in _SCHEMAS else "e"
    return f"{stem}{ending} {_regimen(reg, 'nom')}"


def _marker(c: _Ctx, ca: dict, high: bool | None = None) -> str:
    """Tumour marker sentence; ``high`` False/True restricts to the low/high part of the range."""
    if not ca["marker"]:
        return ""
    name, lo, hi, unit = ca["marker"]
    cut = lo + (hi - lo) * 0.08
    lo, hi = {None: (lo, hi), False: (lo, cut), True: (cut * 2, hi)}[high]
    val = c.f(lo, hi, 1 if hi < 100 else 0)
    return f"{name} {val} {unit}."


def _onc_consilium(c: _Ctx) -> tuple[str, str]:
    ca, p = _cancer(c)
    tnm, meta = _tnm(c, prefix="c")
    reg0 = c.ch(ca["reg"])
    radical = ["radykalna radiochemioterapia"] if ca["icd"] in ("C20", "C53.9", "C34.1", "C67.9") else []
    decision = c.ch([
        f"leczenie operacyjne – kwalifikacja do {ca['op']}, następnie ocena wskazań do leczenia uzupełniającego",
        f"{_adj_regimen(reg0, 'przedoperacyjn')}, następnie ponowna ocena w konsylium",
        *radical,
    ]) if not meta else c.ch([
        f"leczenie systemowe paliatywne – {c.ch(ca['reg'])}",
        "paliatywna radioterapia zmian objawowych oraz leczenie systemowe",
        "najlepsze leczenie objawowe (BSC) ze względu na zły stan sprawności",
    ])
    hist = c.some([
        f"Rozpoznanie ustalono na podstawie {c.ch(['biopsji gruboigłowej', 'wycinków pobranych endoskopowo', 'badania histopatologicznego materiału z biopsji'])}.",
        f"W TK {'stwierdzono przerzuty odległe' if meta else 'bez cech rozsiewu nowotworu'}.",
        f"Stan sprawności wg ECOG {c.i(0, 2)}.",
        c.ch(["Bez istotnych obciążeń internistycznych.", "Obciążenia: cukrzyca typu 2, POChP.", "W wywiadzie przebyty zawał serca, obecnie wydolny krążeniowo."]),
        _marker(c, ca),
    ], 2, 4, keep_order=False)
    head = c.ch([f"Konsylium onkologiczne z dnia {c.date()}", "Wielodyscyplinarne konsylium onkologiczne", "KONSYLIUM ONKOLOGICZNE"])
    return "consultation", _lines(
        head,
        [f"{c.who(p)} z rozpoznaniem: {ca['nom']} ({ca['icd']}), {tnm}."] + hist,
        f"Decyzja konsylium: {decision}.",
        c.maybe(0.6, f"{p.P} poinformowan{p.y} o rozpoznaniu i planie leczenia, wyrazi{p.la} zgodę."),
        c.maybe(0.4, "Skład: chirurg onkolog, onkolog kliniczny, radioterapeuta."),
    )


def _onc_chemo_discharge(c: _Ctx) -> tuple[str, str]:
    ca, p = _cancer(c)
    reg = c.ch(ca["reg"])
    cyc = c.i(1, 12)
    labs = f"Hb {c.f(10, 14)} g/dl, leukocyty {c.f(3.5, 9)} tys./µl, neutrofile {c.f(1.6, 6)} tys./µl, płytki {c.i(140, 380)} tys./µl."
    course = c.ch([
        f"{_cap(_regimen(reg, 'acc').split(' ')[0])} podano zgodnie z planem, bez powikłań.",
        "W trakcie wlewu wystąpiła łagodna reakcja nadwrażliwości – wlew czasowo wstrzymano, podano leki przeciwhistaminowe i dokończono podanie.",
        "Leczenie podano bez powikłań, z profilaktyką przeciwwymiotną (ondansetron, deksametazon).",
    ])
    tox = c.maybe(0.5, f"Toksyczność: {c.ch(['neuropatia obwodowa', 'nudności', 'zmęczenie', 'zapalenie błony śluzowej jamy ustnej'])} G{c.i(1, 2)} wg CTCAE.")
    head = c.ch(["Karta informacyjna leczenia szpitalnego – Oddział Onkologii Klinicznej", "Wypis – Oddział Chemioterapii",
                 "Karta informacyjna z pobytu na Oddziale Onkologii Klinicznej"])
    return "discharge", _lines(
        head,
        f"Rozpoznanie: {ca['icd']} – {ca['nom']}.",
        [f"{c.who(p)} przyjęt{p.y} w celu podania {cyc}. cyklu {_regimen(reg)}.",
         f"Przy przyjęciu: {labs}", course, tox],
        [f"Wypisan{p.y} w stanie ogólnym dobrym.",
         f"Zalecenia: kontrola morfologii za 7 dni, kolejny cykl {c.date()}" + c.ch([".", ", z aktualnymi wynikami badań.", "; w razie gorączki > 38°C pilny kontakt z oddziałem."])],
    )


def _onc_radiotherapy(c: _Ctx) -> tuple[str, str]:
    ca, p = _cancer(c)
    dose, fr, intent, target = c.ch([
        ("50", 25, "uzupełniającej", "lożę po usuniętym guzie"),
        ("42,5", 16, "uzupełniającej", "pierś z lożą po guzie" if "piersi" in ca["nom"] else "lożę po usuniętym guzie"),
        ("60", 30, "radykalnej", "ognisko pierwotne i zajęte węzły chłonne"),
        ("70", 35, "radykalnej", "ognisko pierwotne i regionalne węzły chłonne"),
        ("20", 5, "paliatywnej", f"przerzut do trzonu Th{c.i(4, 12)}"),
        ("8", 1, "paliatywnej", f"bolesny przerzut do {c.ch(['kości biodrowej', 'trzonu L3', 'żebra'])}"),
    ])
    tnm, _ = _tnm(c, prefix="p" if intent == "uzupełniającej" else "c", m1=0.0, t_min=2 if intent == "radykalnej" else 1)
    parts = [
        f"{c.who(p)} z {ca['ins']} ({ca['icd']}), {tnm[:-1] + '1' if intent == 'paliatywnej' else tnm}"
        + (c.ch([f", po {ca['op']}.", f", po {c.i(3, 6)} cyklach chemioterapii."]) if intent == "uzupełniającej" else "."),
        f"Zakwalifikowan{p.y} do radioterapii {intent} na {target} w dawce całkowitej {dose} Gy w {fr} {_pl(fr, 'frakcji', 'frakcjach', 'frakcjach')}, techniką {c.ch(['IMRT', 'VMAT', '3D-CRT'])}.",
    ]
    opt = c.some([
        "Przed rozpoczęciem leczenia wykonano TK do planowania leczenia.",
        f"Omówiono możliwe odczyny popromienne ({c.ch(['odczyn skórny, zmęczenie', 'biegunka, częstomocz', 'zapalenie przełyku, kaszel'])}).",
        f"Stan sprawności ECOG {c.i(0, 2)}.",
        f"{p.P} wyrazi{p.la} pisemną zgodę na leczenie.",
    ], 1, 3, keep_order=False)
    return "consultation", _lines(c.ch(["Kwalifikacja do radioterapii", "Konsultacja radioterapeutyczna", "Zakład Radioterapii – kwalifikacja"]),
                                  parts + opt)


def _onc_referral(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=40, hi=85)
    finding = c.ch([
        ("C34.9", "podejrzenie nowotworu złośliwego płuca", f"w TK klatki piersiowej guz płuca {c.ch(['prawego', 'lewego'])} śr. {c.i(25, 60)} mm z powiększonymi węzłami chłonnymi wnęki"),
        ("C18.9", "podejrzenie nowotworu złośliwego jelita grubego", f"w kolonoskopii owrzodziały guz {c.ch(['esicy', 'kątnicy', 'poprzecznicy'])} zwężający światło jelita, pobrano wycinki"),
        ("C22.0", "podejrzenie nowotworu złośliwego wątroby", f"w USG zmiana ogniskowa w wątrobie {c.i(30, 70)} mm, AFP {c.i(200, 2000)} ng/ml"),
        ("C16.9", "podejrzenie raka żołądka", "w gastroskopii nieregularne owrzodzenie trzonu żołądka, spadek masy ciała o 8 kg w 3 miesiące"),
        ("C64", "podejrzenie raka nerki", f"w USG lity guz nerki {c.ch(['prawej', 'lewej'])} śr. {c.i(30, 80)} mm"),
    ])
    if p.female and c.p(0.4):
        finding = ("C50.9", "podejrzenie nowotworu złośliwego piersi", f"w mammografii zmiana BI-RADS 5 w piersi {c.ch(['prawej', 'lewej'])}, wyczuwalny guz ok. {c.i(15, 35)} mm")
    parts = [
        f"Rozpoznanie: {finding[0]} – {finding[1]}.",
        f"{c.who(p)}, {finding[2]}.",
        c.maybe(0.7, c.ch(["Wydano kartę DiLO.", "Karta diagnostyki i leczenia onkologicznego (DiLO) wystawiona.", f"{p.P} z kartą DiLO."])),
        c.ch(["Proszę o dalszą diagnostykę i leczenie onkologiczne.", "Proszę o pilną konsultację onkologiczną.", "Proszę o przyjęcie w trybie szybkiej ścieżki onkologicznej."]),
    ]
    head = c.ch(["Skierowanie do Poradni Onkologicznej", "Skierowanie do Poradni Chirurgii Onkologicznej",
                 "SKIEROWANIE – szybka ścieżka onkologiczna"])
    return "referral", _lines(head, parts, c.maybe(0.5, c.sig("medycyny rodzinnej")))


def _onc_followup(c: _Ctx) -> tuple[str, str]:
    ca, p = _cancer(c)
    tnm, _ = _tnm(c, prefix="p", m1=0.0)
    if c.p(0.4):
        m = c.i(3, 11)
        ago = f"{m} {_pl(m, 'miesiąc', 'miesiące', 'miesięcy')}"
    else:
        n = c.i(1, 6)
        ago = "rok" if n == 1 else f"{n} {_pl(n, 'rok', 'lata', 'lat')}"
    nxt = c.ch([3, 4, 6])
    relapse = c.p(0.3)
    status = c.ch([
        f"W TK z {c.date()} stwierdzono {c.ch(['wznowę miejscową nowotworu', 'przerzuty do wątroby', 'przerzuty do płuc', 'wznowę w węzłach chłonnych'])}.",
        f"Wzrost markera nowotworowego, w PET-CT ognisko wznowy {c.ch(['w loży po guzie', 'w węzłach chłonnych zaotrzewnowych'])}.",
    ]) if relapse else c.ch([
        f"W TK z {c.date()} bez cech wznowy i bez przerzutów odległych.",
        "W badaniach kontrolnych bez cech nawrotu choroby nowotworowej.",
    ])
    plan = (f"{p.P} skierowan{p.y} na konsylium onkologiczne w celu ustalenia dalszego leczenia." if relapse
            else f"Kolejna kontrola za {nxt} {_pl(nxt, 'miesiąc', 'miesiące', 'miesięcy')} z wynikiem TK i markerów.")
    parts = [
        f"{c.who(p)}, {ago} po leczeniu radykalnym {ca['gen']} ({tnm}).",
        c.ch(["Aktualnie bez dolegliwości.", "Zgłasza okresowe zmęczenie, poza tym bez dolegliwości.", f"Zgłasza ból {c.ch(['w okolicy lędźwiowej', 'w nadbrzuszu', 'kości'])} od kilku tygodni."]),
        _marker(c, ca, high=relapse),
        status,
    ]
    return "consultation", _lines(c.ch(["Wizyta kontrolna w Poradni Onkologicznej", "Poradnia Onkologiczna – kontrola", "Konsultacja onkologiczna"]),
                                  parts[:1] + c.shuffled(parts[1:3]) + parts[3:], plan)


def _onc_epicrisis(c: _Ctx) -> tuple[str, str]:
    ca, p = _cancer(c)
    tnm, _ = _tnm(c, m1=0.5, t_min=2)
    reg = c.ch(ca["reg"])
    comp = c.ch([
        ("gorączki neutropenicznej", "Zastosowano antybiotykoterapię empiryczną (piperacylina z tazobaktamem) i filgrastym."),
        ("niedokrwistości (Hb 7,4 g/dl)", "Przetoczono 2 j. KKCz z poprawą."),
        ("pogorszenia stanu ogólnego i odwodnienia", "Zastosowano nawadnianie dożylne i leczenie przeciwwymiotne."),
        ("bólu kostnego w przebiegu przerzutów", "Zmodyfikowano leczenie przeciwbólowe, skierowano na radioterapię paliatywną."),
    ])
    parts = [
        f"{c.who(p)} z {ca['ins']} ({ca['icd']}, {tnm}), w trakcie {_regimen(reg)}, przyjęt{p.y} z powodu {comp[0]}.",
        comp[1],
        c.maybe(0.6, f"W trakcie hospitalizacji podano {c.i(2, 8)}. cykl leczenia." if c.p(0.3) else "Leczenie przeciwnowotworowe czasowo wstrzymano."),
        f"Stan przy wypisie {c.ch(['dobry', 'średni', 'stabilny'])}.",
        c.ch(["Dalsze leczenie w Poradni Onkologicznej.", f"Kontrola w Klinice Onkologii {c.date()}.", "Kontynuacja leczenia systemowego po poprawie parametrów."]),
    ]
    return "discharge", _lines(c.ch(["Epikryza", "EPIKRYZA", "Wypis ze szpitala – epikryza"]), parts)


def _onc_prescription(c: _Ctx) -> tuple[str, str]:
    ca, p = _cancer(c)
    pool = [
        ("Ondansetron 8 mg", "1 tabl. 2 x dziennie przez 3 dni po chemioterapii"),
        ("Deksametazon 4 mg", "2 tabl. rano przez 3 dni po chemioterapii"),
        ("Metoklopramid 10 mg", "1 tabl. doraźnie przy nudnościach, maks. 3 x dziennie"),
        ("Morfina o przedłużonym uwalnianiu 30 mg", "1 tabl. co 12 godzin"),
        ("Oksykodon 10 mg", "1 tabl. co 12 godzin"),
        ("Laktuloza", "15 ml 2 x dziennie"),
        ("Filgrastym 30 mln j.", "1 amp. s.c. od 2. do 6. dnia po chemioterapii"),
        ("Enoksaparyna 40 mg", "1 x dziennie s.c."),
    ]
    if "piersi" in ca["nom"]:
        pool.append((c.ch(["Letrozol 2,5 mg", "Anastrozol 1 mg", "Tamoksyfen 20 mg", "Eksemestan 25 mg"]), "1 tabl. dziennie, długotrwale"))
    if ca["icd"] == "C61":
        pool.append(("Bikalutamid 50 mg", "1 tabl. dziennie"))
    if ca["icd"] in ("C18.7", "C20"):
        pool.append(("Kapecytabina 500 mg", f"{c.i(3, 4)} tabl. 2 x dziennie, dni 1-14 co 21 dni"))
    items = c.some(pool, 2, 3, keep_order=False)
    lines = [f"Rp. {name}, op. {c.ch(['30', '28', '60', '10', '20'])} {c.ch(['tabl.', 'szt.'])} D.S. {dose}" if "Laktuloza" not in name and "Filgrastym" not in name and "Enoksaparyna" not in name
             else f"Rp. {name} D.S. {dose}" for name, dose in items]
    return "prescription", _lines(
        c.ch(["Recepta", "RECEPTA", "Zalecenia lekowe – Poradnia Onkologiczna"]),
        f"{c.who(p)}. Rozpoznanie: {ca['icd']} ({ca['nom']}).",
        *lines,
        c.maybe(0.5, c.ch(["Odpłatność: bezpłatnie (lek onkologiczny).", "Odpłatność: ryczałt.", "Lek stosowany w ramach leczenia wspomagającego chemioterapię."])),
        c.maybe(0.4, c.sig("onkologii klinicznej")),
    )


def _onc_palliative(c: _Ctx) -> tuple[str, str]:
    ca, p = _cancer(c)
    sites = c.some(["kości", "wątroby", "płuc", "mózgu", "węzłów chłonnych", "otrzewnej"], 1, 3)
    nrs = c.i(5, 9)
    parts = [
        f"{c.who(p)} z rozsianym {ca['ins']} ({ca['icd']}), przerzuty do {', '.join(sites[:-1]) + ' i ' + sites[-1] if len(sites) > 1 else sites[0]}.",
        f"Ból oceniany na {nrs}/10 w skali NRS.",
        c.ch([
            f"Zmodyfikowano leczenie przeciwbólowe: oksykodon {c.ch(['10', '20', '30'])} mg co 12 godzin, doraźnie morfina 10 mg p.o.",
            f"Włączono morfinę o przedłużonym uwalnianiu {c.ch(['30', '60'])} mg co 12 godzin oraz laktulozę.",
            f"Zwiększono dawkę fentanylu w systemie transdermalnym do {c.ch(['25', '50', '75'])} µg/h.",
        ]),
        c.maybe(0.6, c.ch(["Zaplanowano radioterapię paliatywną 8 Gy w 1 frakcji na bolesne ognisko przerzutowe.",
                           "Kontynuacja kwasu zoledronowego co 4 tygodnie.", "Włączono denosumab 120 mg s.c. co 4 tygodnie."])),
        c.maybe(0.5, f"{p.P} i rodzina poinformowani o zaawansowaniu choroby nowotworowej; zgłoszono do hospicjum domowego."),
    ]
    return "consultation", _lines(c.ch(["Konsultacja – Poradnia Medycyny Paliatywnej", "Konsultacja onkologiczna – leczenie objawowe",
                                        "Opieka paliatywna – wizyta"]), parts)


def _onc_lab(c: _Ctx) -> tuple[str, str]:
    ca, p = _cancer(c)
    leuk = round(c.r.uniform(2.0, 9.5), 1)
    neut = round(leuk * c.r.uniform(0.2, 0.75), 1)
    num = lambda x: f"{x:.1f}".replace(".", ",")  # noqa: E731
    ok = neut >= 1.5
    parts = [
        f"Leukocyty {num(leuk)} tys./µl, neutrofile {num(neut)} tys./µl, Hb {c.f(8.5, 14)} g/dl, płytki krwi {c.i(80, 350)} tys./µl.",
        f"AST {c.i(14, 60)} U/l, ALT {c.i(10, 70)} U/l, bilirubina {c.f(0.3, 1.4)} mg/dl, kreatynina {c.f(0.6, 1.3, 2)} mg/dl.",
        _marker(c, ca),
    ]
    verdict = ("Wyniki pozwalają na podanie kolejnego cyklu leczenia." if ok else
               f"Neutropenia G{3 if neut >= 0.5 else 4} – kolejny cykl odroczony o 7 dni, kontrola morfologii.")
    return "lab", _lines(
        c.ch([f"Wyniki badań laboratoryjnych przed {c.i(2, 10)}. cyklem chemioterapii", "Badania laboratoryjne – Oddział Dzienny Chemioterapii",
              "Wynik badań kontrolnych w trakcie leczenia onkologicznego"]),
        f"{c.who(p)}, {ca['nom']} ({ca['icd']}).",
        c.shuffled(parts) if c.p(0.4) else parts, verdict,
    )


# --- Oncology hard cases ----------------------------------------------------


def _onc_h_terse(c: _Ctx) -> tuple[str, str]:
    pre = [f"pac. {c.i(40, 80)} l.", "onkol.:", "poradnia onkologiczna:", f"wizyta {c.date()}"]
    head, frags, tail = c.ch([
        (f"ca mammae {c.ch(['sin.', 'dx.'])}",
         [f"pT{c.i(1, 2)}N{c.i(0, 1)}M0", f"G{c.i(1, 3)}", f"ER {c.i(0, 100)}%", f"PR {c.i(0, 90)}%", f"HER2 {c.ch(['0', '1+', '3+'])}",
          f"Ki-67 {c.i(5, 60)}%", f"st. po {c.ch(['BCT', 'mastektomii'])} i SLNB", f"kont. {c.ch(['trastuzumab s.c. co 3 tyg.', 'letrozol 2,5 mg', 'tamoksyfen 20 mg'])}",
          f"cykl {c.i(2, 17)}/18", "tolerancja dobra", "po RTH na pierś 40 Gy/15 fr."],
         ["kontrola za 3 mies.", "ECHO co 3 mies.", "mammografia za rok."]),
        ("ca recti",
         ["cT3N1M0", "po RTH 5x5 Gy", "kwalif. do TME", f"CEA {c.f(1, 12)}", "w MR miednicy odpowiedź częściowa",
          "stomia niewskazana", "ECOG 1", "bez dolegliwości"],
         ["kontrola po zabiegu w poradni onkol.", "termin zabiegu wyznaczony.", ""]),
        (c.ch(["nsclc gruczolakorak", "ndrp, adenocarcinoma"]),
         ["st. IV", "mts do kości i nadnercza L", "EGFR ex19del", f"od {c.date()} osymertynib 80 mg", "w TK kontrolnym SD",
          "ECOG 1", "bez istotnej toksyczności", "kwas zoledronowy co 4 tyg."],
         ["kont. leczenia.", "kolejne TK za 3 mies.", ""]),
        ("ca prostatae",
         [f"Gleason {c.ch(['3+4', '4+3', '4+4'])}", f"PSA {c.f(4, 60)} ng/ml", f"cT{c.i(2, 3)}N0M0", "scyntygrafia kości bez ognisk",
          "kwalif. do RTH + ADT", "goserelina 10,8 mg co 3 mies.", "uderzenia gorąca G1"],
         ["kontrola PSA za 3 mies.", "termin RTH wyznaczony.", ""]),
        ("chłoniak DLBCL",
         ["st. II A wg Ann Arbor", f"po {c.i(2, 6)} cyklach R-CHOP", "PET-CT interim: odpowiedź metaboliczna całkowita (Deauville 2)",
          "IPI 1", "bez objawów B", "neutropenia G2 po ostatnim cyklu", "filgrastym profilaktycznie"],
         ["kont. leczenia.", "kolejny cykl za 21 dni.", ""]),
        ("ca ovarii",
         ["FIGO IIIC", "st. po cytoredukcji R0", f"CA 125 {c.i(10, 400)} U/ml", f"kont. karboplatyna + paklitaksel, cykl {c.i(2, 6)}/6",
          "neuropatia G1", "BRCA1 mut.", "plan: olaparyb w leczeniu podtrzymującym"],
         ["kontrola za 3 tyg.", "", "TK po 6. cyklu."]),
    ])
    return c.ch(["consultation", "consultation", "prescription"]), _terse(c, head, frags, 5, 8, tail, pre)


def _onc_h_negation(c: _Ctx) -> tuple[str, str]:
    ca, p = _cancer(c)
    reg = c.ch(ca["reg"])
    negs = c.some([
        "W EKG rytm zatokowy, bez zmian niedokrwiennych.",
        f"Nie leczy się z powodu nadciśnienia tętniczego (RR {c.i(115, 135)}/{c.i(70, 85)} mmHg).",
        "W wywiadzie bez zawału serca i bez niewydolności serca.",
        f"ECHO serca: EF {c.i(55, 68)}%, bez zaburzeń kurczliwości.",
        "W RTG klatki piersiowej bez zmian.",
    ], 2, 3, keep_order=False)
    parts = [
        f"{c.who(p)} z rozpoznaniem: {ca['nom']} ({ca['icd']}), kwalifikowan{p.y} do {_regimen(reg)}.",
        *negs,
        f"Brak przeciwwskazań do leczenia onkologicznego – {_regimen(reg, 'acc').split(' ')[0]} rozpoczęto {c.date()}.",
    ]
    return "consultation", _lines(c.ch(["Kwalifikacja do leczenia systemowego", "Konsultacja onkologiczna", "Poradnia Onkologiczna"]), parts)


def _onc_h_mixed(c: _Ctx) -> tuple[str, str]:
    ca, p = _cancer(c)
    g = c.i(1, 3)
    ncyc = c.ch([4, 6, 8])
    parts = [
        f"{c.who(p)} po {ca['op']} z powodu {ca['gen']}.",
        f"Wynik badania histopatologicznego: utkanie nowotworu złośliwego G{g}, pT{c.i(1, 3)}N{c.i(0, 2)}, marginesy chirurgiczne wolne (R0).",
        c.maybe(0.6, f"W TK przed zabiegiem bez przerzutów odległych."),
        f"Decyzja: {_adj_regimen(c.ch(ca['reg']), c.ch(['uzupełniając', 'adjuwantow']))}, {ncyc} {_pl(ncyc, 'cykl', 'cykle', 'cykli')}.",
        c.ch([f"Rozpoczęcie leczenia {c.date()}.", "Omówiono działania niepożądane leczenia.", "Kontrola w poradni po każdym cyklu."]),
    ]
    return "consultation", _lines(c.ch(["Konsultacja onkologiczna – plan leczenia uzupełniającego", "Poradnia Onkologiczna – omówienie wyniku",
                                        "Konsultacja onkologiczna"]), parts)


def _onc_h_cardio(c: _Ctx) -> tuple[str, str]:
    p = c.patient(female=True, lo=35, hi=75)
    ef0, ef1 = c.i(58, 66), c.i(52, 64)
    parts = [
        f"{c.who(p)} z HER2-dodatnim rakiem piersi {c.ch(['lewej', 'prawej'])} (C50.{c.ch(['4', '9', '2'])}), leczona trastuzumabem w skojarzeniu z pertuzumabem, cykl {c.i(3, 16)}.",
        f"ECHO serca przed leczeniem: EF {ef0}%; aktualnie EF {ef1}%, bez istotnego spadku.",
        "Bez objawów niewydolności serca.",
        "Kontynuacja leczenia anty-HER2 bez modyfikacji, kontrolne ECHO co 3 miesiące.",
        c.maybe(0.5, "Kolejna ocena odpowiedzi w TK po 4. cyklu."),
    ]
    return "consultation", _lines(c.ch(["Poradnia Onkologiczna – wizyta w trakcie leczenia", "Konsultacja onkologiczna"]), parts)


_ONC_NORMAL = [_onc_consilium, _onc_chemo_discharge, _onc_radiotherapy, _onc_referral, _onc_followup,
               _onc_epicrisis, _onc_prescription, _onc_palliative, _onc_lab]
_ONC_HARD = [_onc_h_terse, _onc_h_negation, _onc_h_mixed, _onc_h_cardio]


# --------------------------------------------------------------------------
# Cardiology
# --------------------------------------------------------------------------


def _ecg_text(c: _Ctx) -> tuple[list[str], str]:
    af = c.p(0.25)
    if af:
        rhythm = f"Migotanie przedsionków ze średnią czynnością komór ok. {c.i(70, 135)}/min."
    else:
        rhythm = f"Rytm zatokowy miarowy {c.i(52, 98)}/min."
    parts = [rhythm, f"Oś elektryczna serca {c.ch(['pośrednia', 'pośrednia', 'lewogram', 'prawogram'])}."]
    if not af:
        parts.append(f"PQ {c.i(120, 200)} ms, QRS {c.i(80, 110)} ms, QTc {c.i(390, 460)} ms.")
    else:
        parts.append(f"QRS {c.i(80, 110)} ms, QTc {c.i(390, 470)} ms.")
    extra, verdict = c.ch([
        ("", "EKG w normie." if not af else "Migotanie przedsionków bez cech niedokrwienia."),
        (f"Poziome obniżenia odcinka ST o {c.i(1, 2)} mm w odprowadzeniach V4–V6.", "Cechy niedokrwienia ściany bocznej."),
        ("Zespół QRS poszerzony do 130 ms, morfologia bloku prawej odnogi pęczka Hisa.", "Blok prawej odnogi pęczka Hisa."),
        ("Pojedyncze pobudzenia dodatkowe komorowe.", "Pojedyncze pobudzenia przedwczesne komorowe."),
        ("Patologiczne załamki Q w odprowadzeniach II, III, aVF.", "Stan po zawale ściany dolnej."),
        ("Uniesienie odcinka ST o 2–3 mm w odprowadzeniach V1–V4.", "Obraz ostrego zawału ściany przedniej (STEMI) – pilna koronarografia."),
        ("Wysokie załamki R w V5–V6, wskaźnik Sokolowa-Lyona 38 mm.", "Cechy przerostu lewej komory."),
    ])
    if extra:
        parts.append(extra)
    return parts, verdict


def _card_ecg(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=20, hi=90)
    parts, verdict = _ecg_text(c)
    return "ecg", _lines(c.ch(["Opis EKG", "EKG spoczynkowe 12-odprowadzeniowe", "Elektrokardiogram – opis", "OPIS ZAPISU EKG"]),
                         c.maybe(0.6, c.demo(p)),
                         c.maybe(0.5, f"Wskazanie: {c.ch(['kołatania serca', 'ból w klatce piersiowej', 'badanie przedoperacyjne', 'duszność wysiłkowa', 'omdlenie'])}."),
                         parts, f"Wniosek: {verdict}", c.maybe(0.4, c.sig("kardiologii")))


def _card_echo(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=30, hi=90)
    reduced = c.p(0.4)
    ef = c.i(25, 45) if reduced else c.i(55, 68)
    parts = [
        f"Lewa komora {'poszerzona' if reduced and c.p(0.6) else 'niepowiększona'} (LVEDd {c.i(56, 68) if reduced else c.i(44, 54)} mm), IVSd {c.i(8, 12)} mm, LVPWd {c.i(8, 11)} mm.",
        (f"Hipokineza {c.ch(['ściany przedniej i koniuszka', 'ściany dolnej i dolnej części przegrody', 'uogólniona'])}, EF {ef}% (metodą Simpsona)."
         if reduced else f"Globalna i odcinkowa kurczliwość prawidłowa, EF {ef}%."),
    ]
    parts += c.some([
        f"Lewy przedsionek {c.i(34, 50)} mm.",
        f"Zastawka mitralna: niedomykalność {c.ch(['śladowa', 'łagodna', 'umiarkowana'])}.",
        c.ch(["Zastawka aortalna trójpłatkowa, bez istotnej stenozy.",
              f"Zwężenie zastawki aortalnej umiarkowane: Vmax {c.f(3.0, 3.9)} m/s, średni gradient {c.i(20, 39)} mmHg, AVA {c.f(1.0, 1.5)} cm²."]),
        f"Prawa komora niepowiększona, TAPSE {c.i(15, 25)} mm.",
        f"Szacowane ciśnienie skurczowe w prawej komorze (RVSP) {c.i(25, 55)} mmHg.",
        "Bez płynu w worku osierdziowym.",
        f"Zaburzenia relaksacji lewej komory, E/A {c.f(0.6, 0.9)}, E/e' {c.i(8, 16)}.",
    ], 3, 5)
    concl = (f"Wniosek: obniżona frakcja wyrzutowa lewej komory (EF {ef}%)." if reduced
             else "Wniosek: prawidłowa funkcja skurczowa lewej komory.")
    return "imaging", _lines(c.ch(["ECHO serca (TTE)", "Badanie echokardiograficzne przezklatkowe", "Echokardiografia – opis",
                                   "ECHO SERCA"]), c.maybe(0.6, c.demo(p)), parts, concl, c.maybe(0.3, c.sig("kardiologii")))


def _card_mi_discharge(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=38, hi=88)
    vessels = {"LAD": ("gałęzi przedniej zstępującej (LAD)", "hipokineza ściany przedniej i koniuszka"),
               "RCA": ("prawej tętnicy wieńcowej (RCA)", "hipokineza ściany dolnej"),
               "Cx": ("gałęzi okalającej (Cx)", "hipokineza ściany bocznej")}
    dx, vkey = c.ch([
        (("I21.4", "Zawał serca bez uniesienia odcinka ST (NSTEMI)"), c.ch(["LAD", "RCA", "Cx"])),
        (("I21.0", "Ostry zawał serca z uniesieniem odcinka ST ściany przedniej (STEMI)"), "LAD"),
        (("I21.1", "Ostry zawał serca z uniesieniem odcinka ST ściany dolnej (STEMI)"), c.ch(["RCA", "Cx"])),
    ])
    vessel, wall = vessels[vkey]
    parts = [
        f"{c.who(p)} przyjęt{p.y} z powodu bólu w klatce piersiowej o charakterze dławicowym, trwającego od {c.i(2, 10)} godzin.",
        f"Troponina hs przy przyjęciu {c.i(80, 3000)} ng/l (norma < 14 ng/l).",
        f"W trybie pilnym wykonano koronarografię: {c.ch(['krytyczne zwężenie', 'niedrożność', 'zwężenie 90%'])} {vessel} – wykonano PCI z implantacją stentu DES.",
        f"ECHO: EF {c.i(35, 60)}%, {c.ch([wall, wall, 'bez istotnych zaburzeń kurczliwości'])}.",
        c.ch(["Przebieg pozabiegowy bez powikłań.", "W 2. dobie napadowe migotanie przedsionków, ustąpiło samoistnie.", "Przebieg hospitalizacji niepowikłany."]),
    ]
    p2y12 = c.ch(["tikagrelor 90 mg 2 x 1 przez 12 miesięcy", "prasugrel 10 mg 1 x 1 przez 12 miesięcy", "klopidogrel 75 mg 1 x 1"])
    meds = ["ASA 75 mg 1 x 1", p2y12] + c.some([f"atorwastatyna {c.ch(['40', '80'])} mg wieczorem", f"bisoprolol {c.ch(['2,5', '5'])} mg rano",
                                                f"ramipryl {c.ch(['2,5', '5'])} mg", "pantoprazol 20 mg", "ezetymib 10 mg"], 2, 4)
    return "discharge", _lines(
        c.ch(["Karta informacyjna leczenia szpitalnego – Oddział Kardiologii", "Wypis ze szpitala – Klinika Kardiologii",
              "Karta informacyjna – Oddział Kardiologii Inwazyjnej"]),
        f"Rozpoznanie: {dx[0]} – {dx[1]}.",
        parts,
        f"Zalecenia: {'; '.join(meds)}; rehabilitacja kardiologiczna; kontrola w poradni kardiologicznej za {c.i(4, 8)} tygodni.",
    )


def _card_hf(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=50, hi=92)
    kg = c.i(3, 9)
    parts = [
        f"{c.who(p)} z przewlekłą niewydolnością serca {c.ch(['z obniżoną frakcją wyrzutową (HFrEF)', 'z zachowaną frakcją wyrzutową (HFpEF)'])}, przyjęt{p.y} z powodu nasilenia duszności i obrzęków kończyn dolnych.",
        f"Przy przyjęciu NYHA {c.ch(['III', 'IV'])}, NT-proBNP {c.i(2500, 15000)} pg/ml.",
        f"Leczon{p.y} furosemidem dożylnie z dobrym efektem diuretycznym, masa ciała przy wypisie niższa o {kg} kg.",
        c.ch(["Włączono sakubitryl/walsartan oraz dapagliflozynę.", "Włączono empagliflozynę, zwiększono dawkę spironolaktonu.",
              "Zoptymalizowano leczenie: bisoprolol, eplerenon, dapagliflozyna."]),
        c.maybe(0.5, f"W ECHO EF {c.i(20, 40)}%, umiarkowana niedomykalność mitralna."),
        f"Przy wypisie NYHA {c.ch(['II', 'II/III'])}.",
    ]
    recs = c.some(["codzienna kontrola masy ciała", "ograniczenie płynów do 1,5 l na dobę", "ograniczenie soli",
                   "kontrola elektrolitów i kreatyniny za tydzień", "kontrola w Poradni Niewydolności Serca"], 2, 4, keep_order=False)
    return "discharge", _lines(c.ch(["Wypis – Oddział Kardiologii", "Epikryza", "Karta informacyjna leczenia szpitalnego"]),
                               f"Rozpoznanie: I50.0 – {c.ch(['Zaostrzenie przewlekłej niewydolności serca', 'Niewydolność serca zastoinowa'])}.",
                               parts, f"Zalecenia: {', '.join(recs)}.")


def _card_af(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=45, hi=90)
    code, name = c.ch([("I48.0", "napadowym"), ("I48.1", "przetrwałym"), ("I48.2", "utrwalonym")])
    chads = c.i(1, 6)
    drug = c.ch(["apiksaban 5 mg 2 x 1", "rywaroksaban 20 mg 1 x 1", "dabigatran 150 mg 2 x 1", "edoksaban 60 mg 1 x 1"])
    parts = [
        f"{c.who(p)} z {name} migotaniem przedsionków ({code}), {c.ch(['rozpoznanym przed 3 laty', 'wykrytym w badaniu Holter EKG', 'objawiającym się kołataniem serca'])}.",
        f"CHA2DS2-VASc {chads} pkt, HAS-BLED {c.i(0, 3)} pkt.",
        f"Włączono leczenie przeciwkrzepliwe: {drug}." if chads >= 2 else "Na razie bez wskazań do leczenia przeciwkrzepliwego.",
        c.ch([f"Kontrola częstości rytmu: metoprolol {c.ch(['47,5', '95'])} mg.", "Kontrola częstości rytmu: bisoprolol 5 mg.",
              f"Zakwalifikowan{p.y} do kardiowersji elektrycznej po 3 tygodniach skutecznej antykoagulacji.",
              f"Skierowan{p.y} do ośrodka elektrofizjologii w celu ablacji."]),
        c.maybe(0.5, "TSH w normie, ECHO bez istotnej wady zastawkowej."),
    ]
    return "consultation", _lines(c.ch(["Konsultacja kardiologiczna", "Poradnia Kardiologiczna – wizyta", "Konsultacja – migotanie przedsionków"]), parts)


def _card_referral(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=35, hi=85)
    target, icd, name, info = c.ch([
        ("do Poradni Kardiologicznej", "R00.2", "Kołatanie serca", "epizody szybkiego, niemiarowego bicia serca, w EKG rytm zatokowy"),
        ("na koronarografię", "I20.8", "Inne postacie dławicy piersiowej", "dławica wysiłkowa CCS II, dodatni wynik próby wysiłkowej"),
        ("na badanie Holter EKG", "R55", "Omdlenie i zapaść", f"{c.i(2, 4)} epizody utraty przytomności w ostatnim miesiącu"),
        ("do Poradni Kardiologicznej", "I25.1", "Miażdżycowa choroba serca", "dławica stabilna, stan po PCI przed 2 laty, kontrola"),
        ("na ECHO serca", "R01.1", "Szmer serca, nieokreślony", "szmer skurczowy nad zastawką aortalną, duszność wysiłkowa"),
        ("do Poradni Wad Serca", "I35.0", "Zwężenie zastawki aortalnej", "umiarkowana stenoza aortalna w ECHO, narastająca duszność"),
    ])
    parts = [f"Rozpoznanie: {icd} – {name}.", f"{c.who(p)}, {info}.",
             c.maybe(0.6, f"Leki: {', '.join(c.some(['ASA 75 mg', 'atorwastatyna 20 mg', 'bisoprolol 5 mg', 'metformina 1000 mg', 'pantoprazol 20 mg'], 1, 3))}."),
             c.ch(["Proszę o konsultację i dalsze leczenie.", "Proszę o diagnostykę kardiologiczną.", "Proszę o ocenę i ustalenie dalszego postępowania."])]
    return "referral", _lines(f"Skierowanie {target}", parts[:1] + c.shuffled(parts[1:3]) + parts[3:], c.maybe(0.5, c.sig()))


def _card_holter(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=20, hi=88)
    sv, v = c.i(2, 3000), c.i(1, 5000)
    pairs = c.i(0, 40)
    sv_txt = _pl(sv, "pobudzenie dodatkowe nadkomorowe", "pobudzenia dodatkowe nadkomorowe", "pobudzeń dodatkowych nadkomorowych")
    v_txt = _pl(v, "pobudzenie komorowe", "pobudzenia komorowe", "pobudzeń komorowych")
    parts = [
        f"Czas rejestracji {c.ch(['24', '24', '48', '72'])} h.",
        f"Rytm podstawowy zatokowy, HR min. {c.i(38, 58)}/min, maks. {c.i(110, 160)}/min, średnio {c.i(60, 85)}/min.",
        f"Zarejestrowano {sv} {sv_txt} i {v} {v_txt}" + (f", w tym {pairs} {_pl(pairs, 'para', 'pary', 'par')}." if pairs else "."),
    ]
    parts += c.some([
        c.ch(["Nie stwierdzono pauz > 2,5 s.", f"Najdłuższa pauza {c.f(1.6, 3.2)} s w czasie snu."]),
        c.ch(["Bez epizodów migotania przedsionków.", f"Epizod częstoskurczu nadkomorowego o czasie trwania {c.i(5, 40)} s.",
              f"Napad migotania przedsionków trwający {c.i(10, 90)} minut."]),
        "Bez istotnych zaburzeń przewodzenia.",
        c.ch(["W dzienniczku pacjent zgłaszał kołatania – korelacja z pobudzeniami nadkomorowymi.", "Objawów w dzienniczku nie zgłoszono."]),
    ], 2, 4)
    return "monitoring", _lines(c.ch(["Holter EKG – opis", "24-godzinne monitorowanie EKG metodą Holtera", "Badanie Holter EKG"]),
                                c.maybe(0.6, c.demo(p)), parts, c.maybe(0.4, c.sig("kardiologii")))


def _card_prescription(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=45, hi=90)
    icd = c.ch(["I25.2 – Przebyty zawał serca", "I48.1 – Migotanie przedsionków przetrwałe", "I50.0 – Niewydolność serca",
                "I25.1 – Miażdżycowa choroba serca", "I20.8 – Dławica piersiowa stabilna"])
    items = c.some([
        f"Bisoprolol {c.ch(['2,5', '5', '10'])} mg, op. 28 tabl. D.S. 1 x 1 tabl. rano",
        f"Atorwastatyna {c.ch(['20', '40', '80'])} mg, op. 30 tabl. D.S. 1 x 1 tabl. wieczorem",
        f"Rosuwastatyna {c.ch(['10', '20', '40'])} mg, op. 28 tabl. D.S. 1 x 1 tabl.",
        "Klopidogrel 75 mg, op. 28 tabl. D.S. 1 x 1 tabl.",
        "Tikagrelor 90 mg, op. 56 tabl. D.S. 2 x 1 tabl.",
        "Apiksaban 5 mg, op. 60 tabl. D.S. 2 x 1 tabl.",
        "Dapagliflozyna 10 mg, op. 30 tabl. D.S. 1 x 1 tabl. rano",
        f"Metoprolol {c.ch(['47,5', '95'])} mg, op. 28 tabl. D.S. 1 x 1 tabl.",
        "Nitrogliceryna 0,4 mg aerozol D.S. doraźnie podjęzykowo w bólu dławicowym",
    ], 2, 4, keep_order=False)
    return "prescription", _lines(c.ch(["Recepta", "RECEPTA", "e-Recepta – Poradnia Kardiologiczna"]),
                                  f"{c.who(p)}. Rozpoznanie: {icd}.", *[f"Rp. {x}" for x in items],
                                  c.maybe(0.5, c.ch(["Odpłatność: 30%.", "Odpłatność: R.", "Odpłatność: 100%."])), c.maybe(0.4, c.sig("kardiologii")))


def _card_troponin(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=30, hi=90)
    mi = c.p(0.5)
    t0 = c.i(12, 60) if mi else c.i(3, 13)
    t1 = t0 + c.i(15, 400) if mi else max(2, t0 + c.i(-2, 3))
    parts = [
        f"Troponina T hs (0 h): {t0} ng/l (norma < 14 ng/l).",
        f"Troponina T hs (po 3 h): {t1} ng/l.",
    ]
    parts += c.some([f"CK-MB {c.i(10, 80)} U/l.", f"NT-proBNP {c.i(50, 4000)} pg/ml.", f"D-dimery {c.i(150, 900)} ng/ml.",
                     f"Potas {c.f(3.6, 5.1)} mmol/l."], 1, 2)
    interp = (f"Interpretacja: istotna dynamika troponiny – obraz odpowiada zawałowi serca, pilna konsultacja kardiologiczna."
              if mi else "Interpretacja: bez istotnej dynamiki troponiny – wykluczono zawał serca wg algorytmu 0/3 h.")
    return "lab", _lines(c.ch(["Wynik badania laboratoryjnego – SOR", "Badania laboratoryjne: markery martwicy mięśnia sercowego",
                               "Laboratorium – wynik"]), c.maybe(0.5, c.demo(p)), parts, interp)


def _card_stress(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=35, hi=78)
    pos = c.p(0.35)
    mets = c.f(5, 13)
    parts = [
        f"Próba wysiłkowa na bieżni wg protokołu Bruce'a, czas wysiłku {c.i(5, 13)} min {c.i(0, 59)} s, obciążenie {mets} MET.",
        f"HR spoczynkowe {c.i(60, 90)}/min, maks. {c.i(130, 175)}/min ({c.i(82, 98)}% HR maks. należnego).",
        f"RR spoczynkowe {c.i(120, 145)}/{c.i(70, 90)} mmHg, szczytowe {c.i(160, 210)}/{c.i(75, 100)} mmHg.",
        ("Przy obciążeniu 7 MET ból w klatce piersiowej i poziome obniżenia ST o 2 mm w V4–V6." if pos
         else "Nie wystąpiły bóle dławicowe ani istotne zmiany odcinka ST."),
        c.ch(["Próbę przerwano z powodu zmęczenia.", "Próbę przerwano po osiągnięciu submaksymalnej częstości rytmu.", ""]),
    ]
    return "ecg", _lines(c.ch(["Elektrokardiograficzna próba wysiłkowa", "Test wysiłkowy EKG – opis"]), c.maybe(0.5, c.demo(p)), parts,
                         f"Wynik: {'dodatni – wskazana koronarografia' if pos else 'ujemny'}.")


# --- Cardiology hard cases --------------------------------------------------


def _card_h_hf_ht(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=55, hi=90)
    ef = c.i(20, 38)
    parts = [
        f"{c.who(p)} z nadciśnieniem tętniczym od {c.i(10, 30)} lat oraz niewydolnością serca z obniżoną frakcją wyrzutową (EF {ef}%), NYHA {c.ch(['II', 'III'])}.",
        f"Obecnie RR {c.i(110, 135)}/{c.i(65, 80)} mmHg, bez obrzęków.",
        f"W ECHO poszerzona lewa komora, globalna hipokineza, EF {ef}%.",
        f"Zamieniono ramipryl na sakubitryl/walsartan {c.ch(['24/26', '49/51'])} mg 2 x 1, kontynuacja bisoprololu, eplerenonu i dapagliflozyny.",
        c.maybe(0.5, "Rozważenie implantacji ICD po 3 miesiącach optymalnej farmakoterapii."),
    ]
    return "consultation", _lines(c.ch(["Poradnia Niewydolności Serca – wizyta kontrolna", "Konsultacja kardiologiczna"]),
                                  parts[:1] + c.shuffled(parts[1:3]) + parts[3:])


def _card_h_negation(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=25, hi=70)
    parts = [
        f"{c.who(p)} zgłosi{p.la} się z powodu kołatania serca od {c.i(2, 8)} tygodni.",
        c.ch(["W wywiadzie bez nadciśnienia tętniczego i bez chorób nowotworowych.", "Nie leczy się z powodu nadciśnienia.",
              "Nadciśnienie tętnicze – neguje."]),
        c.ch(["RTG klatki piersiowej bez zmian.", "W badaniach obrazowych bez zmian ogniskowych.", "Badań obrazowych nie wykonywano."]),
        f"W Holterze EKG {_count(c.i(2000, 12000), 'jednokształtne pobudzenie komorowe', 'jednokształtne pobudzenia komorowe', 'jednokształtnych pobudzeń komorowych')}, bez częstoskurczu komorowego.",
        f"ECHO serca: EF {c.i(55, 65)}%, bez wady zastawkowej.",
        c.ch([f"Włączono bisoprolol {c.ch(['2,5', '5'])} mg.", "Zalecono ograniczenie kawy; kontrola Holtera za 3 miesiące.",
              f"Skierowan{p.y} do ośrodka elektrofizjologii na ablację."]),
    ]
    return "consultation", _lines(c.ch(["Konsultacja kardiologiczna", "Poradnia Kardiologiczna"]), parts)


def _card_h_terse(c: _Ctx) -> tuple[str, str]:
    pre = [f"kard., pac. {c.i(40, 85)} l.", f"pac. {c.i(40, 85)} l., {c.ch(['k', 'm'])}", "konsultacja kardiologiczna:"]
    head, frags, tail = c.ch([
        ("ekg",
         [f"rz {c.i(55, 95)}/min", "oś pośr.", f"pq {c.i(130, 190)} ms", f"qrs {c.i(80, 105)} ms", f"qtc {c.i(390, 450)} ms",
          "bez zm. st-t", "bez cech niedokrwienia", "pojedyncze pvc"],
         ["echo: lk nie poszerz., ef 60%, zastawki b/z.", "wniosek: ekg w normie.", "bez zmian w porównaniu z poprzednim zapisem."]),
        (f"st. po nstemi ({c.date()})",
         ["pci lad + des", f"ef {c.i(40, 55)}%", "asa + tikagrelor do 12 mies.", "atorw. 80 mg", "bisoprolol 5 mg",
          "bólów dławicowych nie zgłasza", "nyha i", f"ldl {c.i(45, 90)} mg/dl"],
         ["kontrola kard. za 6 mies.", "rehabilitacja kardiologiczna ukończona.", ""]),
        ("af utrwalone",
         [f"hr {c.i(70, 110)}/min", f"cha2ds2-vasc {c.i(2, 6)}", f"has-bled {c.i(1, 3)}", "na apiksabanie 5 mg 2x1",
          "metoprolol 95 mg", "tsh w normie", "echo: lp 48 mm, ef 55%"],
         ["kontrola kard. za 6 mies.", "bez zmian w leczeniu.", ""]),
        ("hfref",
         [f"ef {c.i(20, 35)}%", f"nyha {c.ch(['ii', 'iii'])}", f"nt-probnp {c.i(1500, 9000)}", "kont. arni, bb, mra, sglt2i",
          "masa ciała stabilna", "bez obrzęków", f"k {c.f(4.0, 5.2)}", "crt-d do rozważenia"],
         ["kontrola w poradni ns za 3 mies.", "", "echo kontrolne za 3 mies."]),
        ("koronarografia",
         [f"lad – zwężenie {c.i(70, 95)}% w odc. proks.", "cx b/z", f"rca – zwężenie {c.i(30, 60)}%", "pci lad z implantacją 1 x des",
          "dostęp promieniowy prawy", "bez powikłań", "timi 3"],
         ["dapt 12 mies.", "", "kontrola miejsca wkłucia."]),
    ])
    return c.ch(["consultation", "ecg", "consultation"]), _terse(c, head, frags, 5, 8, tail, pre)


def _card_h_cardiotox(c: _Ctx) -> tuple[str, str]:
    p = c.patient(female=True, lo=35, hi=75)
    ef0, ef1 = c.i(58, 66), c.i(38, 48)
    parts = [
        f"{c.who(p)} w trakcie leczenia raka piersi ({c.ch(['antracykliny, następnie trastuzumab', 'trastuzumab', 'schemat AC-T'])}).",
        f"W kontrolnym ECHO spadek EF z {ef0}% do {ef1}%, GLS {c.i(-15, -10)}%.",
        "Obraz odpowiada kardiotoksyczności związanej z leczeniem przeciwnowotworowym (CTRCD).",
        f"Włączono ramipryl {c.ch(['1,25', '2,5'])} mg i bisoprolol {c.ch(['1,25', '2,5'])} mg, zalecono wstrzymanie trastuzumabu do czasu poprawy EF.",
        f"Kontrolne ECHO serca za {c.ch(['3', '4'])} tygodnie, NT-proBNP i troponina przed każdym cyklem.",
    ]
    return "consultation", _lines(c.ch(["Konsultacja kardiologiczna (kardioonkologia)", "Poradnia Kardioonkologiczna"]), parts)


_CARD_NORMAL = [_card_ecg, _card_echo, _card_mi_discharge, _card_hf, _card_af, _card_referral, _card_holter,
                _card_prescription, _card_troponin, _card_stress]
_CARD_HARD = [_card_h_hf_ht, _card_h_negation, _card_h_terse, _card_h_cardiotox]


# --------------------------------------------------------------------------
# Hypertension
# --------------------------------------------------------------------------

# antihypertensive drugs by class; "ras" = ACE inhibitors and sartans (never combined with each other)
_HT_CLASSES = {
    "ras": [("ramipryl", ["2,5 mg", "5 mg", "10 mg"]), ("perindopril", ["5 mg", "10 mg"]), ("walsartan", ["80 mg", "160 mg"]),
            ("telmisartan", ["40 mg", "80 mg"]), ("losartan", ["50 mg", "100 mg"]), ("kandesartan", ["8 mg", "16 mg"])],
    "ccb": [("amlodypina", ["5 mg", "10 mg"]), ("lerkanidypina", ["10 mg", "20 mg"])],
    "diu": [("indapamid", ["1,5 mg SR", "2,5 mg"]), ("chlortalidon", ["12,5 mg", "25 mg"]), ("hydrochlorotiazyd", ["12,5 mg", "25 mg"])],
    "bb": [("nebiwolol", ["5 mg"]), ("bisoprolol", ["2,5 mg", "5 mg"])],
}
_HT_COMBOS = [
    "perindopril + indapamid 5 mg/1,25 mg", "perindopril + amlodypina 5 mg/5 mg", "walsartan + amlodypina 160 mg/5 mg",
    "ramipryl + amlodypina 5 mg/5 mg", "telmisartan + hydrochlorotiazyd 80 mg/12,5 mg", "perindopril + indapamid + amlodypina 10 mg/2,5 mg/5 mg",
]


def _ht_drugs(c: _Ctx, k: int, classes: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """``k`` drugs from distinct classes (RAS blocker first when present)."""
    if classes is None:
        classes = ["ras"] + c.r.sample(["ccb", "diu", "bb"], k - 1) if c.p(0.8) else c.r.sample(["ras", "ccb", "diu", "bb"], k)
    out = []
    for cls in classes[:k]:
        name, doses = c.ch(_HT_CLASSES[cls])
        out.append((name, c.ch(doses)))
    return out


def _classes_of(names: Iterable[str]) -> set[str]:
    return {cls for cls, drugs in _HT_CLASSES.items() for n, _ in drugs if n in names}


def _ht_triple(c: _Ctx) -> list[tuple[str, str]]:
    """RAS blocker + calcium-channel blocker + thiazide(-like) diuretic, in a random order."""
    return c.shuffled(_ht_drugs(c, 3, ["ras", "ccb", "diu"]))


def _rr(c: _Ctx, lo_s: int, hi_s: int, lo_d: int, hi_d: int) -> str:
    return f"{c.i(lo_s, hi_s)}/{c.i(lo_d, hi_d)} mmHg"


def _ht_grade(c: _Ctx) -> tuple[str, str]:
    g = c.ch([("1.", (140, 159, 90, 99)), ("2.", (160, 179, 100, 109)), ("3.", (180, 200, 110, 120))])
    return g[0], _rr(c, *g[1])


def _ht_new(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=30, hi=80)
    grade, rr = _ht_grade(c)
    (d1, dose1), = _ht_drugs(c, 1)
    parts = [
        f"{c.who(p)} zgłosi{p.la} się z powodu podwyższonych wartości ciśnienia tętniczego w pomiarach domowych (do {_rr(c, 155, 185, 95, 110)}).",
        c.ch(["Skarży się na bóle głowy w okolicy potylicznej.", "Okresowo szum w uszach i uderzenia gorąca.", "Bez dolegliwości.",
              "Zgłasza pogorszenie tolerancji wysiłku."]),
        f"W gabinecie RR {rr} (średnia z 2 pomiarów), tętno {c.i(62, 96)}/min.",
        c.maybe(0.5, f"BMI {c.f(24, 36)} kg/m², obwód talii {c.i(85, 120)} cm."),
        c.maybe(0.4, f"{c.ch(['Ojciec', 'Matka', 'Oboje rodzice'])} z nadciśnieniem tętniczym."),
    ]
    dx = f"Rozpoznano nadciśnienie tętnicze pierwotne (I10), {grade} stopnia."
    start = [f"Włączono {_acc(d1)} {dose1} 1 x dziennie rano.", f"Włączono lek złożony: {c.ch(_HT_COMBOS)}, 1 tabl. rano."]
    if grade == "1.":
        start.append("Na razie leczenie niefarmakologiczne (zmiana stylu życia).")
    plan = [
        c.ch(start),
        c.ch(["Zalecono prowadzenie dzienniczka pomiarów ciśnienia.", "Zalecono domowe pomiary ciśnienia rano i wieczorem.",
              "Zlecono ABPM."]),
        f"Kontrola za {c.ch(['4 tygodnie', '2 tygodnie', 'miesiąc', '6 tygodni'])} z wynikami: kreatynina, potas, lipidogram, glukoza, badanie ogólne moczu.",
    ]
    return "consultation", _lines(c.ch(["Konsultacja – Poradnia Nadciśnienia Tętniczego", "Porada lekarska – POZ",
                                        "Poradnia Chorób Wewnętrznych – wizyta"]),
                                  parts[:1] + c.shuffled(parts[1:]), dx, plan)


def _ht_abpm(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=25, hi=85)
    day_s = c.i(118, 165)
    day_d = int(day_s * 0.62) + c.i(-6, 8)
    night_s = day_s - c.i(-4, 22)
    night_d = min(int(night_s * 0.6) + c.i(-5, 6), day_d - c.i(0, 8))
    dip = round((day_s - night_s) / day_s * 100)
    dipper = "dipper" if 10 <= dip <= 20 else ("non-dipper" if 0 <= dip < 10 else ("extreme dipper" if dip > 20 else "reverse dipper"))
    mean_s, mean_d = (2 * day_s + night_s) // 3, (2 * day_d + night_d) // 3
    if mean_s < 130 and mean_d < 80:
        verdict = c.ch(["Wniosek: średnie wartości ciśnienia w normie – nadciśnienie tętnicze dobrze kontrolowane.",
                        "Wniosek: wartości prawidłowe; w zestawieniu z wysokimi pomiarami w gabinecie – obraz nadciśnienia białego fartucha."])
    else:
        verdict = c.ch(["Wniosek: nadciśnienie tętnicze niekontrolowane – wskazana intensyfikacja leczenia.",
                        "Wniosek: potwierdzono nadciśnienie tętnicze.", "Wniosek: podwyższone wartości ciśnienia w ciągu doby i w nocy."])
    valid, total = c.i(48, 70), c.i(70, 76)
    parts = [
        f"Liczba ważnych pomiarów: {valid}/{max(valid, total)}.",
        f"Średnie ciśnienie w ciągu doby: {mean_s}/{mean_d} mmHg (norma < 130/80 mmHg).",
        f"W okresie aktywności dziennej: {day_s}/{day_d} mmHg, w okresie snu: {night_s}/{night_d} mmHg.",
        f"Nocny spadek ciśnienia skurczowego {dip}% – profil {dipper}.",
        c.maybe(0.5, f"Ładunek ciśnienia skurczowego {c.i(10, 80)}%, rozkurczowego {c.i(5, 70)}%."),
        c.maybe(0.4, f"Średnie tętno {c.i(60, 88)}/min."),
    ]
    return "monitoring", _lines(c.ch(["Całodobowy pomiar ciśnienia tętniczego (ABPM)", "ABPM – opis badania",
                                      "24-godzinne monitorowanie ciśnienia tętniczego"]),
                                c.maybe(0.5, c.demo(p)), c.maybe(0.5, c.ch(["Badanie wykonano w trakcie leczenia hipotensyjnego.",
                                                                           "Badanie wykonano bez leczenia hipotensyjnego."])),
                                parts, verdict)


def _ht_prescription(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=35, hi=90)
    icd = c.ch(["I10 – Samoistne (pierwotne) nadciśnienie", "I10 – Nadciśnienie tętnicze pierwotne",
                "I11.9 – Choroba nadciśnieniowa serca bez niewydolności serca", "I12.9 – Nadciśnieniowa choroba nerek"])
    items = []
    if c.p(0.5):
        combo = c.ch(_HT_COMBOS)
        items.append(f"{_cap(combo)}, op. 30 tabl. D.S. 1 x 1 tabl. rano")
        free = [k for k in ("ccb", "diu", "bb") if k not in _classes_of(combo.split())]
        drugs = _ht_drugs(c, 1, [c.ch(free)]) if c.p(0.6) else []
    else:
        drugs = _ht_drugs(c, c.i(1, 2))
    for name, dose in drugs:
        items.append(f"{_cap(name)} {dose}, op. {c.ch(['28', '30', '56', '90'])} tabl. D.S. 1 x 1 tabl. {c.ch(['rano', 'wieczorem', 'rano'])}")
    return "prescription", _lines(c.ch(["Recepta", "RECEPTA", "e-Recepta"]), f"{c.who(p)}. Rozpoznanie: {icd}.",
                                  *[f"Rp. {x}" for x in items],
                                  c.maybe(0.5, c.ch(["Odpłatność: 30%.", "Odpłatność: S (senior)." if p.age >= 65 else "Odpłatność: R.", "Odpłatność: R."])),
                                  c.maybe(0.4, c.sig("chorób wewnętrznych")))


def _ht_recommendations(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=30, hi=85)
    recs = c.some([
        "ograniczenie spożycia soli kuchennej do < 5 g na dobę",
        f"redukcja masy ciała (aktualnie BMI {c.f(26, 38)} kg/m²)",
        "regularna aktywność fizyczna – co najmniej 30 minut szybkiego marszu 5 razy w tygodniu",
        "ograniczenie alkoholu",
        "całkowite zaprzestanie palenia tytoniu",
        "dieta DASH bogata w warzywa, owoce i produkty pełnoziarniste",
        "pomiary ciśnienia w domu rano i wieczorem, po 2 pomiary w odstępie minuty, zapisywane w dzienniczku",
        "przyjmowanie leków hipotensyjnych codziennie o stałej porze",
        "kontrola kreatyniny i potasu za 2 tygodnie",
        "w razie RR > 180/110 mmHg z bólem głowy lub w klatce piersiowej – pilny kontakt z lekarzem",
    ], 4, 7, keep_order=False)
    numbered = c.p(0.5)
    body = [f"{i}. {_cap(x)}." for i, x in enumerate(recs, 1)] if numbered else [_cap("; ".join(recs)) + "."]
    drug = c.maybe(0.6, f"Leczenie: {', '.join(f'{n} {d}' for n, d in _ht_drugs(c, c.i(1, 3)))}.")
    return "recommendations", _lines(
        c.ch([f"Zalecenia dla {p.p_gen} z nadciśnieniem tętniczym", "ZALECENIA – nadciśnienie tętnicze",
              "Zalecenia po wizycie w Poradni Nadciśnienia Tętniczego"]),
        c.maybe(0.5, f"{c.who(p)}, RR w gabinecie {_rr(c, 135, 175, 82, 105)}."), *body, drug)


def _ht_crisis(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=35, hi=88)
    rr0 = _rr(c, 200, 240, 115, 140)
    rr1 = _rr(c, 150, 170, 85, 100)
    (d1, dose1), (d2, dose2) = _ht_drugs(c, 2)
    parts = [
        f"{c.who(p)} przywiezion{p.y} przez ZRM z powodu RR {rr0}, bólu głowy i zawrotów.",
        c.ch([f"Leczon{p.y} {_ins(d1)} i {_ins(d2)}, leków nie przyjmowa{p.la} od kilku dni.",
              f"Dotychczas nie leczy{p.la} się z powodu nadciśnienia.",
              f"W wywiadzie nadciśnienie tętnicze od {c.i(5, 20)} lat, leczone nieregularnie."]),
        "W badaniu neurologicznym bez objawów ogniskowych; EKG bez cech ostrego niedokrwienia; troponina w normie.",
        c.ch(["Podano kaptopril 25 mg p.o. oraz urapidyl i.v.", "Podano urapidyl 12,5 mg i.v. we frakcjach.",
              "Podano kaptopril 12,5 mg podjęzykowo, następnie urapidyl i.v."]),
        f"Po {c.i(2, 6)} godzinach RR {rr1}.",
    ]
    dx = c.ch(["Rozpoznanie: I10 – Nadciśnienie tętnicze; stan pilny w nadciśnieniu bez ostrego uszkodzenia narządowego.",
               "Rozpoznanie: Przełom nadciśnieniowy bez cech ostrego uszkodzenia narządowego (I10)."])
    recs = f"Zalecenia: {d1} {dose1} i {d2} {dose2} codziennie, kontrola RR w domu, wizyta w POZ w ciągu 7 dni."
    return "discharge", _lines(c.ch(["Karta informacyjna – Szpitalny Oddział Ratunkowy", "Wypis z SOR", "Karta informacyjna z pobytu na SOR"]),
                               dx, parts, recs)


def _ht_secondary(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=25, hi=65)
    drugs = _ht_triple(c)
    susp = c.ch([
        ("hiperaldosteronizmu pierwotnego", f"hipokaliemia (K {c.f(2.9, 3.4)} mmol/l)"),
        ("zwężenia tętnic nerkowych", f"wzrost kreatyniny o {c.i(30, 50)}% po włączeniu inhibitora ACE"),
        ("obturacyjnego bezdechu sennego", "chrapanie, nadmierna senność w ciągu dnia, non-dipper w ABPM"),
        ("guza chromochłonnego", "napadowe wzrosty ciśnienia z kołataniem serca, bladością i potami"),
    ])
    parts = [
        f"{c.who(p)} z nadciśnieniem tętniczym opornym na leczenie.",
        f"Mimo stosowania {', '.join(f'{_gen(n)} {d}' for n, d in drugs[:2])} i {_gen(drugs[2][0])} {drugs[2][1]} RR {_rr(c, 150, 185, 95, 115)}.",
        f"Dodatkowo: {susp[1]}.",
        c.maybe(0.5, "Wykluczono pseudooporność (prawidłowa technika pomiaru, potwierdzenie w ABPM, dobra współpraca)."),
    ]
    return "referral", _lines(c.ch(["Skierowanie do Poradni Nadciśnienia Tętniczego", "Skierowanie do Kliniki Nadciśnienia Tętniczego",
                                    "SKIEROWANIE – diagnostyka nadciśnienia wtórnego"]),
                              c.ch(["Rozpoznanie: I15.9 – Nadciśnienie wtórne, nieokreślone (podejrzenie).",
                                    "Rozpoznanie: I10 – Nadciśnienie tętnicze, podejrzenie postaci wtórnej."]),
                              parts, f"Proszę o diagnostykę w kierunku {susp[0]}.")


def _ht_control(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=40, hi=88)
    (d1, dose1), (d2, dose2) = _ht_drugs(c, 2)
    names = (d1, d2)
    years = c.i(2, 25)
    good = c.p(0.5)
    home = _rr(c, 122, 134, 72, 82) if good else _rr(c, 142, 165, 88, 100)
    office = _rr(c, 124, 139, 74, 88) if good else _rr(c, 145, 170, 88, 102)
    tolerance = ["Leczenie dobrze tolerowane.", "Bez działań niepożądanych."]
    if "amlodypina" in names:
        tolerance.append("Zgłasza obrzęki okolicy kostek po amlodypinie – zmniejszono dawkę do 5 mg.")
    for acei in ("ramipryl", "perindopril"):
        if acei in names:
            tolerance.append(f"Zgłasza suchy kaszel po {_gen(acei)} – zamieniono na walsartan 80 mg.")
    parts = [
        f"{c.who(p)} z nadciśnieniem tętniczym od {years} lat, leczon{p.y} {_ins(d1)} {dose1} i {_ins(d2)} {dose2}.",
        f"W dzienniczku domowych pomiarów średnie wartości {home}.",
        f"RR w gabinecie {office}, tętno {c.i(58, 90)}/min.",
        c.ch(tolerance),
    ]
    if good:
        plan = "Ciśnienie dobrze kontrolowane, kontynuacja leczenia. Kontrola za 6 miesięcy."
    else:
        missing = [k for k in ("ccb", "diu") if k not in _classes_of(names)] or ["bb"]
        (add, add_dose), = _ht_drugs(c, 1, [c.ch(missing)])
        plan = c.ch([f"Ciśnienie niekontrolowane – zwiększono dawkę {_gen(d1)}.",
                     f"Nadciśnienie niekontrolowane – dołączono {_acc(add)} {add_dose}.",
                     "Ciśnienie powyżej wartości docelowych – zamieniono leczenie na preparat złożony, kontrola za 4 tygodnie."])
    return "consultation", _lines(c.ch(["Wizyta kontrolna – POZ", "Poradnia Nadciśnienia Tętniczego – kontrola", "Porada lekarska"]),
                                  parts[:1] + c.shuffled(parts[1:]), plan)


def _ht_pregnancy(c: _Ctx) -> tuple[str, str]:
    p = c.patient(female=True, lo=21, hi=42)
    wk = c.i(21, 37)
    prot_g = c.ch([0.0, round(c.r.uniform(0.1, 0.25), 2), round(c.r.uniform(0.35, 1.2), 2)])
    prot = "białkomocz ujemny" if not prot_g else f"białkomocz {prot_g:.2f} g/dobę".replace(".", ",")
    pre = prot_g >= 0.3
    parts = [
        f"Ciężarna, lat {p.age}, {wk}. tydzień ciąży, {c.ch(['pierwiastka', 'wieloródka'])}.",
        f"RR {_rr(c, 145, 165, 92, 108)}, {prot}.",
        c.ch(["Bez bólów głowy i zaburzeń widzenia.", "Obrzęki podudzi.", "Okresowe bóle głowy."]),
        ("Rozpoznano stan przedrzucawkowy – skierowano na oddział patologii ciąży." if pre else
         f"Rozpoznano {c.ch(['nadciśnienie tętnicze indukowane ciążą (O13)', 'nadciśnienie tętnicze przewlekłe w ciąży (O10.0)'])}."),
        c.ch(["Włączono metyldopę 250 mg 3 x 1.", "Włączono labetalol 100 mg 2 x 1.", "Włączono nifedypinę o przedłużonym uwalnianiu 30 mg 1 x 1.",
              "Zwiększono dawkę metyldopy do 500 mg 3 x 1."]),
        c.ch(["Zalecono samokontrolę RR i KTG co tydzień.", "Objawy alarmowe (ból głowy, mroczki przed oczami, ból w nadbrzuszu) wymagają pilnego zgłoszenia się do szpitala.",
              "Kontrola w Poradni Patologii Ciąży za 7 dni."]),
    ]
    return "consultation", _lines(c.ch(["Konsultacja – Poradnia Patologii Ciąży", "Konsultacja internistyczna – nadciśnienie w ciąży"]), parts)


def _ht_resistant(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=45, hi=85)
    drugs = _ht_triple(c)
    parts = [
        f"{c.who(p)} z nadciśnieniem tętniczym opornym: mimo leczenia {', '.join(_ins(n) for n, _ in drugs[:2])} i {_ins(drugs[2][0])} w pełnych dawkach RR {_rr(c, 145, 175, 88, 105)}.",
        f"W ABPM średnia dobowa {_rr(c, 138, 160, 82, 98)}.",
        c.maybe(0.6, "Wykluczono nadciśnienie wtórne (aldosteron, renina i metoksykatecholaminy w normie, USG tętnic nerkowych bez zwężeń)."),
        f"Dołączono spironolakton 25 mg 1 x 1.",
        c.ch(["Kontrola potasu i kreatyniny za 2 tygodnie.", "Kontrola elektrolitów za 10 dni, wizyta za miesiąc z dzienniczkiem RR."]),
        c.maybe(0.4, "Rozważenie denerwacji nerek w przypadku braku efektu."),
    ]
    return "consultation", _lines(c.ch(["Poradnia Nadciśnienia Tętniczego", "Konsultacja – nadciśnienie tętnicze oporne"]),
                                  "Rozpoznanie: I10 – nadciśnienie tętnicze oporne.", parts)


def _ht_lab(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=35, hi=88)
    creat = c.r.uniform(0.7, 1.8)
    egfr = max(15, min(120, int(95 / creat * c.r.uniform(0.85, 1.1))))
    acr = c.i(5, 250)
    parts = c.some([
        f"Kreatynina {creat:.2f} mg/dl, eGFR {egfr} ml/min/1,73 m²".replace(".", ",", 1) + ".",
        f"Potas {c.f(3.5, 5.4)} mmol/l, sód {c.i(134, 145)} mmol/l.",
        f"Cholesterol LDL {c.i(70, 190)} mg/dl.",
        f"Glukoza na czczo {c.i(82, 125)} mg/dl.",
        f"Kwas moczowy {c.f(4.5, 8.5)} mg/dl.",
        f"Stosunek albumina/kreatynina w moczu (UACR) {acr} mg/g.",
    ], 4, 6)
    interp = c.ch([
        f"Interpretacja: {'albuminuria – powikłanie nerkowe nadciśnienia' if acr >= 30 else 'bez cech powikłań nerkowych nadciśnienia'}.",
        "Wyniki przed zwiększeniem dawki inhibitora ACE.",
        "Kontrola w trakcie leczenia diuretykiem tiazydopodobnym.",
    ])
    return "lab", _lines(c.ch(["Badania kontrolne u pacjenta z nadciśnieniem tętniczym", "Wyniki badań laboratoryjnych – Poradnia Nadciśnienia",
                               "Laboratorium – wyniki (HT)"]), c.maybe(0.5, c.demo(p)), parts, interp)


# --- Hypertension hard cases ------------------------------------------------


def _ht_h_lvh(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=45, hi=85)
    (d1, dose1), (d2, dose2) = _ht_drugs(c, 2)
    parts = [
        f"{c.who(p)} z wieloletnim nadciśnieniem tętniczym, źle kontrolowanym (RR {_rr(c, 150, 178, 90, 105)}).",
        f"W EKG cechy przerostu lewej komory (Sokolow-Lyon {c.i(36, 45)} mm).",
        f"W ECHO serca przerost koncentryczny lewej komory: IVSd {c.i(12, 15)} mm, LVPWd {c.i(12, 14)} mm, EF {c.i(55, 68)}%, bez zaburzeń kurczliwości.",
        f"Zintensyfikowano leczenie hipotensyjne: {d1} {dose1} + {d2} {dose2}.",
        "Cel terapeutyczny: RR < 130/80 mmHg.",
    ]
    return "consultation", _lines(c.ch(["Konsultacja – nadciśnienie tętnicze z powikłaniami narządowymi", "Poradnia Nadciśnienia Tętniczego"]),
                                  "Rozpoznanie: I11.9 – Choroba nadciśnieniowa serca bez niewydolności serca.",
                                  parts[:1] + c.shuffled(parts[1:3]) + parts[3:])


def _ht_h_negation(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=25, hi=60)
    parts = [
        f"{c.who(p)} z nowo rozpoznanym nadciśnieniem tętniczym {c.ch(['2.', '3.'])} stopnia (RR {_rr(c, 160, 190, 100, 115)}).",
        c.some([
            "W EKG rytm zatokowy, bez cech niedokrwienia – wykluczono zawał serca.",
            "Wykluczono guz chromochłonny nadnercza (metoksykatecholaminy w normie).",
            "W USG nerek bez zmian ogniskowych, tętnice nerkowe bez zwężeń.",
            "W TK nadnerczy bez zmian ogniskowych.",
            "Bez cech choroby nowotworowej w wywiadzie.",
        ], 2, 4, keep_order=False),
        "Rozpoznano nadciśnienie tętnicze pierwotne.",
        f"Włączono lek złożony: {c.ch(_HT_COMBOS)}.",
    ]
    flat = [parts[0], *parts[1], *parts[2:]]
    return "consultation", _lines(c.ch(["Konsultacja internistyczna", "Poradnia Nadciśnienia Tętniczego – diagnostyka"]), flat)


def _ht_h_terse(c: _Ctx) -> tuple[str, str]:
    (d1, dose1), (d2, dose2) = _ht_drugs(c, 2, ["ras", c.ch(["diu", "bb"])])
    pre = [f"POZ, wizyta {c.date()}", f"pac. {c.i(40, 85)} l.", f"wizyta kontrolna {c.date()}"]
    head, frags, tail = c.ch([
        (f"HT st. {c.i(1, 3)}",
         [f"RR {_rr(c, 150, 180, 92, 110)}", f"HR {c.i(60, 95)}", f"kont. {d1} {dose1} + {d2} {dose2}", "dołączono amlodypinę 5 mg",
          "bez dolegliwości", "obrzęków brak", f"kreat. {c.f(0.7, 1.3, 2)}"],
         ["kontrola za 4 tyg. z dzienniczkiem RR.", "kontrola za miesiąc.", ""]),
        (f"NT od {c.i(3, 20)} lat",
         [f"RR dziś {_rr(c, 130, 150, 80, 95)}", f"leki: {d1} {dose1}, {d2} {dose2}", "bez dolegliwości", "zal. dieta niskosodowa, ruch",
          f"BMI {c.f(26, 34)}", "pomiary domowe w normie"],
         ["kontrola 3 mies.", "kontrola za pół roku.", ""]),
        ("nadciśn. tętn. pierwotne, źle kontrolowane",
         [f"abpm: śr. dobowa {_rr(c, 138, 155, 84, 96)}", "non-dipper", f"zwiększono {_acc(d1)} do max. dawki",
          f"K {c.f(3.6, 5.0)}", "bez cech uszkodzenia narządowego", "ekg: rz, bez cech przerostu lk"],
         ["kontrola za 4 tyg.", "", "abpm kontrolne za 3 mies."]),
        ("HT, dyslipidemia",
         [f"RR {_rr(c, 135, 160, 80, 98)}", f"K {c.f(3.6, 5.0)}", f"kreat. {c.f(0.7, 1.3, 2)}", "bez zmian w leczeniu",
          f"rp. {d1} {dose1} x 90 tabl.", f"rp. {d2} {dose2} x 90 tabl.", f"LDL {c.i(70, 140)}"],
         ["kontrola za 3 mies.", "", "zalecenia jak dotychczas."]),
    ])
    return c.ch(["consultation", "consultation", "prescription"]), _terse(c, head, frags, 5, 8, tail, pre, upper=0.15)


def _ht_h_onco(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=40, hi=80)
    drug, cancer = c.ch([("bewacyzumabem", "raka jelita grubego"), ("sunitynibem", "raka nerki"),
                         ("lenwatynibem", "raka tarczycy"), ("pazopanibem", "raka nerki")])
    (d1, dose1), = _ht_drugs(c, 1, [c.ch(["ras", "ccb"])])
    parts = [
        f"{c.who(p)} leczon{p.y} {drug} z powodu {cancer}.",
        f"Od {c.i(3, 10)} tygodni wzrost ciśnienia tętniczego do {_rr(c, 160, 190, 95, 112)}, wcześniej wartości prawidłowe.",
        "Rozpoznano nadciśnienie tętnicze wtórne do leczenia przeciwnowotworowego (inhibitor VEGF).",
        f"Włączono {_acc(d1)} {dose1}; zalecono codzienne pomiary RR i dzienniczek.",
        "Leczenie onkologiczne kontynuować, jeśli RR < 160/100 mmHg.",
    ]
    return "consultation", _lines(c.ch(["Konsultacja – nadciśnienie tętnicze", "Konsultacja internistyczna (hipertensjologiczna)"]), parts)


_HT_NORMAL = [_ht_new, _ht_abpm, _ht_prescription, _ht_recommendations, _ht_crisis, _ht_secondary, _ht_control,
              _ht_pregnancy, _ht_resistant, _ht_lab]
_HT_HARD = [_ht_h_lvh, _ht_h_negation, _ht_h_terse, _ht_h_onco]


# --------------------------------------------------------------------------
# Pathology
# --------------------------------------------------------------------------


def _hp_no(c: _Ctx) -> str:
    return c.ch([f"Nr badania: H/{c.i(2024, 2026)}/{c.i(100, 19999)}", f"Nr preparatu: {c.i(1000, 29999)}/{c.i(24, 26)}",
                 f"Badanie nr {c.ch(['HP', 'H', 'Hp'])} {c.i(100, 19999)}/{c.i(24, 26)}", ""])


def _path_header(c: _Ctx) -> str:
    return c.ch(["Wynik badania histopatologicznego", "WYNIK BADANIA HISTOPATOLOGICZNEGO", "Zakład Patomorfologii – wynik badania",
                 "Badanie histopatologiczne", "Rozpoznanie histopatologiczne – wynik"])


def _path_gastric(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=20, hi=85)
    hp = c.p(0.5)
    meta = c.p(0.3)
    parts = [
        f"Materiał: wycinki z {c.ch(['trzonu i części przedodźwiernikowej żołądka', 'antrum żołądka', 'dwunastnicy i żołądka'])} ({_count(c.i(2, 6), 'fragment', 'fragmenty', 'fragmentów')}).",
        f"Opis mikroskopowy: błona śluzowa typu {c.ch(['odźwiernikowego', 'trzonowego'])} z {c.ch(['łagodnym', 'umiarkowanym', 'nasilonym'])} przewlekłym naciekiem zapalnym {'z aktywnością (obecne granulocyty obojętnochłonne)' if hp else 'bez cech aktywności'}.",
        ("Obecne bakterie Helicobacter pylori (barwienie Giemsy)." if hp else "Nie stwierdzono bakterii Helicobacter pylori w barwieniu Giemsy."),
        ("Ogniskowa metaplazja jelitowa typu kompletnego, bez dysplazji." if meta else "Bez metaplazji jelitowej i bez dysplazji."),
    ]
    dx = f"Rozpoznanie histopatologiczne: Gastritis chronica {'activa ' if hp else ''}{'cum metaplasia intestinali ' if meta else ''}– H. pylori ({'+' if hp else '-'})."
    return "histopathology", _lines(_path_header(c), _hp_no(c), c.maybe(0.5, c.demo(p)), parts, dx,
                                    c.maybe(0.4, c.sig("patomorfologii")))


def _path_colon_resection(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=45, hi=88)
    t = c.i(2, 4)
    pos = c.ch([0, 0, c.i(1, 3), c.i(4, 7)])
    tot = c.i(12, 28)
    n = "0" if pos == 0 else ("1b" if pos <= 3 else "2a")
    g = c.i(1, 3)
    seg = c.ch([("esicy", "sigmoidei"), ("kątnicy", "caeci"), ("poprzecznicy", "coli transversi"), ("odbytnicy", "recti")])
    depth = {2: "do błony mięśniowej właściwej", 3: "przez błonę mięśniową właściwą do tkanki tłuszczowej okołojelitowej",
             4: "z przejściem na błonę surowiczą"}[t]
    parts = [
        f"Materiał: odcinek jelita grubego ({seg[0]}) długości {c.i(12, 35)} cm z guzem.",
        f"Makroskopowo: guz owrzodziały o wymiarach {c.f(2, 7)} x {c.f(1.5, 5)} cm, w odległości {c.f(3, 12)} cm od najbliższej linii cięcia.",
        f"Mikroskopowo: adenocarcinoma G{g}, naciekający {depth} (pT{t}).",
        f"W {pos} z {tot} węzłów chłonnych przerzuty raka (pN{n})." if pos else f"W {tot} badanych węzłach chłonnych nie stwierdzono przerzutów (pN0).",
        f"Zatory z komórek nowotworowych w naczyniach {c.ch(['obecne (L1)', 'nieobecne (L0)'])}, naciekanie okołonerwowe {c.ch(['obecne (Pn1)', 'nieobecne (Pn0)'])}.",
        "Marginesy chirurgiczne wolne od nacieku nowotworowego (R0).",
        c.maybe(0.5, "Immunohistochemia: zachowana ekspresja MLH1, PMS2, MSH2 i MSH6 (status MMR – pMMR)."),
    ]
    dx = f"Rozpoznanie: Adenocarcinoma {seg[1]} G{g}, pT{t} pN{n} ({pos}/{tot}), R0."
    return "histopathology", _lines(c.ch(["Badanie histopatologiczne materiału pooperacyjnego", _path_header(c)]),
                                    _hp_no(c), c.maybe(0.4, c.demo(p)), parts, dx, c.maybe(0.4, c.sig("patomorfologii")))


def _path_breast_core(c: _Ctx) -> tuple[str, str]:
    p = c.patient(female=True, lo=30, hi=85)
    g = c.i(1, 3)
    her2 = c.ch(["0", "1+", "2+", "3+"])
    er = c.ch([0, c.i(1, 9), c.i(50, 100), c.i(80, 100)])
    parts = [
        f"Materiał: {_count(c.i(2, 5), 'bioptat gruboigłowy', 'bioptaty gruboigłowe', 'bioptatów gruboigłowych')} z guza piersi {c.ch(['prawej', 'lewej'])} (godz. {c.i(1, 12)}, {c.i(1, 8)} cm od brodawki).",
        f"Mikroskopowo: utkanie raka naciekającego typu nieswoistego (NST), G{g} wg Nottingham ({c.i(*{1: (3, 5), 2: (6, 7), 3: (8, 9)}[g])} pkt).",
        c.maybe(0.5, "Obecny komponent raka wewnątrzprzewodowego (DCIS) o wysokim stopniu atypii jądrowej."),
        f"Badanie immunohistochemiczne: ER {er}% komórek ({'dodatni' if er >= 1 else 'ujemny'}), PR {c.i(0, 90)}%, HER2 {her2}, Ki-67 {c.i(5, 70)}%.",
        c.maybe(0.7, "Wskazane oznaczenie amplifikacji HER2 metodą ISH." if her2 == "2+" else ""),
    ]
    return "histopathology", _lines(c.ch(["Wynik badania histopatologicznego – biopsja gruboigłowa piersi", _path_header(c)]),
                                    _hp_no(c), c.maybe(0.4, c.demo(p)), parts,
                                    f"Rozpoznanie: Carcinoma invasivum NST mammae G{g}.")


def _path_cervical_cytology(c: _Ctx) -> tuple[str, str]:
    p = c.patient(female=True, lo=25, hi=64)
    cat, rec = c.ch([("NILM – brak zmian śródnabłonkowych i nowotworowych", "kontrola cytologiczna za 3 lata"),
                     ("NILM – brak zmian śródnabłonkowych i nowotworowych", "badanie w ramach programu profilaktycznego za 3 lata"),
                     ("ASC-US – atypowe komórki nabłonka płaskiego o nieokreślonym znaczeniu", "test HPV HR lub powtórzenie cytologii za 6 miesięcy"),
                     ("LSIL – zmiana śródnabłonkowa małego stopnia", "kolposkopia"),
                     ("HSIL – zmiana śródnabłonkowa dużego stopnia", "pilna kolposkopia z pobraniem wycinków")])
    parts = [
        f"Rodzaj materiału: {c.ch(['rozmaz konwencjonalny', 'cytologia na podłożu płynnym (LBC)'])}.",
        f"Ocena preparatu: {c.ch(['preparat pełnowartościowy, obecne komórki strefy przekształceń', 'preparat pełnowartościowy, brak komórek strefy przekształceń', 'preparat ograniczonej wartości (nieliczne komórki, obecność krwi)'])}.",
        f"Kategoria: {cat}.",
        c.maybe(0.6, f"Mikroorganizmy: {c.ch(['pałeczki kwasu mlekowego', 'grzyby o morfologii Candida spp.', 'zmiana flory sugerująca waginozę bakteryjną', 'brak'])}."),
        f"Zalecenie: {rec}.",
    ]
    return "cytology", _lines(c.ch(["Wynik badania cytologicznego szyjki macicy (system Bethesda 2014)", "Cytologia ginekologiczna – wynik",
                                    "Badanie cytologiczne – szyjka macicy"]), _hp_no(c), f"{c.who(p)}.", parts)


def _path_thyroid_fnab(c: _Ctx) -> tuple[str, str]:
    p = c.patient(female=c.p(0.75), lo=20, hi=80)
    cat = c.ch([
        ("II", "zmiana łagodna", "W preparatach obfity koloid, płaty i grupy tyreocytów bez atypii, makrofagi z hemosyderyną. Obraz guzka koloidowego."),
        ("II", "zmiana łagodna", "Limfocyty, komórki Hürthle'a i pojedyncze grupy tyreocytów. Obraz przemawia za limfocytarnym zapaleniem tarczycy."),
        ("III", "atypia o nieokreślonym znaczeniu (AUS)", "Nieliczne grupy tyreocytów z łagodną atypią jądrową, skąpy koloid."),
        ("IV", "podejrzenie nowotworu pęcherzykowego", "Liczne mikropęcherzyki z tyreocytów, brak koloidu."),
        ("I", "materiał niediagnostyczny", "Materiał skąpokomórkowy, głównie krew."),
    ])
    parts = [
        f"Materiał: BACC guzka płata {c.ch(['prawego', 'lewego'])} tarczycy o wymiarach {c.i(8, 35)} mm, {c.i(2, 4)} preparaty.",
        f"Opis: {cat[2]}",
        f"Rozpoznanie cytologiczne: Bethesda {cat[0]} – {cat[1]}.",
        c.maybe(0.5, c.ch(["Zalecenie: kontrola USG za 12–18 miesięcy.", "Zalecenie: powtórzenie BACC.", "Zalecenie: konsultacja chirurgiczna."])),
    ]
    return "cytology", _lines(c.ch(["Wynik badania cytologicznego – BACC tarczycy", "Biopsja aspiracyjna cienkoigłowa tarczycy – wynik"]),
                              _hp_no(c), c.maybe(0.5, c.demo(p)), parts)


def _path_skin(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=18, hi=88)
    site = c.ch(["okolicy łopatkowej lewej", "podudzia prawego", "twarzy (policzek prawy)", "okolicy lędźwiowej", "ramienia lewego", "grzbietu nosa"])
    dx = c.ch([("Naevus naevocellularis compositus", "zmiana łagodna", "brązową zmianą barwnikową"),
               ("Naevus dysplasticus z atypią małego stopnia", "zmiana łagodna", "nieregularnie zabarwioną zmianą barwnikową"),
               ("Keratosis seborrhoica", "zmiana łagodna", "brodawkowatą, brunatną zmianą"),
               ("Carcinoma basocellulare (BCC), typ guzkowy", "nowotwór złośliwy skóry", "perłowym guzkiem z teleangiektazjami"),
               ("Dermatofibroma", "zmiana łagodna", "twardym guzkiem")])
    parts = [
        f"Materiał: wycinek skóry {site}.",
        f"Makroskopowo: elipsa skóry {c.i(12, 30)} x {c.i(5, 12)} mm z {dx[2]} śr. {c.i(3, 10)} mm.",
        f"Mikroskopowo: {dx[0]}.",
        c.ch([f"Margines chirurgiczny: zmiana usunięta w całości, najmniejszy margines boczny {c.f(0.5, 4)} mm, głęboki {c.f(0.5, 3)} mm.",
              "Zmiana usunięta doszczętnie.", "Linie cięcia wolne od zmiany."]),
    ]
    return "histopathology", _lines(_path_header(c), _hp_no(c), c.maybe(0.4, c.demo(p)), parts,
                                    f"Rozpoznanie histopatologiczne: {dx[0]} – {dx[1]}.")


def _path_appendix(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=12, hi=75)
    dx = c.ch([("Appendicitis phlegmonosa", "ropowicze zapalenie wyrostka robaczkowego z zapaleniem okołowyrostkowym"),
               ("Appendicitis gangraenosa", "zgorzelinowe zapalenie wyrostka robaczkowego z perforacją"),
               ("Appendicitis catarrhalis", "nieżytowe zapalenie wyrostka robaczkowego")])
    parts = [
        f"Materiał: wyrostek robaczkowy długości {c.f(4, 9)} cm, średnicy {c.i(6, 15)} mm, z nalotem włóknikowym na błonie surowiczej.",
        f"Mikroskopowo: {dx[1]}.",
        c.ch(["W badanym materiale nie stwierdzono zmian nowotworowych.", "Bez zmian rozrostowych.", ""]),
    ]
    return "histopathology", _lines(_path_header(c), _hp_no(c), c.maybe(0.4, c.demo(p)), parts, f"Rozpoznanie: {dx[0]}.")


def _path_gallbladder(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=25, hi=85)
    parts = [
        f"Materiał: pęcherzyk żółciowy długości {c.f(6, 11)} cm, o ścianie grubości do {c.i(2, 8)} mm, zawierający {c.ch(['liczne złogi', 'pojedynczy złóg', 'błoto żółciowe'])}.",
        f"Mikroskopowo: ściana pęcherzyka z {c.ch(['przewlekłym naciekiem zapalnym i włóknieniem', 'ostrym i przewlekłym naciekiem zapalnym', 'zatokami Rokitansky’ego-Aschoffa'])}.",
        c.ch(["Nie stwierdzono dysplazji.", "Bez dysplazji i bez zmian nowotworowych.", "Węzeł chłonny szyi pęcherzyka bez zmian."]),
    ]
    return "histopathology", _lines(_path_header(c), _hp_no(c), c.maybe(0.4, c.demo(p)), parts,
                                    f"Rozpoznanie: {c.ch(['Cholecystitis chronica lithiasica', 'Cholecystitis acuta et chronica', 'Cholecystitis chronica'])}.")


def _path_prostate(c: _Ctx) -> tuple[str, str]:
    p = c.patient(female=False, lo=50, hi=85)
    pos = c.i(0, 8)
    gl = c.ch([("3 + 3 = 6", 1), ("3 + 4 = 7", 2), ("4 + 3 = 7", 3), ("4 + 4 = 8", 4), ("4 + 5 = 9", 5)])
    parts = [f"Materiał: {c.ch(['12', '12', '14'])} bioptatów gruboigłowych gruczołu krokowego, opisanych wg lokalizacji."]
    if pos:
        parts += [
            f"W {pos} {_pl(pos, 'bioptacie', 'bioptatach', 'bioptatach')} utkanie raka gruczołowego (acinar adenocarcinoma), Gleason {gl[0]}, grupa ISUP {gl[1]}.",
            f"Naciek zajmuje maksymalnie {c.i(5, 90)}% długości bioptatu.",
            f"Naciekanie okołonerwowe {c.ch(['obecne', 'nieobecne'])}.",
        ]
        dx = f"Rozpoznanie: Adenocarcinoma prostatae, Gleason {gl[0]} (ISUP {gl[1]})."
    else:
        parts += ["W żadnym z bioptatów nie stwierdzono utkania raka.",
                  c.ch(["Rozrost gruczołowo-podścieliskowy.", "Ogniskowo przewlekłe zapalenie gruczołu krokowego.", "Ogniska atrofii gruczołów."])]
        dx = "Rozpoznanie: Hyperplasia glandulo-stromalis prostatae; bez cech raka."
    return "histopathology", _lines(c.ch(["Wynik badania histopatologicznego – biopsja gruczołu krokowego", _path_header(c)]),
                                    _hp_no(c), c.maybe(0.4, c.demo(p)), parts, dx)


def _path_referral(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=20, hi=85)
    mat, dx = c.ch([
        ("wycinki z błony śluzowej żołądka (antrum, trzon)", "K29.5 – przewlekłe zapalenie żołądka"),
        ("polip esicy usunięty endoskopowo w całości", "K63.5 – polip okrężnicy"),
        (f"zmiana barwnikowa skóry pleców, wycięta z marginesem {c.i(2, 5)} mm", "D22.5 – znamię barwnikowe tułowia"),
        ("pęcherzyk żółciowy po cholecystektomii laparoskopowej", "K80.2 – kamica pęcherzyka żółciowego"),
        ("węzeł chłonny szyjny prawy w całości", "R59.0 – miejscowe powiększenie węzłów chłonnych"),
        ("wycinek z błony śluzowej krtani", "J38.1 – polip fałdu głosowego"),
    ])
    parts = [
        f"Materiał: {mat}.",
        f"Utrwalenie: 10% buforowana formalina, {_count(c.i(1, 3), 'pojemnik', 'pojemniki', 'pojemników')}.",
        f"Data i godzina pobrania: {c.date()}, {c.i(7, 15)}:{c.ch(['00', '15', '30', '45'])}.",
        f"Rozpoznanie kliniczne: {dx}.",
        f"Cel badania: {c.ch(['ocena charakteru zmiany', 'ocena radykalności zabiegu', 'weryfikacja histopatologiczna', 'wykluczenie procesu rozrostowego'])}.",
        c.maybe(0.5, f"Informacje dodatkowe: {c.ch(['bez wcześniejszego leczenia', 'zmiana powiększała się w ciągu roku', 'materiał pobrano podczas zabiegu planowego'])}."),
    ]
    return "referral", _lines(c.ch(["Skierowanie na badanie histopatologiczne", "Zlecenie badania histopatologicznego",
                                    "SKIEROWANIE DO ZAKŁADU PATOMORFOLOGII"]), c.demo(p), parts, c.maybe(0.5, c.sig()))


def _path_polyp(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=40, hi=85)
    n = c.i(1, 4)
    dx = c.ch([("Adenoma tubulare z dysplazją małego stopnia (LGD)", "gruczolak cewkowy"),
               ("Adenoma tubulovillosum z dysplazją dużego stopnia (HGD)", "gruczolak cewkowo-kosmkowy"),
               ("Polypus hyperplasticus", "polip hiperplastyczny"),
               ("Sessile serrated lesion (SSL) bez dysplazji", "zmiana ząbkowana siedząca")])
    parts = [
        f"Materiał: {_count(n, 'polip', 'polipy', 'polipów')} {c.ch(['esicy', 'kątnicy', 'odbytnicy', 'okrężnicy wstępującej'])}, największy śr. {c.i(4, 25)} mm, usunięt{'y' if n == 1 else 'e'} {c.ch(['pętlą diatermiczną', 'kleszczykami'])}.",
        f"Mikroskopowo: {dx[1]}.",
        c.ch(["Linia odcięcia wolna od zmian.", "Linia cięcia wolna od dysplazji.", "Ocena marginesu niemożliwa (materiał fragmentaryczny)."]),
    ]
    return "histopathology", _lines(_path_header(c), _hp_no(c), c.maybe(0.4, c.demo(p)), parts, f"Rozpoznanie: {dx[0]}.")


def _path_frozen(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=30, hi=80)
    mat, res = c.ch([
        ("węzeł wartowniczy pachy", c.ch(["nie stwierdzono przerzutów raka", "przerzut raka o wymiarze 4 mm (makroprzerzut)"])),
        ("guzek płata tarczycy", c.ch(["zmiana pęcherzykowa – ostateczne rozpoznanie po utrwaleniu w parafinie", "obraz raka brodawkowatego"])),
        ("margines resekcji trzustki", c.ch(["margines wolny od nacieku nowotworowego", "w marginesie utkanie raka"])),
        ("wycinek z otrzewnej", c.ch(["tkanka tłuszczowa z odczynem zapalnym, bez utkania nowotworu", "utkanie raka gruczołowego"])),
    ])
    parts = [
        f"Materiał: {mat}, dostarczony w stanie świeżym o godz. {c.i(8, 14)}:{c.ch(['05', '20', '35', '50'])}.",
        f"Wynik badania śródoperacyjnego: {res}.",
        "Wynik przekazano telefonicznie operatorowi.",
        "Ostateczne rozpoznanie po badaniu materiału utrwalonego w formalinie i zatopionego w parafinie (barwienie H&E).",
    ]
    return "histopathology", _lines(c.ch(["Badanie śródoperacyjne (doraźne)", "Wynik badania doraźnego – Zakład Patomorfologii"]),
                                    _hp_no(c), c.maybe(0.4, c.demo(p)), parts, c.maybe(0.5, c.sig("patomorfologii")))


# --- Pathology hard cases ---------------------------------------------------


def _path_h_negation(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=25, hi=85)
    mat, micro = c.ch([
        ("węzeł chłonny śródpiersia (EBUS-TBNA)", "ziarniniaki nabłonkowatokomórkowe bez martwicy – obraz przemawia za sarkoidozą"),
        ("wycinki z guza okrężnicy", "tkanka ziarninowa i owrzodzenie z ostrym naciekiem zapalnym"),
        ("bioptat płuca prawego", "włóknienie śródmiąższowe z przewlekłym naciekiem zapalnym"),
        ("guzek piersi (biopsja gruboigłowa)", "fibroadenoma – gruczolakowłókniak"),
        ("wycinek z szyjki macicy", "przewlekłe zapalenie szyjki macicy z metaplazją płaskonabłonkową"),
    ])
    parts = [
        f"Materiał: {mat}.",
        f"Mikroskopowo: {micro}.",
        c.ch(["W badanym materiale nie stwierdzono utkania nowotworu złośliwego.", "Bez cech nowotworu.",
              "Nie stwierdzono komórek nowotworowych ani przerzutów raka.", "Brak utkania raka w badanym materiale."]),
        c.maybe(0.5, f"Barwienia dodatkowe: {c.ch(['PAS i Ziehl-Neelsen ujemne', 'cytokeratyny AE1/AE3 ujemne', 'Grocott ujemne'])}."),
    ]
    return "histopathology", _lines(_path_header(c), _hp_no(c), c.maybe(0.4, c.demo(p)), parts)


def _path_h_terse(c: _Ctx) -> tuple[str, str]:
    pre = [f"zakład patomorfologii, {c.date()}", "wynik:", f"pac. {c.i(25, 85)} l.", f"nr {c.i(100, 9999)}/{c.i(24, 26)}"]
    kind, head, frags, tail = c.ch([
        ("histopathology", "hp – polip esicy",
         ["adenoma tubulare c. dysplasia gr. minoris (LGD)", f"śr. {c.i(3, 12)} mm", "margines wolny", "usunięty w całości",
          "bez utkania raka", "materiał w 1 kasetce", "barwienie h&e"],
         ["kontrola kolonoskopowa wg zaleceń.", "", "zalecenia wg gastroenterologa."]),
        ("histopathology", "hp – wycinki z żołądka",
         ["gastritis chronica activa", "hp(+)", "bez metaplazji", "bez dysplazji", "antrum i trzon", "barwienie giemsy", "aktywność umiarkowana"],
         ["eradykacja hp wskazana.", "", "do dalszego leczenia przez lekarza kierującego."]),
        ("histopathology", "hp – wycinek skóry",
         ["bcc nodulare", f"margines boczny {c.i(1, 4)} mm", f"margines głęboki {c.i(1, 3)} mm", "usunięty doszczętnie",
          "bez naciekania okołonerwowego", f"elipsa skóry {c.i(10, 25)} x {c.i(5, 12)} mm"],
         ["kontrola dermatologiczna.", "", "wynik przekazano lekarzowi kierującemu."]),
        ("cytology", "cytologia szyjki macicy",
         ["nilm", "flora: lactobacillus", "preparat pełnowartościowy", "obecne komórki strefy przekształceń", "bez zmian zapalnych",
          "lbc"],
         ["kontrola za 3 lata.", "badanie w ramach programu profilaktycznego.", ""]),
        ("histopathology", "hp – bgi piersi",
         [f"ca ductale invasivum nst G{c.i(1, 3)}", f"ER {c.i(0, 100)}%", f"PR {c.i(0, 90)}%", f"HER2 {c.ch(['0', '1+', '2+', '3+'])}",
          f"Ki-67 {c.i(5, 60)}%", "dcis obecny", f"{c.i(2, 4)} bioptaty"],
         ["do konsylium.", "", "wynik ihc ostateczny."]),
        ("histopathology", "hp – wyrostek robaczkowy",
         ["appendicitis phlegmonosa", "periappendicitis", "bez zmian npl.", f"dł. {c.i(5, 9)} cm", "nalot włóknikowy na surowicówce"],
         ["", "wynik ostateczny.", ""]),
        ("cytology", f"bacc tarczycy, guzek płata {c.ch(['p', 'l'])} {c.i(8, 30)} mm",
         ["bethesda ii", "guzek koloidowy", "obfity koloid", "tyreocyty bez atypii", "makrofagi z hemosyderyną", "3 preparaty"],
         ["kontrola usg za 12 mies.", "", "wynik przekazano do poradni endokrynologicznej."]),
    ])
    return kind, _terse(c, head, frags, 5, 8, tail, pre)


def _path_h_autopsy(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=50, hi=92)
    heart = c.i(420, 650)
    lv = c.i(15, 22)
    cause = c.ch([
        f"świeży zawał mięśnia sercowego ściany {c.ch(['przedniej', 'dolnej', 'bocznej'])} lewej komory {c.ch(['z pęknięciem ściany i tamponadą worka osierdziowego', 'w przebiegu zakrzepicy tętnicy wieńcowej'])}",
        "masywna zatorowość płucna z zakrzepicy żył głębokich kończyny dolnej",
        "krwotok śródmózgowy do jąder podstawy półkuli lewej",
    ])
    parts = [
        f"{p.P} zmar{p.la} w wieku {p.age} lat {c.ch(['w Oddziale Chorób Wewnętrznych', 'w SOR', 'w domu', 'w Oddziale Kardiologii'])}.",
        f"Serce masy {heart} g, grubość ściany lewej komory {lv} mm – przerost mięśnia lewej komory (cecha wieloletniego nadciśnienia tętniczego).",
        f"Miażdżyca tętnic wieńcowych {c.ch(['ze zwężeniem', 'z zamknięciem'])} światła gałęzi przedniej zstępującej.",
        c.maybe(0.6, "Obrzęk płuc. Przekrwienie bierne narządów wewnętrznych."),
        c.maybe(0.4, "Nerki o drobnoziarnistej powierzchni – nefroskleroza."),
    ]
    return "autopsy", _lines(c.ch(["Protokół badania pośmiertnego (sekcyjnego)", "Wynik badania sekcyjnego – Zakład Patomorfologii"]),
                             parts, f"Przyczyna zgonu: {cause}.", c.maybe(0.4, c.sig("patomorfologii")))


def _path_h_liver_met(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=40, hi=85)
    ihc, origin, site = c.ch([("CK7(-), CK20(+), CDX2(+), SATB2(+)", "jelita grubego", "jelito grube"),
                              ("CK7(+), TTF-1(+), napsyna A(+)", "płuca", "płuco"),
                              ("CK7(+), GATA3(+), ER(+)", "piersi", "pierś"),
                              ("PAX8(+), CD10(+), CK7(-)", "nerki", "nerka")])
    parts = [
        f"Materiał: bioptat gruboigłowy ze zmiany ogniskowej wątroby pobrany pod kontrolą {c.ch(['USG', 'TK'])}.",
        f"Mikroskopowo: w utkaniu wątroby naciek raka gruczołowego (adenocarcinoma), {c.ch(['G2', 'G3'])}.",
        f"Immunohistochemia: {ihc}.",
        f"Profil immunohistochemiczny przemawia za przerzutem raka {origin}.",
    ]
    return "histopathology", _lines(_path_header(c), _hp_no(c), c.maybe(0.4, c.demo(p)), parts,
                                    f"Rozpoznanie: Metastasis adenocarcinomatis in hepate (prawdopodobne ognisko pierwotne: {site}).")


_PATH_NORMAL = [_path_gastric, _path_colon_resection, _path_breast_core, _path_cervical_cytology, _path_thyroid_fnab,
                _path_skin, _path_appendix, _path_gallbladder, _path_prostate, _path_referral, _path_polyp, _path_frozen]
_PATH_HARD = [_path_h_negation, _path_h_terse, _path_h_autopsy, _path_h_liver_met]


# --------------------------------------------------------------------------
# Other (fits none of the five categories)
# --------------------------------------------------------------------------


def _neg_other(c: _Ctx, p: _Patient, prob: float = 0.35, imaging: bool = False) -> str:
    """Optional sentence with a negated mention of a category term."""
    if imaging and c.p(0.5):
        return c.maybe(prob, c.ch(["RTG nie było konieczne.", "Badania obrazowe nie były wymagane.", "Bez wskazań do RTG."]))
    return c.maybe(prob, c.ch([
        "Bez nadciśnienia tętniczego w wywiadzie.",
        "Nie leczy się z powodu nadciśnienia.",
        "Choroby przewlekłe: neguje nadciśnienie tętnicze i choroby serca.",
        "W wywiadzie bez chorób nowotworowych.",
        f"Zawału serca nie przeby{p.la}.",
        f"RR {c.i(112, 132)}/{c.i(68, 84)} mmHg, bez nadciśnienia.",
    ]))


def _oth_derm(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=16, hi=80)
    dx, desc, tx = c.ch([
        ("L40.0 – Łuszczyca zwykła", f"Na skórze łokci, kolan i okolicy lędźwiowej rumieniowe blaszki pokryte srebrzystą łuską, PASI {c.f(4, 18)}.",
         "Zalecono maść z kalcypotriolem i betametazonem 1 x dziennie na zmiany przez 4 tygodnie, emolienty."),
        ("L20.8 – Atopowe zapalenie skóry", "Suchość skóry, lichenizacja w zgięciach łokciowych i podkolanowych, nasilony świąd.",
         "Zalecono emolienty 2–3 x dziennie, takrolimus 0,1% maść na zmiany, cetyryzyna 10 mg wieczorem."),
        ("L70.0 – Trądzik pospolity", "Na skórze twarzy i pleców liczne grudki, krosty i zaskórniki otwarte.",
         "Zalecono adapalen z nadtlenkiem benzoilu żel na noc, doksycyklina 100 mg 1 x 1 przez 8 tygodni."),
        ("B35.1 – Grzybica paznokci", "Zgrubiałe, żółto zabarwione płytki paznokciowe palucha prawego.",
         "Zalecono terbinafinę 250 mg 1 x 1 przez 12 tygodni, kontrola prób wątrobowych."),
    ])
    parts = [f"{c.who(p)} zgłosi{p.la} się z powodu zmian skórnych utrzymujących się od {c.i(2, 12)} miesięcy.",
             desc, _neg_other(c, p), tx]
    return "consultation", _lines(c.ch(["Poradnia Dermatologiczna – porada", "Konsultacja dermatologiczna"]), f"Rozpoznanie: {dx}.", parts)


def _oth_ortho(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=16, hi=70)
    side = c.ch(["prawego", "lewego"])
    dx, desc, tx = c.ch([
        ("S93.4 – Skręcenie i naderwanie stawu skokowego", f"Po urazie skrętnym stawu skokowego {side} podczas {c.ch(['gry w piłkę', 'biegania', 'schodzenia ze schodów'])}. Obrzęk i bolesność okolicy kostki bocznej, stabilność zachowana.",
         "Zalecono stabilizator stawu skokowego, chłodzenie, uniesienie kończyny, ibuprofen 400 mg doraźnie."),
        ("M17.1 – Pierwotna choroba zwyrodnieniowa stawu kolanowego", f"Ból kolana {side} przy chodzeniu po schodach, trzeszczenia, niewielki wysięk.",
         "Zalecono redukcję masy ciała, ćwiczenia wzmacniające mięsień czworogłowy, iniekcję kwasu hialuronowego."),
        ("M75.1 – Zespół stożka rotatorów", f"Ból barku {side} przy odwodzeniu ramienia powyżej 90°, bolesny łuk.",
         "Zalecono fizjoterapię, NLPZ miejscowo; USG barku do rozważenia."),
        ("S62.6 – Złamanie palca ręki", "Złamanie paliczka bliższego palca IV ręki bez przemieszczenia.",
         "Unieruchomienie w szynie na 3 tygodnie, kontrola w poradni."),
    ])
    parts = [f"{c.who(p)}. {desc}", _neg_other(c, p, 0.45, imaging=True), tx, c.maybe(0.4, f"Kontrola za {_count(c.i(2, 6), 'tydzień', 'tygodnie', 'tygodni')}.")]
    return "consultation", _lines(c.ch(["Poradnia Urazowo-Ortopedyczna", "Porada ortopedyczna", "Konsultacja ortopedyczna"]), f"Rozpoznanie: {dx}.", parts)


def _oth_ophth(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=40, hi=90)
    dx, plan = c.ch([
        ("H25.1 – Zaćma starcza jądrowa obu oczu", "Kwalifikacja do fakoemulsyfikacji zaćmy oka prawego ze wszczepieniem soczewki wewnątrzgałkowej."),
        ("H40.1 – Jaskra pierwotna otwartego kąta", "Zalecono latanoprost 0,005% krople 1 x dziennie wieczorem do obu oczu, kontrola pola widzenia za 3 miesiące."),
        ("H35.3 – Zwyrodnienie plamki (AMD)", "Zlecono OCT plamki, kwalifikacja do iniekcji doszklistkowych."),
        ("H10.1 – Ostre atopowe zapalenie spojówek", "Zalecono krople z olopatadyną 2 x dziennie."),
    ])
    lo, hi = (22, 30) if dx.startswith("H40") else (11, 20)
    iop = (c.i(lo, hi), c.i(lo, hi))
    parts = [
        f"{c.who(p)}.",
        f"Ostrość wzroku z korekcją: OP 0,{c.i(2, 9)}, OL 0,{c.i(2, 9)}.",
        f"Ciśnienie wewnątrzgałkowe: OP {iop[0]} mmHg, OL {iop[1]} mmHg.",
        c.ch(["Dno oka: tarcza nerwu wzrokowego prawidłowa, plamka bez zmian.", f"C/D {c.ch(['0,3', '0,5', '0,7'])} obuocznie.",
              "Przedni odcinek: soczewki ze zmętnieniem jądrowym."]),
        _neg_other(c, p, 0.3),
    ]
    return "consultation", _lines(c.ch(["Konsultacja okulistyczna", "Poradnia Okulistyczna"]), parts, f"Rozpoznanie: {dx}.", plan)


def _oth_paed(c: _Ctx) -> tuple[str, str]:
    girl = c.p(0.5)
    age = c.i(2, 15)
    child = ("Dziewczynka" if girl else "Chłopiec") + f", {age} {_pl(age, 'rok', 'lata', 'lat')}"
    la = "ła" if girl else "ł"
    dx, desc, tx = c.ch([
        ("J02.0 – Paciorkowcowe zapalenie gardła", f"Od 2 dni gorączka do {c.f(38.5, 39.8)}°C, ból gardła. Migdałki przerośnięte z nalotami, skala McIsaaca {c.i(3, 5)} pkt, szybki test na paciorkowce dodatni.",
         f"Fenoksymetylpenicylina {c.ch(['1 mln j.', '1,5 mln j.'])} 2 x dziennie przez 10 dni, paracetamol doraźnie."),
        ("H66.0 – Ostre ropne zapalenie ucha środkowego", "Ból ucha prawego od doby, gorączka 38,7°C. Błona bębenkowa zaczerwieniona i uwypuklona.",
         "Amoksycylina 90 mg/kg/dobę w 2 dawkach przez 7 dni, ibuprofen doraźnie."),
        ("B01.9 – Ospa wietrzna", "Wysypka pęcherzykowa na tułowiu i skórze owłosionej głowy od 2 dni, stan ogólny dobry.",
         "Leczenie objawowe, leki przeciwświądowe; nie uczęszczać do przedszkola/szkoły do przyschnięcia wykwitów."),
        ("J20.9 – Ostre zapalenie oskrzeli", "Kaszel mokry od 5 dni, stan podgorączkowy. Nad płucami furczenia, bez trzeszczeń.",
         "Inhalacje z soli fizjologicznej, nawadnianie; antybiotyk nie jest wskazany."),
        ("A08.4 – Wirusowe zakażenie jelitowe", "Wymioty i biegunka od doby, dziecko odwodnione w stopniu lekkim.",
         "Doustne płyny nawadniające, dieta lekkostrawna, probiotyk."),
    ])
    parts = [f"{child}, zgłosi{la} się z {c.ch(['matką', 'ojcem', 'rodzicami'])}.", desc, tx,
             c.maybe(0.3, "RTG klatki piersiowej nie było konieczne." if "oskrzeli" in dx else "Szczepienia zgodnie z kalendarzem.")]
    return "consultation", _lines(c.ch(["Porada pediatryczna", "Poradnia Pediatryczna – wizyta", "Gabinet pediatryczny"]), parts, f"Rozpoznanie: {dx}.")


def _oth_dent(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=16, hi=80)
    tooth = c.ch(["16", "26", "36", "46", "37", "47", "15", "24"])
    wisdom = c.ch(["38", "48"])
    proc = c.ch([
        f"Ząb {tooth}: próchnica głęboka (K02.1). Opracowanie ubytku, podkład, wypełnienie kompozytowe klasy II.",
        f"Ekstrakcja zęba {wisdom} w znieczuleniu miejscowym (artykaina 4% z adrenaliną 1:100 000). Zabieg bez powikłań, zalecenia pozabiegowe przekazano.",
        f"Ząb {tooth}: zapalenie miazgi nieodwracalne. Ekstyrpacja miazgi, opracowanie kanałów, opatrunek z wodorotlenkiem wapnia.",
        "Skaling naddziąsłowy i piaskowanie, instruktaż higieny jamy ustnej.",
    ])
    parts = [f"{c.who(p)}, {c.ch(['wizyta kontrolna', 'ból zęba od kilku dni', 'nadwrażliwość na zimno', 'wizyta zaplanowana'])}.",
             c.ch(["Nie choruje na nadciśnienie, nie przyjmuje leków przeciwkrzepliwych.",
                   "Wywiad ogólnomedyczny bez obciążeń.", "Uczulenia: neguje. Choroby ogólne: neguje."]), proc,
             c.maybe(0.5, "RTG pantomograficzne nie było konieczne." if "Skaling" in proc else f"Wykonano zdjęcie RVG zęba {wisdom if 'Ekstrakcja' in proc else tooth}."),
             c.ch(["Zalecenia: nie jeść przez 2 godziny.", "Kolejna wizyta za 6 miesięcy.", "Zalecono szczoteczkę soniczną i nitkowanie.",
                   f"Następna wizyta: {c.date()}."])]
    return "procedure", _lines(c.ch(["Karta wizyty stomatologicznej", "Gabinet stomatologiczny – opis wizyty", "Stomatologia zachowawcza"]), parts)


def _oth_diabetes(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=35, hi=85)
    hba = c.f(6.2, 9.8)
    parts = [
        f"{c.who(p)} z cukrzycą typu 2 (E11.9) od {c.i(2, 20)} lat.",
        f"HbA1c {hba}%, glikemie na czczo w glukometrze {c.i(100, 180)} mg/dl.",
        c.ch(["Stopy bez owrzodzeń, czucie wibracji zachowane.", "Badanie stóp: bez zmian troficznych.",
              "Dno oka (badanie z ubiegłego roku) bez retinopatii."]),
        c.ch(["Bez nadciśnienia tętniczego w wywiadzie.", f"RR {c.i(118, 132)}/{c.i(70, 82)} mmHg.", "", ""]),
        c.ch(["Kontynuacja metforminy 1000 mg 2 x 1, dołączono dapagliflozynę 10 mg.",
              "Kontynuacja metforminy, włączono semaglutyd 0,25 mg s.c. raz w tygodniu z eskalacją dawki.",
              "Zwiększono dawkę insuliny bazalnej do 20 j. wieczorem.", "Kontynuacja dotychczasowego leczenia."]),
        f"Kontrola za 3 miesiące z HbA1c, lipidogramem i UACR.",
    ]
    return "consultation", _lines(c.ch(["Poradnia Diabetologiczna – wizyta kontrolna", "Porada diabetologiczna", "POZ – kontrola cukrzycy"]),
                                  parts[:1] + c.shuffled(parts[1:4]) + parts[4:])


def _oth_psych(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=18, hi=75)
    dx, desc, tx = c.ch([
        ("F32.1 – Epizod depresyjny umiarkowany", f"Od {c.i(2, 6)} miesięcy obniżony nastrój, anhedonia, zaburzenia snu i spadek apetytu.",
         f"Włączono sertralinę 50 mg rano, psychoterapia poznawczo-behawioralna."),
        ("F41.1 – Zaburzenie lękowe uogólnione", "Uporczywy niepokój, napięcie, trudności z koncentracją, kołatania serca w sytuacjach stresowych.",
         "Włączono escitalopram 10 mg rano, skierowano na psychoterapię."),
        ("F51.0 – Bezsenność nieorganiczna", "Trudności z zasypianiem i wczesne budzenie od kilku miesięcy.",
         "Zalecono zasady higieny snu, trazodon 50 mg wieczorem."),
    ])
    parts = [f"{c.who(p)}. {desc}", c.ch(["Myśli i tendencji samobójczych nie zgłasza.", "Bez myśli rezygnacyjnych."]),
             _neg_other(c, p, 0.3), tx, f"Kontrola za {c.ch(['4 tygodnie', '6 tygodni', 'miesiąc'])}."]
    return "consultation", _lines(c.ch(["Konsultacja psychiatryczna", "Poradnia Zdrowia Psychicznego – wizyta"]), f"Rozpoznanie: {dx}.", parts)


def _oth_allergy(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=8, hi=60)
    allergens = c.some(["pyłków traw", "pyłków brzozy", "roztoczy kurzu domowego", "sierści kota", "pyłków bylicy", "zarodników Alternaria"], 1, 3)
    parts = [
        f"{c.who(p)} z sezonowym katarem, kichaniem i świądem spojówek.",
        f"Punktowe testy skórne dodatnie dla: {', '.join(allergens)}.",
        c.maybe(0.5, f"IgE całkowite {c.i(80, 600)} IU/ml."),
        c.ch(["Zalecono desloratadynę 5 mg 1 x dziennie i mometazon donosowo.", "Zalecono bilastynę 20 mg oraz flutykazon donosowo.",
              "Kwalifikacja do immunoterapii alergenowej podjęzykowej."]),
        _neg_other(c, p, 0.25),
    ]
    return "consultation", _lines(c.ch(["Poradnia Alergologiczna", "Konsultacja alergologiczna"]),
                                  "Rozpoznanie: J30.1 – Alergiczny nieżyt nosa wywołany pyłkami roślin." if "pyłków" in " ".join(allergens) else "Rozpoznanie: J30.3 – Inny alergiczny nieżyt nosa.",
                                  parts)


def _oth_ent(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=18, hi=80)
    dx, desc, tx = c.ch([
        ("J32.0 – Przewlekłe zapalenie zatok szczękowych", "Niedrożność nosa, wydzielina ropna w przewodzie nosowym środkowym, obrzęk błony śluzowej w endoskopii.",
         "Zalecono płukanie nosa solą fizjologiczną, mometazon donosowo; TK zatok nie było konieczne na tym etapie."),
        ("H91.1 – Presbyacusis", f"Stopniowe pogorszenie słuchu obustronnie. W audiogramie niedosłuch odbiorczy w zakresie wysokich częstotliwości do {c.i(40, 65)} dB.",
         "Skierowano do protetyka słuchu w celu doboru aparatów słuchowych."),
        ("J35.0 – Przewlekłe zapalenie migdałków", "Nawracające anginy (5 epizodów w ciągu roku), migdałki podniebienne z czopami ropnymi.",
         "Kwalifikacja do tonsillektomii."),
        ("H81.1 – Łagodne napadowe zawroty głowy położeniowe", "Krótkotrwałe zawroty głowy przy zmianie pozycji, próba Dix-Hallpike'a dodatnia po stronie prawej.",
         "Wykonano manewr Epleya z poprawą, zalecono ćwiczenia Brandta-Daroffa."),
    ])
    parts = [f"{c.who(p)}.", desc, _neg_other(c, p, 0.3, imaging=True), tx]
    return "consultation", _lines(c.ch(["Konsultacja laryngologiczna", "Poradnia Otolaryngologiczna"]), f"Rozpoznanie: {dx}.", parts)


def _oth_sickleave(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=19, hi=66)
    start = c.day()
    days = c.i(3, 21)
    end = start + _dt.timedelta(days=days - 1)
    icd = c.ch(["J06.9 – ostre zakażenie górnych dróg oddechowych", "M54.5 – ból okolicy lędźwiowo-krzyżowej",
                "A09 – biegunka i zapalenie żołądkowo-jelitowe", "J10.1 – grypa", "S93.4 – skręcenie stawu skokowego", "F43.0 – ostra reakcja na stres"])
    parts = [
        f"{c.demo(p)}",
        f"Okres niezdolności do pracy: od {start:%d.%m.%Y} do {end:%d.%m.%Y} ({days} dni).",
        f"Wskazania lekarskie: {c.ch(['chory może chodzić', 'chory powinien leżeć'])}.",
        f"Kod choroby: {icd.split(' – ')[0]}." if c.p(0.5) else f"Rozpoznanie: {icd}.",
        c.maybe(0.4, "Zaświadczenie wystawiono w formie elektronicznej (e-ZLA)."),
        _neg_other(c, p, 0.15),
    ]
    return "certificate", _lines(c.ch(["Zaświadczenie lekarskie o czasowej niezdolności do pracy", "e-ZLA – zwolnienie lekarskie",
                                       "Zwolnienie lekarskie"]), parts, c.maybe(0.5, c.sig()))


def _oth_vaccination(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=18, hi=90)
    vac = c.ch([
        ("przeciw grypie", "Vaxigrip Tetra", "0,5 ml i.m."),
        ("przeciw COVID-19", "Comirnaty (dawka przypominająca)", "0,3 ml i.m."),
        ("przeciw tężcowi i błonicy", "Td-pur", "0,5 ml i.m."),
        ("przeciw pneumokokom", "Prevenar 20", "0,5 ml i.m."),
        ("przeciw WZW typu B (2. dawka)", "Engerix-B", "1 ml i.m."),
        ("przeciw półpaścowi", "Shingrix", "0,5 ml i.m."),
    ])
    parts = [
        f"{c.who(p)}.",
        f"Kwalifikacja: badanie lekarskie – bez przeciwwskazań, temp. {c.f(36.2, 36.9)}°C.",
        f"Podano szczepionkę {vac[0]}: {vac[1]}, {vac[2]}, {c.ch(['lewe', 'prawe'])} ramię, seria {c.ch(['AB', 'KX', 'HT', 'ZP'])}{c.i(1000, 9999)}.",
        f"Obserwacja {c.ch(['15', '30'])} min – bez niepożądanego odczynu poszczepiennego.",
        _neg_other(c, p, 0.2),
    ]
    return "vaccination", _lines(c.ch(["Karta szczepienia", "Dokumentacja szczepienia ochronnego", "Punkt szczepień – wpis"]), parts,
                                 c.maybe(0.4, f"Data szczepienia: {c.date()}."))


def _oth_physio(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=25, hi=85)
    cond, prog = c.ch([
        ("stan po endoprotezoplastyce stawu biodrowego prawego", "ćwiczenia izometryczne i czynne w odciążeniu, nauka chodu o kulach, ćwiczenia równowagi"),
        ("stan po rekonstrukcji więzadła krzyżowego przedniego kolana lewego", "ćwiczenia zakresu ruchu do 90°, elektrostymulacja mięśnia czworogłowego, krioterapia"),
        ("zespół bólowy odcinka lędźwiowego kręgosłupa", "ćwiczenia stabilizacji centralnej, terapia manualna, TENS"),
        ("zapalenie nadkłykcia bocznego kości ramiennej", "ćwiczenia ekscentryczne, fala uderzeniowa, kinesiotaping"),
    ])
    n = c.ch([10, 10, 15, 20])
    parts = [f"{c.who(p)}, {cond}.", f"Program: {prog}.", f"Liczba zabiegów: {n}, {c.ch(['5', '3'])} razy w tygodniu.",
             c.maybe(0.5, "Przeciwwskazania do fizykoterapii: brak (bez rozrusznika serca, bez czynnego procesu nowotworowego)."),
             _neg_other(c, p, 0.2)]
    return "referral", _lines(c.ch(["Skierowanie na zabiegi fizjoterapeutyczne", "Fizjoterapia – plan rehabilitacji", "Rehabilitacja ambulatoryjna"]), parts)


def _oth_thyroid(c: _Ctx) -> tuple[str, str]:
    p = c.patient(female=c.p(0.8), lo=20, hi=75)
    tsh = c.f(0.5, 12, 2)
    parts = [
        f"{c.who(p)} z niedoczynnością tarczycy w przebiegu choroby Hashimoto (E06.3).",
        f"TSH {tsh} µIU/ml, fT4 {c.f(0.7, 1.6, 2)} ng/dl, anty-TPO {c.i(80, 1200)} IU/ml.",
        c.ch([f"Zwiększono dawkę lewotyroksyny do {c.ch(['75', '88', '100', '112'])} µg na czczo.",
              f"Kontynuacja lewotyroksyny {c.ch(['50', '75', '100'])} µg.", "Włączono lewotyroksynę 25 µg ze stopniowym zwiększaniem dawki."]),
        c.ch(["Kontrola TSH za 6–8 tygodni.", "Kontrola za 3 miesiące.", "Zalecono przyjmowanie leku 30 minut przed śniadaniem."]),
        _neg_other(c, p, 0.2),
    ]
    return "consultation", _lines(c.ch(["Poradnia Endokrynologiczna", "Konsultacja endokrynologiczna"]), parts)


def _oth_uti(c: _Ctx) -> tuple[str, str]:
    p = c.patient(female=c.p(0.8), lo=18, hi=80)
    parts = [
        f"{c.who(p)} z dyzurią, częstomoczem i parciem naglącym {c.ch(['od doby', 'od 2 dni', 'od 3 dni', 'od 4 dni'])}, bez gorączki.",
        f"Badanie ogólne moczu: leukocyturia {c.ch(['znaczna', 'umiarkowana'])}, azotyny {c.ch(['dodatnie', 'ujemne'])}, bakteriuria.",
        c.maybe(0.4, "Objaw Goldflama obustronnie ujemny."),
        c.ch(["Zalecono fosfomycynę 3 g jednorazowo.", "Zalecono nitrofurantoinę 100 mg 2 x dziennie przez 5 dni.",
              "Zalecono furazydynę 100 mg 3 x dziennie przez 7 dni, zwiększenie podaży płynów."]),
        c.maybe(0.4, "Posiew moczu do kontroli po leczeniu."),
        _neg_other(c, p, 0.2),
    ]
    return "consultation", _lines(c.ch(["Porada lekarska – POZ", "Teleporada", "Gabinet lekarza rodzinnego"]),
                                  "Rozpoznanie: N30.0 – Ostre zapalenie pęcherza moczowego.", parts)


def _oth_occupational(c: _Ctx) -> tuple[str, str]:
    p = c.patient(lo=19, hi=64)
    job = c.ch(["kierowca kat. C", "pracownik biurowy (praca przy monitorze ekranowym)", "magazynier – operator wózka widłowego",
                "spawacz", "pielęgniarka" if p.female else "pielęgniarz", "pracownik budowlany (praca na wysokości)",
                "księgowa" if p.female else "księgowy"])
    parts = [
        f"{c.demo(p)} Stanowisko: {job}.",
        f"Badanie {c.ch(['wstępne', 'okresowe', 'kontrolne'])}.",
        *c.some([f"Morfologia i glukoza w normie.", f"Ostrość wzroku bez korekcji: OP 1,0, OL {c.ch(['0,9', '1,0'])}.",
                "Audiometria bez ubytków słuchu.", f"RR {c.i(115, 135)}/{c.i(70, 85)} mmHg.", "Badanie ogólne bez odchyleń."], 2, 4),
        f"Orzeczenie: brak przeciwwskazań zdrowotnych do pracy na stanowisku: {job.split(' (')[0]}.",
        f"Następne badanie: {c.ch(['za 2 lata', 'za 3 lata', 'za 4 lata', 'za 5 lat'])}.",
    ]
    return "certificate", _lines(c.ch(["Orzeczenie lekarskie – medycyna pracy", "Badanie profilaktyczne – medycyna pracy"]), parts)


_OTHER_TEMPLATES = [_oth_derm, _oth_ortho, _oth_ophth, _oth_paed, _oth_dent, _oth_diabetes, _oth_psych, _oth_allergy,
                    _oth_ent, _oth_sickleave, _oth_vaccination, _oth_physio, _oth_thyroid, _oth_uti, _oth_occupational]


# --------------------------------------------------------------------------
# generation
# --------------------------------------------------------------------------

_RAD_NORMAL = [_rad_ct_abdomen, _rad_cxr, _rad_mr_head, _rad_usg_abdomen, _rad_referral, _rad_ctpa, _rad_mr_spine,
               _rad_xray_bone, _rad_mammo, _rad_usg_thyroid, _rad_carotid]
_RAD_HARD = [_rad_h_staging, _rad_h_negative, _rad_h_terse, _rad_h_ht_head, _rad_h_coronary_ct]

_TEMPLATES: dict[str, tuple[list[Template], list[Template]]] = {
    "Radiology": (_RAD_NORMAL, _RAD_HARD),
    "Oncology": (_ONC_NORMAL, _ONC_HARD),
    "Cardiology": (_CARD_NORMAL, _CARD_HARD),
    "Hypertension": (_HT_NORMAL, _HT_HARD),
    "Pathology": (_PATH_NORMAL, _PATH_HARD),
}


def _plan(c: _Ctx, templates: Sequence[Template], n: int) -> list[Template]:
    """Use every template about equally often, in a random order."""
    order = [templates[i % len(templates)] for i in range(n)]
    c.r.shuffle(order)
    return order


def _draw(c: _Ctx, template: Template, seen: set[str], max_tries: int = 500) -> tuple[str, str]:
    """Fill ``template`` until the text is new and within the length bounds."""
    for _ in range(max_tries):
        kind, text = template(c)
        text = _clean(text)
        if MIN_CHARS <= len(text) <= MAX_CHARS and text not in seen:
            seen.add(text)
            return kind, text
    raise RuntimeError(f"could not draw a unique text from {template.__name__}")


def generate(n_per_category: int = 110, n_other: int = 90, seed: int = 20261130) -> list[dict]:
    """Return the shuffled demo corpus as a list of ``{"id", "text", "label", "kind"}`` rows.

    ``label`` is the category each text was written for (gold for evaluation only).
    The result depends only on the arguments.
    """
    c = _Ctx(random.Random(seed))
    seen: set[str] = set()
    rows: list[dict] = []
    n_hard = int(n_per_category * HARD_FRACTION + 0.5)
    for cat in CATEGORIES:
        normal, hard = _TEMPLATES[cat]
        plan = _plan(c, hard, min(n_hard, n_per_category)) + _plan(c, normal, n_per_category - min(n_hard, n_per_category))
        for template in plan:
            kind, text = _draw(c, template, seen)
            rows.append({"text": text, "label": cat, "kind": kind})
    for template in _plan(c, _OTHER_TEMPLATES, n_other):
        kind, text = _draw(c, template, seen)
        rows.append({"text": text, "label": OTHER, "kind": kind})
    c.r.shuffle(rows)
    return [{"id": f"demo-{i:04d}", "text": r["text"], "label": r["label"], "kind": r["kind"]}
            for i, r in enumerate(rows, 1)]


def write_jsonl(path, rows) -> None:
    """Write ``rows`` as UTF-8 JSON Lines (one object per line, trailing newline)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    corpus = generate()
    write_jsonl(BUNDLED_CORPUS, corpus)
    counts: dict[str, int] = {}
    for row in corpus:
        counts[row["label"]] = counts.get(row["label"], 0) + 1
    print(f"wrote {len(corpus)} rows to {BUNDLED_CORPUS}")
    for label in (*CATEGORIES, OTHER):
        print(f"  {label}: {counts.get(label, 0)}")
