"""LLM labelling functions: prompt views answered by a local or remote LLM, cached in DuckDB.

``build_llm_lfs`` turns the project's prompt views into labelling functions on one
backend (transformers, vllm or openai); ``measure_teacher`` measures the model itself for
the teacher-versus-student comparison. See ``build.py`` for the settings.
"""

from .build import build_llm_lfs
from .model_files import DEFAULT_MODEL
from .teacher import measure_teacher

__all__ = ["DEFAULT_MODEL", "build_llm_lfs", "measure_teacher"]
