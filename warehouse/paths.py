"""Checks on the paths a command will write, made before any work starts.

A command that computes for minutes and then fails to write its result wastes the user's
time, and a traceback from deep in a writer does not say which option was wrong. These
checks name the path and what is wrong with it, in one line.
"""

from __future__ import annotations

from pathlib import Path

from .errors import UserError


def output_file(path: str | Path, option: str = "--out") -> Path:
    """``path`` if a file can be written there: its folder exists and it is not a folder."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{option} {path} is a folder: give a file name")
    if not path.parent.is_dir():
        raise UserError(f"{option} {path}: folder {path.parent} does not exist")
    return path


def output_folder(path: str | Path, option: str = "folder") -> Path:
    """``path`` if it is a folder or can be created as one (its parent exists)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path} is a file, not a folder")
    if not path.exists() and not path.parent.is_dir():
        raise UserError(f"{option} {path}: folder {path.parent} does not exist")
    return path
