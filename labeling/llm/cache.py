"""The ``llm_cache`` table: every model answer, keyed so that any backend can reuse it.

``key = sha256(model id, rendered messages, reading params)``. The rendered messages are
the chat messages after the view was filled in and the text truncated (the model's chat
template is a function of the model id, so it need not be part of the key). The reading
params say *how* the answer was read, not *who* served it: ``{"mode": "logprobs",
"words": [...], "scores": "mass"}`` (next-token probabilities of the label words) or ``{"mode": "choice",
"words": [...], "temperature": 0}`` (a greedy answer constrained to the words). So a
transformers run and a vLLM or OpenAI-server run in logprobs mode share their answers,
and so do vLLM and an OpenAI server in choice mode.

Rows store the model's answer, never a vote: an index into the label words (``label``; -1 =
outside the label set; for a choice view that is the category id, for a yes/no view 0 =
yes, 1 = no) with its confidence, and in logprobs mode ``scores``, each label word's raw
probability mass (their sum is the label mass; see :mod:`.labels`). Votes are derived
from these rows by :mod:`.calibration`, so changing the vote rule needs no model call.
The content-free prompts of contextual calibration are stored like any other prompt.
Failed requests are never stored, so a rerun asks again.

Lookups read a whole batch of keys with one query; writes go through a cursor of their
own (a separate transaction context on the same database) and are committed per call, so
they are durable before the caller's votes are, whatever transaction the caller holds.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Sequence

import duckdb
import pyarrow as pa

from admedtagger.warehouse import registered, transaction


@dataclass(frozen=True)
class CachedAnswer:
    index: int
    confidence: float | None
    scores: list[float] | None
    response: str | None


def cache_key(model_id: str, messages: list[dict], params: dict) -> str:
    """Hex SHA-256 of the canonical JSON of (model id, messages, reading params)."""
    canonical = json.dumps([model_id, messages, params], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


_SCHEMA = pa.schema([
    ("key", pa.string()), ("model", pa.string()), ("params", pa.string()), ("prompt", pa.string()),
    ("response", pa.string()), ("label", pa.int32()), ("confidence", pa.float64()),
    ("scores", pa.list_(pa.float64())), ("prompt_tokens", pa.int32()), ("completion_tokens", pa.int32()),
    ("latency_ms", pa.float64()),
])


class LLMCache:
    """Batch reads and per-batch committed writes of ``llm_cache`` rows."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self._cur = con.cursor()

    def lookup(self, keys: Sequence[str]) -> dict[str, CachedAnswer]:
        """The stored answers among ``keys`` (one query for the whole batch)."""
        if not keys:
            return {}
        wanted = pa.table({"key": pa.array(list(set(keys)), pa.string())})
        with registered(self._cur, "_llm_wanted", wanted):
            rows = self._cur.execute(
                "SELECT key, label, confidence, scores, response FROM llm_cache "
                "WHERE key IN (SELECT key FROM _llm_wanted)"
            ).fetchall()
        return {key: CachedAnswer(label, confidence, scores, response) for key, label, confidence, scores, response in rows}

    def store(self, rows: list[dict]) -> None:
        """Insert answer rows (dicts with the columns of ``_SCHEMA``) in one committed transaction."""
        if not rows:
            return
        table = pa.Table.from_pylist(rows, schema=_SCHEMA)
        with registered(self._cur, "_llm_new", table), transaction(self._cur):
            self._cur.execute(
                "INSERT INTO llm_cache (key, model, params, prompt, response, label, confidence, scores, "
                "prompt_tokens, completion_tokens, latency_ms) "
                "SELECT key, model, params::JSON, prompt, response, label, confidence, scores, "
                "prompt_tokens, completion_tokens, latency_ms FROM _llm_new "
                "WHERE key NOT IN (SELECT key FROM llm_cache)"
            )

    def close(self) -> None:
        self._cur.close()
