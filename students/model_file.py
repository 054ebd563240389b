"""The ``model.npz`` file of the numpy-saved students (TF-IDF, embedding): numbers and
strings only, read with ``allow_pickle=False`` so loading a model runs no code."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, TypeVar

import numpy as np

from admedtagger.warehouse import UserError

MODEL_FILE = "model.npz"
Student = TypeVar("Student")


class ModelFileError(UserError):
    pass


def read_model_file(folder: Path, build: Callable[[dict[str, np.ndarray]], Student]) -> Student:
    """``build`` applied to the arrays of ``folder/model.npz``; a missing file, or arrays that
    ``build`` cannot use (a missing key, a wrong type), is a :class:`ModelFileError` naming it."""
    path = folder / MODEL_FILE
    if not path.exists():
        raise ModelFileError(f"{path} is missing: the student's files were moved or deleted")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return build({name: arrays[name] for name in arrays.files})
    except (ValueError, KeyError, OSError) as exc:
        raise ModelFileError(f"{path} is not a model this student wrote: {exc}") from exc
