"""The vote rule of logprobs answers (labeling/llm/calibration.py), on written numbers.

The same rule on the real tiny model is tested in test_llm_transformers.py; here each
step is checked against a hand computation: label mass, the abstain rule, contextual
calibration ``q = (p / p_cf) / sum(p / p_cf)`` and the yes/no threshold.
"""

from __future__ import annotations

import numpy as np
import pytest

from admedtagger.labeling.llm.calibration import (
    CONTENT_FREE_TEXTS, PRIOR_FLOOR, VoteRule, calibrated, choose, content_free_prior, label_distribution,
)
from admedtagger.labeling.llm.labels import read_masses
from admedtagger.warehouse import ConfigError, UserError, load_config


def test_reading_keeps_the_raw_masses_and_renormalises_only_the_confidence():
    index, confidence, scores = read_masses([0.01, 0.03, 0.0])
    assert index == 1 and confidence == pytest.approx(0.75) and scores == [0.01, 0.03, 0.0]
    assert sum(scores) == pytest.approx(0.04)  # the label mass stays recorded
    assert read_masses([0.0, 0.0]) == (-1, None, [0.0, 0.0])


def test_label_mass_rule():
    assert label_distribution([0.01, 0.03], 0.0) == pytest.approx([0.25, 0.75])
    assert label_distribution([0.01, 0.03], 0.04) == pytest.approx([0.25, 0.75])  # at the floor: votes
    assert label_distribution([0.01, 0.03], 0.05) is None
    assert label_distribution([0.0, 0.0], 0.0) is None  # no mass at all never votes
    assert calibrated([0.01, 0.03], np.array([0.5, 0.5]), 0.05) is None


def test_calibration_follows_the_formula_and_maps_content_free_input_to_uniform():
    content_free = [[0.06, 0.02, 0.02], [0.3, 0.1, 0.1], [0.0, 0.0, 0.0]]  # the last has no mass: left out
    prior = content_free_prior(content_free)
    assert prior == pytest.approx([0.6, 0.2, 0.2])
    q = calibrated([0.05, 0.03, 0.02], prior, 0.05)
    expected = np.array([0.5 / 0.6, 0.3 / 0.2, 0.2 / 0.2])
    assert q == pytest.approx(expected / expected.sum())
    assert int(np.argmax(q)) == 1  # raw argmax was word 0: the prompt's bias towards it is removed
    assert calibrated(content_free[0], prior, 0.0) == pytest.approx([1 / 3] * 3)
    assert calibrated([0.05, 0.03, 0.02], None, 0.05) == pytest.approx([0.5, 0.3, 0.2])  # not calibrating
    assert content_free_prior([[0.0, 0.0]]) is None


def test_a_word_the_content_free_answers_never_gave_is_floored_not_divided_by_zero():
    prior = content_free_prior([[0.5, 0.0]])
    assert prior[1] == PRIOR_FLOOR
    q = calibrated([0.5, 0.001], prior, 0.0)
    assert np.isfinite(q).all() and q.sum() == pytest.approx(1.0) and q[1] > 0.99


def test_choice_votes_the_calibrated_argmax_and_yes_no_needs_more_than_half():
    assert choose(np.array([0.2, 0.5, 0.3]), yesno=False) == (1, 0.5)
    assert choose(np.array([0.51, 0.49]), yesno=True) == (0, 0.51)
    assert choose(np.array([0.5, 0.5]), yesno=True) is None
    assert choose(np.array([0.3, 0.7]), yesno=True) is None
    assert choose(None, yesno=False) is None


def test_rule_settings_are_checked_and_part_of_the_spec(project):
    assert VoteRule().spec() == {"min_label_mass": 0.01, "content_free": list(CONTENT_FREE_TEXTS)}
    assert VoteRule(0.0, calibrate=False).spec() == {"min_label_mass": 0.0, "content_free": None}
    with pytest.raises(UserError, match="min_label_mass must be in"):
        VoteRule(1.0)
    path = project.root / "admedtagger.toml"
    path.write_text(path.read_text(encoding="utf-8") + "\n[llm]\nmin_label_mass = 1.5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="min_label_mass"):
        load_config(path)
