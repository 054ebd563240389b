"""Students: small classifiers trained on the weak labels, checked on held-out gold, served.

``data`` builds the training set (weak labels, reviewed decisions, held-out dev gold),
``tfidf`` and ``transformer`` are the two kinds of student, ``train`` runs a training
end to end and ``registry`` records it in ``students``; ``predict`` labels new texts,
``measure`` times models (and compares them with the teacher), ``abstain`` turns
probabilities into labels. Scoring students against gold lives in ``admedtagger.evaluation``.
"""
