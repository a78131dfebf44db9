"""Score a model on labelled data: per-code precision / recall / F1, macro-F1, Cohen's kappa,
Krippendorff's alpha and the confusion matrix, as a table and as JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .codebook import Codebook, load_codebook
from .corpora import read_corpus
from .metrics import SchemeReport
from .devices import resolve_device
from .model import load_model
from .train import evaluate_dataset, load_splits, load_train_config


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
             fold: int | None = None, folds: int = 5) -> Evaluation:
    """Score the model at ``model_path``.

    Either on a labelled file (``data_path`` in a registered training-data format, default the
    generic coded CSV), or on the validation / test split a training config defines
    (``config_path`` + ``split``), which reproduces the numbers in the model card. ``device``:
    ``auto`` (default), ``cpu``, ``cuda`` or ``mps``. ``fold``: score fold ``fold`` of the config's
    grouped ``folds``-fold split instead (as ``transcript-coder cv`` held it out), which re-scores a
    cross-validation fold's model.
    """
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
    else:
        if data_path is None:
            raise ValueError("evaluate needs data_path or config_path")
        dataset = read_corpus(data_format, data_path, codebook, **context)
        description = str(data_path)
    result = Evaluation(str(model_path), description, evaluate_dataset(model, dataset, schemes))
    if json_path is not None:
        Path(json_path).write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    return result
