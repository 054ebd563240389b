"""Students: small classifiers trained on the weak labels, evaluated against gold, served.

``data`` builds the training set (weak labels, reviewed decisions, held-out dev gold),
``tfidf`` and ``transformer`` are the two kinds of student, ``train`` runs a training
end to end and ``registry`` records it in ``students``; ``evaluate`` scores students, the
label model and the LFs side by side, ``predict`` labels new texts, ``measure`` times
models (and compares them with the teacher), ``abstain`` turns probabilities into labels.
"""
