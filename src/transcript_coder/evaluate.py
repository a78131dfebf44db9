"""Score a model on labelled data: per-code precision / recall / F1, macro-F1, Cohen's kappa,
Krippendorff's alpha and the confusion matrix, as a table and as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .codebook import Codebook, load_codebook
from .corpora import read_corpus
from .metrics import SchemeReport
from .devices import resolve_device
from .model import load_model
from .errors import UsageError
from .train import evaluate_dataset, groups_digest, load_splits, load_train_config


@dataclass
class Evaluation:
    """Reports per scheme for one model on one labelled dataset."""

    model: str
    data: str
    reports: dict[str, SchemeReport]

    def to_json(self) -> dict:
        return {"model": self.model, "data": self.data,
                "schemes": {s: r.to_json() for s, r in self.reports.items()}}

    def table(self) -> str:
        """All schemes' tables, one after another."""
        head = f"model: {self.model}\ndata:  {self.data}\n"
        return head + "\n\n".join(r.table() for r in self.reports.values())


def evaluate(model_path: str | Path, data_path: str | Path | None = None, data_format: str = "coded_csv.v1", *,
             config_path: str | Path | None = None, split: str = "validation",
             schemes: list[str] | None = None, codebook: Codebook | None = None,
             json_path: str | Path | None = None, device: str | None = None,
             fold: int | None = None, folds: int | None = None) -> Evaluation:
    """Score the model at ``model_path``.

    Either on a labelled file (``data_path`` in a registered training-data format, default the
    generic coded CSV), or on the validation / test split a training config defines
    (``config_path`` + ``split``), which reproduces the numbers in the model card. ``device``:
    ``auto`` (default), ``cpu``, ``cuda`` or ``mps``. ``fold``: score fold ``fold`` of the config's
    grouped ``folds``-fold split instead (as ``transcript-coder cv`` held it out), which re-scores a
    cross-validation fold's model; ``folds`` defaults to the fold count the model's ``fold.json``
    (written by ``cv``) records, else 5.

    Raises:
        UsageError: E402 for ``fold`` without ``config_path``, a test split with ``fold``, a fold
            that is not the one the model's ``fold.json`` says it was validated on, or a config
            whose fold holds out other transcripts than the model's ``metrics.json`` records.
    """
    if fold is not None:
        folds = check_fold(Path(model_path), config_path, split, fold, folds)
    codebook = codebook or load_codebook()
    model = load_model(model_path, codebook)
    model.module.to(resolve_device(device))
    context = {"context_turns": model.info.inputs.context_turns}
    if config_path is not None:
        config = load_train_config(config_path)
        if fold is not None:
            config = config.model_copy(update={"data": config.data.model_copy(update={"folds": folds, "fold": fold})})
        splits = load_splits(config, codebook, context_turns=model.info.inputs.context_turns)
        if split == "test" and splits.test is None:
            raise ValueError(f"{config_path}: the config names no test_path")
        dataset = splits.test if split == "test" else splits.validation
        description = f"{config_path} ({split} split)" if fold is None else f"{config_path} (fold {fold} of {folds})"
        if fold is not None:
            check_held_out(Path(model_path), config_path, dataset["group"])
    else:
        if data_path is None:
            raise ValueError("evaluate needs data_path or config_path")
        dataset = read_corpus(data_format, data_path, codebook, **context)
        description = str(data_path)
    result = Evaluation(str(model_path), description, evaluate_dataset(model, dataset, schemes, codebook=codebook))
    if json_path is not None:
        Path(json_path).write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    return result


def check_fold(model_path: Path, config_path: str | Path | None, split: str, fold: int, folds: int | None) -> int:
    """The fold count to score ``fold`` with; E402 when the request cannot score that fold's
    held-out transcripts (no config, the test split, or not the fold the model's stamp records)."""
    if config_path is None:
        raise UsageError("E402", detail="--fold needs --config, the training config the folds were made from")
    if split == "test":
        raise UsageError("E402", detail="--fold scores a cross-validation fold; it has no test split")
    stamp_file = model_path / "fold.json"
    stamp = json.loads(stamp_file.read_text(encoding="utf-8")) if stamp_file.is_file() else {}
    folds = folds or stamp.get("folds") or 5
    if stamp and (stamp.get("fold"), stamp.get("folds")) != (fold, folds):
        raise UsageError("E402", detail=f"{model_path} was validated on fold {stamp.get('fold')} of "
                                        f"{stamp.get('folds')} ({stamp_file}), not fold {fold} of {folds}")
    return folds


def check_held_out(model_path: Path, config_path: str | Path, groups: Sequence[str]) -> None:
    """E402 unless ``config_path``'s fold holds out the transcripts ``model_path`` was validated on
    (the set of groups its ``metrics.json`` records; models trained before that record carry only
    the group count, which is checked instead). Scoring a fold whose transcripts the model trained
    on would report memorised codes as accuracy."""
    metrics_file = model_path / "metrics.json"
    if not metrics_file.is_file():
        return
    sizes = json.loads(metrics_file.read_text(encoding="utf-8")).get("sizes", {})
    recorded, count = sizes.get("validation_groups_sha256"), sizes.get("validation_groups")
    if recorded is not None and recorded != groups_digest(groups):
        raise UsageError("E402", detail=f"{config_path} holds out other transcripts than {model_path} was "
                                        f"validated on ({metrics_file}); it would score transcripts the model trained on")
    if recorded is None and count is not None and count != len(set(groups)):
        raise UsageError("E402", detail=f"{config_path} holds out {len(set(groups))} groups, but {model_path} was "
                                        f"validated on {count} ({metrics_file}); it would score transcripts the model trained on")
