"""Classification: the models that provide each scheme, run over batches of units.

A :class:`ModelSet` is the set of model folders a run uses (every folder in ``models/`` with a
``transcript_coder`` block in its ``config.json``, or the ``--model`` folders). It knows which
model provides which scheme and runs each model **once** over the units that need any of its
schemes, computing all its heads in that one pass (heads share the encoder, so extra heads cost
almost nothing). It returns :class:`Predictions`, probabilities only: turning them into codes is
:mod:`transcript_coder.codes`' job, and knowing about sessions or roles is the pipeline's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .codebook import Codebook
from .contexts import cap_turns
from .errors import ModelError, UsageError
from .model import CONFIG_KEY, ModelInfo, check_heads, load_model, model_fingerprint
from .paths import models_dir
from .runtime import DEFAULT_RUNTIME, apply_runtime
from .types import Utterance

log = logging.getLogger(__name__)

#: Unit text is cut to this many characters before tokenizing, and each context turn to its first
#: and last half of it (:func:`~transcript_coder.contexts.cap_turns`). Every model reads at most a
#: few hundred tokens, so the cut never changes a prediction; it only keeps a 5 MB turn from
#: costing seconds of tokenizing.
MAX_MODEL_CHARS = 20_000


@dataclass(frozen=True)
class ModelDescription:
    """What a run needs to know about a model folder without loading its weights."""

    name: str
    path: Path
    fingerprint: str
    schemes: tuple[str, ...]
    labels: dict[str, tuple[str, ...]]
    context_turns: int
    thresholds: dict[str, tuple[float, ...]] = field(default_factory=dict)

    def serialize(self) -> dict:
        """A JSON-ready dict for the run manifest."""
        return {"name": self.name, "path": str(self.path), "fingerprint": self.fingerprint,
                "schemes": list(self.schemes)}


def discover_models(directory: str | Path | None = None) -> list[Path]:
    """Model folders under ``directory`` (default ``models/``): sub-folders whose ``config.json``
    has a ``transcript_coder`` block, sorted by name."""
    directory = Path(directory) if directory is not None else models_dir()
    found = []
    for child in sorted(directory.iterdir()) if directory.is_dir() else []:
        config = child / "config.json"
        if not config.is_file():
            continue
        try:
            if CONFIG_KEY in json.loads(config.read_text(encoding="utf-8")):
                found.append(child)
        except (OSError, ValueError):
            log.info("%s: unreadable config.json; not a model", child)
    return found


def resolve_model_paths(values: Sequence[str | Path]) -> list[Path]:
    """Model folders for ``--model`` values. A value is a model folder; a folder of model folders
    (every model in it, e.g. ``models/fast``); or the name of such a folder under ``models/``, a
    preset (``--model fast``: the fast single-pass model). Anything else is kept as given, so
    loading it names the problem (E201)."""
    paths: list[Path] = []
    for value in values:
        path = Path(value)
        if not path.exists() and not path.is_absolute() and (models_dir() / path).is_dir():
            path = models_dir() / path
        found = discover_models(path) if path.is_dir() and not (path / "config.json").is_file() else []
        paths += found or [path]
    return paths


def describe_model(path: str | Path, codebook: Codebook | None = None) -> ModelDescription:
    """Read a model folder's metadata and weight fingerprint; check its heads against ``codebook``.

    The fingerprint is the one :meth:`TranscriptModel.fingerprint` computes (the first 16 hex
    digits of the weights' SHA-256).

    Raises:
        ModelError: E201 not a model folder, E202 heads that do not match the codebook.
    """
    path = Path(path)
    missing = [f for f in ("config.json", "model.safetensors") if not (path / f).is_file()]
    if missing:
        raise ModelError("E201", path=path, missing=", ".join(missing))
    try:
        raw = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError("E201", path=path, missing=f"a readable config.json ({exc})") from None
    if CONFIG_KEY not in raw:
        raise ModelError("E201", path=path, missing=f"'{CONFIG_KEY}' block in config.json")
    info = ModelInfo.from_json(raw[CONFIG_KEY])
    if codebook is not None:
        check_heads(info, codebook, path)
    return ModelDescription(
        name=info.name, path=path, fingerprint=model_fingerprint(path, info),
        schemes=tuple(h.scheme for h in info.heads), labels={h.scheme: tuple(h.labels) for h in info.heads},
        context_turns=info.inputs.context_turns,
        thresholds={h.scheme: tuple(h.thresholds) for h in info.heads if h.thresholds},
    )


@dataclass
class Predictions:
    """Probabilities per scheme for a sequence of units.

    ``probabilities[scheme]`` has one row per unit and one column per label (``labels[scheme]``
    order); rows of units the scheme was not predicted for are NaN. ``thresholds[scheme]`` holds a
    multi-label head's per-label decision thresholds (tuned on validation and saved with the model),
    in ``labels[scheme]`` order.
    """

    n_units: int
    labels: dict[str, tuple[str, ...]]
    probabilities: dict[str, np.ndarray]
    thresholds: dict[str, tuple[float, ...]] = field(default_factory=dict)

    def thresholds_of(self, scheme: str) -> dict[str, float] | None:
        """``{label: threshold}`` of a multi-label head, or ``None`` when it saved none."""
        values = self.thresholds.get(scheme)
        return None if values is None else dict(zip(self.labels[scheme], values))

    @classmethod
    def empty(cls, n_units: int) -> "Predictions":
        """No scheme predicted for any unit."""
        return cls(n_units=n_units, labels={}, probabilities={})

    def covers(self, scheme: str, index: int) -> bool:
        """Whether ``scheme`` was predicted for unit ``index``."""
        rows = self.probabilities.get(scheme)
        return rows is not None and not np.isnan(rows[index, 0])

    def row(self, scheme: str, index: int) -> dict[str, float] | None:
        """``{label: probability}`` for one unit, or ``None`` if not predicted."""
        if not self.covers(scheme, index):
            return None
        return {label: float(p) for label, p in zip(self.labels[scheme], self.probabilities[scheme][index])}

    def merge(self, other: "Predictions") -> "Predictions":
        """These predictions, with ``other``'s filling the rows this one lacks."""
        if other.n_units != self.n_units:
            raise ValueError("predictions for different units cannot be merged")
        labels = dict(self.labels)
        thresholds = {**other.thresholds, **self.thresholds}
        probabilities = {s: rows.copy() for s, rows in self.probabilities.items()}
        for scheme, rows in other.probabilities.items():
            labels.setdefault(scheme, other.labels[scheme])
            if scheme not in probabilities:
                probabilities[scheme] = rows.copy()
                continue
            fill = np.isnan(probabilities[scheme][:, 0]) & ~np.isnan(rows[:, 0])
            probabilities[scheme][fill] = rows[fill]
        return Predictions(n_units=self.n_units, labels=labels, probabilities=probabilities, thresholds=thresholds)


class ModelSet:
    """The models a run uses, keyed by the schemes they provide.

    Args:
        paths: model folders, folders of models or presets (:func:`resolve_model_paths`); ``None``
            discovers them in ``models/`` (:func:`discover_models`).
        codebook: every head is checked against it.
        threads: torch intra-op threads (``None``: torch's default).
        runtime: the registered runtime that executes the encoders (:mod:`transcript_coder.runtime`).
        device: where a torch runtime's models run (``cpu``, ``cuda``, ``mps``; resolved, not ``auto``).

    :meth:`describe` reads metadata and fingerprints (cheap; enough to decide whether a session
    is already coded); :meth:`load` loads the weights. Both set attributes ending in ``_``.
    """

    def __init__(self, paths: Sequence[str | Path] | None = None, codebook: Codebook | None = None,
                 threads: int | None = None, runtime: str = DEFAULT_RUNTIME, device: str = "cpu") -> None:
        self.paths = None if paths is None else resolve_model_paths(paths)
        self.device = device
        self.codebook = codebook
        self.threads = threads
        self.runtime = runtime
        self.descriptions_: list[ModelDescription] | None = None
        self.providers_: dict[str, ModelDescription] | None = None
        self.models_: dict[str, object] | None = None

    def describe(self) -> "ModelSet":
        """Read every model's metadata and map each scheme to the model providing it.

        Raises:
            ModelError: E407 when no model is found, E201/E202 for a bad model folder.
            UsageError: E408 when two models provide the same scheme.
        """
        if self.descriptions_ is not None:
            return self
        paths = self.paths if self.paths is not None else discover_models()
        if not paths:
            raise ModelError("E407", path=models_dir())
        descriptions = [describe_model(p, self.codebook) for p in paths]
        providers: dict[str, ModelDescription] = {}
        for description in descriptions:
            for scheme in description.schemes:
                if scheme in providers:
                    raise UsageError("E408", scheme=scheme, first=providers[scheme].path, second=description.path)
                providers[scheme] = description
        self.descriptions_, self.providers_ = descriptions, providers
        return self

    def load(self) -> "ModelSet":
        """Load every model's weights (once)."""
        self.describe()
        if self.models_ is None:
            models = {}
            for description in self.descriptions_:
                model = load_model(description.path, self.codebook, threads=self.threads)
                model.fingerprint_ = description.fingerprint  # already hashed by describe()
                model = apply_runtime(model, self.runtime, self.threads)
                if self.device != "cpu" and self.runtime.startswith("torch_"):  # ONNX runs on the CPU
                    model.module.to(self.device)
                models[description.name] = model
                log.info("loaded model %s (%s) from %s", description.name, description.fingerprint, description.path)
            self.models_ = models
        return self

    def provides(self, scheme: str) -> bool:
        """Whether some model has a head for ``scheme``."""
        return scheme in self.describe().providers_

    def labels(self, scheme: str) -> tuple[str, ...]:
        """The label order of ``scheme``'s head."""
        return self.describe().providers_[scheme].labels[scheme]

    def manifest(self) -> list[dict]:
        """Names, paths, fingerprints and schemes of every model, for ``run.json``."""
        return [d.serialize() for d in self.describe().descriptions_]

    def predict(self, units: Sequence[Utterance], wanted: Sequence[Collection[str]], *, batch_size: int = 64,
                hook: Callable[[int], None] | None = None) -> Predictions:
        """Probabilities for the schemes each unit needs.

        ``wanted[i]`` names the schemes unit ``i`` needs; schemes no model provides are ignored.
        Each model runs once, over the units that need at least one of its schemes, and returns
        all its heads for them. ``hook(n)`` is called after each batch of ``n`` units.
        """
        if len(wanted) != len(units):
            raise ValueError("one set of wanted schemes per unit")
        self.load()
        result = Predictions.empty(len(units))
        for description in self.descriptions_:
            mine = set(description.schemes)
            rows = [i for i, schemes in enumerate(wanted) if mine.intersection(schemes)]
            if not rows:
                continue
            model = self.models_[description.name]
            texts = [units[i].text[:MAX_MODEL_CHARS] for i in rows]
            contexts = [cap_turns(units[i].context, MAX_MODEL_CHARS) for i in rows]
            probs = model.predict_proba(texts, contexts, schemes=description.schemes, batch_size=batch_size, hook=hook)
            labels, full = {}, {}
            for scheme, values in probs.items():
                table = np.full((len(units), values.shape[1]), np.nan, dtype=np.float32)
                table[rows] = values
                labels[scheme], full[scheme] = description.labels[scheme], table
            thresholds = {s: t for s, t in description.thresholds.items() if s in full}
            result = result.merge(Predictions(n_units=len(units), labels=labels, probabilities=full,
                                              thresholds=thresholds))
        return result
