"""Students: small classifiers trained on the weak labels, checked on held-out gold, served.

``data`` builds the training set (weak labels, reviewed decisions, held-out dev gold) with
K+1 target columns, "fits no category" last; ``tfidf``, ``embedding`` and ``transformer``
are the three kinds of student, each learning those K+1 classes; ``train`` runs a training
end to end and ``registry`` records it in ``students``; ``predict`` labels new texts,
``measure`` times models (and compares them with the teacher), ``labels`` turns
probabilities into labels (argmax, none included). Scoring students against gold lives in
``admedtagger.evaluation``.
"""
