"""Evaluation: scoring against gold, every subject side by side, and the HTML report.

``scoring`` turns predictions and gold labels into the rows of ``evaluations`` (every
stage that scores anything uses it); ``evaluate`` scores the students, the label model
and each LF on one gold split; ``report`` renders the warehouse as one HTML file.

Nothing is imported here: ``labeling`` and ``students`` import ``scoring``, while
``evaluate`` loads students, so importing ``evaluate`` eagerly would make every import of
``scoring`` pull in the students package (and an import cycle through it).
"""
