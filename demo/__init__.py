"""The demo: a seeded Polish clinical corpus and the whole pipeline run on it.

``corpus`` generates the corpus (standard library only; the generated file ships in
``data/``), ``pipeline`` runs the README's commands on it through the CLI, plus a
simulated review, for ``admedtagger demo``.
"""
