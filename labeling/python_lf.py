"""Python labelling functions: a decorator for user code, like Snorkel's ``@labeling_function``.

Write a file, say ``lfs.py`` next to ``admedtagger.toml``, and enable it there: it is code,
so ``admedtagger label`` imports only the files ``[label] python`` lists (paths or globs,
relative to the config), never a file merely because it exists::

    [label]
    python = ["lfs.py"]

with, in ``lfs.py``::

    from admedtagger.labeling.python_lf import labeling_function

    @labeling_function(name="py_mammography")
    def mammography(text):
        if "mammograf" in text.lower():
            return "Radiology"          # a category name (any language), or its id
        return None                     # abstain

A function takes one text and returns a category name (canonical, Polish or English,
any case), a label id, ``None`` or a "no category" name or id (``"none"``, -1, ...: the LF
abstains), or ``(label, confidence)`` with the confidence in [0, 1]. Names resolve as
everywhere else in admedtagger (:func:`~admedtagger.warehouse.resolve_label`). ``admedtagger label`` imports the enabled files and runs every
decorated function in them (kind ``python``). The LF's version is a hash of the function's source
code, so editing the function gives it new votes on every document.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from admedtagger.warehouse import NONE_LABEL, UserError, resolve_label

from .base import LabelingFunction, Vote


class PythonLFError(UserError):
    pass


@dataclass
class PythonLF(LabelingFunction):
    """Wraps ``func(text) -> label name | label id | None | (label, confidence)``."""

    func: Callable | None = field(default=None, repr=False, compare=False)
    # Lower-cased category names (and ids as strings) -> label id; set by :meth:`bind`.
    labels: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def bind(self, labels: dict[str, int]) -> "PythonLF":
        """Give the LF the taxonomy that category names resolve against (see ``label_lookup``)."""
        self.labels = dict(labels)
        return self

    def apply(self, texts: Sequence[str]) -> list[Vote]:
        return [self._vote(self.func(text)) for text in texts]

    def _vote(self, result) -> Vote:
        confidence = None
        if isinstance(result, tuple):
            if len(result) != 2:
                raise PythonLFError(f"python LF {self.name} returned {result!r}: a tuple must be (label, confidence)")
            result, confidence = result
            try:
                confidence = None if confidence is None else float(confidence)
            except (TypeError, ValueError):
                raise PythonLFError(f"python LF {self.name} returned confidence {confidence!r}: expected a number in [0, 1]") from None
        if result is None:
            return Vote(NONE_LABEL)
        if isinstance(result, bool) or not isinstance(result, (int, str)):
            raise PythonLFError(f"python LF {self.name} returned {result!r}: expected a category name, a label id or None")
        label = resolve_label(self.labels, result)
        if label is None and isinstance(result, int):
            raise PythonLFError(f"python LF {self.name} returned label {result}, which is not a category id")
        if label is None:
            known = sorted(k for k in self.labels if not k.isdigit())
            raise PythonLFError(f"python LF {self.name} returned {result!r}, which is not a category (known: {known})")
        # An abstain carries no confidence: there is no label for it to be the probability of.
        return Vote(label, None if label == NONE_LABEL else confidence)


def labeling_function(name: str | None = None) -> Callable[[Callable], PythonLF]:
    """Decorator: turn ``func(text)`` into a :class:`PythonLF` named ``name`` (default: the function's name)."""

    def wrap(func: Callable) -> PythonLF:
        try:
            source = textwrap.dedent(inspect.getsource(func))
        except (OSError, TypeError):
            # No source (defined in a REPL): the compiled code is the next best identity.
            source = func.__code__.co_code.hex()
        spec = {
            "function": f"{func.__module__}.{func.__qualname__}",
            "source_sha256": hashlib.sha256(source.encode("utf-8")).hexdigest(),
            "source": source,
        }
        return PythonLF(name=name or func.__name__, kind="python", spec=spec, func=func)

    return wrap


def load_python_lfs(path: Path) -> list[PythonLF]:
    """Import a user's file and return the decorated LFs it defines, in definition order."""
    path = Path(path).resolve()
    module_name = f"admedtagger_user_lfs_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PythonLFError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    # The file may import helpers that sit beside it.
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise PythonLFError(f"{path}: importing it failed: {type(exc).__name__}: {exc}") from exc
    finally:
        sys.path.remove(str(path.parent))
    return [value for value in vars(module).values() if isinstance(value, PythonLF)]
