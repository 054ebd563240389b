"""The labelling-function interface every LF kind implements.

An LF has a unique ``name``, a ``kind`` (keyword, llm, embedding, python) and a ``spec``: a
JSON-able dict of everything that determines its votes (lexicon, prompt template, model,
threshold, ...). Its ``version`` is a hash of that spec, so changing a prompt or a lexicon
gives a new version, and the runner asks the LF for votes again on every document.

``apply`` takes a batch of texts and returns one :class:`Vote` per text: a category id
(0..K-1) or ``NONE_LABEL`` (the LF abstains), with an optional confidence in [0, 1].
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Sequence


@dataclass(frozen=True)
class Vote:
    label: int
    confidence: float | None = None


def spec_version(spec: dict) -> str:
    """12 hex digits of SHA-256 over the canonical JSON of ``spec``."""
    canonical = json.dumps(spec, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


@dataclass
class LabelingFunction(ABC):
    name: str
    kind: str
    spec: dict
    # Counters the runner copies into the run's metrics (model calls, cache hits, ...).
    metrics: dict = field(default_factory=dict, compare=False)
    # Texts per batch when the run gives no --batch-size: the runner takes the smallest over
    # the run's LFs, so a slow kind (LLM) commits often and a killed run loses little.
    batch_size: ClassVar[int] = 2000
    # LFs that do a batch's work more cheaply together (LLM views served by one Ray job)
    # share a group object: the runner calls ``batch_group.prepare([(lf, texts), ...])``
    # with each member's texts of a batch before asking the members for votes. None: alone.
    batch_group: ClassVar[object | None] = None

    @property
    def version(self) -> str:
        return spec_version({"kind": self.kind, **self.spec})

    @abstractmethod
    def apply(self, texts: Sequence[str]) -> list[Vote]:
        """One vote per text, in order."""
