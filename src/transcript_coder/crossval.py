"""Grouped k-fold cross-validation of a training config: choose models by mean and spread over folds.

One held-out split of 26 videos ranked two models the wrong way round, so comparisons are made on
``folds`` folds split by group (AnnoMI: source video). :func:`cross_validate` trains the config
once per fold (each fold resumable from its checkpoint; a fold whose ``metrics.json`` exists is not
retrained, unless its ``fold.json`` stamp names another config or fold count) and writes ``cv.json``: every fold's validation macro-F1 per scheme, and their mean and
standard deviation.

Folds take long on a CPU, and a run folder does not outlive a machine. ``record`` names a small
folder (kept in git: ``benchmarks/results/cv/<name>``) where every finished fold's ``metrics.json``
and stamp are copied as ``fold_<k>.metrics.json`` / ``fold_<k>.json``; a fold recorded there with
the same stamp counts as done, so a cross-validation can be finished across machines and sittings.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .progress import ProgressHook
from .train import TrainConfig, config_digest, runs_dir, train
from .writers.atomic import write_text

log = logging.getLogger(__name__)


def fold_config(config: TrainConfig, folds: int, fold: int, out: Path) -> TrainConfig:
    """``config`` with fold ``fold`` of ``folds`` held out, written to ``out/fold_<fold>``."""
    data = config.data.model_copy(update={"folds": folds, "fold": fold})
    return config.model_copy(update={"data": data, "output": str(out / f"fold_{fold}")})


def fold_stamp(config: TrainConfig, folds: int, fold: int, out: Path) -> dict:
    """What a fold folder's ``fold.json`` records: the fold's config digest, fold count and fold."""
    return {"config_digest": config_digest(fold_config(config, folds, fold, out)), "folds": folds, "fold": fold}


def _is_done(folder: Path, stamp: dict) -> bool:
    """A fold folder holds a trained model of exactly this fold (``metrics.json`` and its stamp)."""
    stamp_file = folder / "fold.json"
    return ((folder / "metrics.json").is_file() and stamp_file.is_file()
            and json.loads(stamp_file.read_text(encoding="utf-8")) == stamp)


def summarize_folds(per_fold: dict[int, dict[str, float]]) -> dict:
    """Mean, standard deviation (ddof=1), min and max per scheme over the folds that are done."""
    schemes = sorted({s for scores in per_fold.values() for s in scores})
    summary = {}
    for scheme in schemes:
        values = np.array([scores[scheme] for scores in per_fold.values() if scheme in scores])
        summary[scheme] = {"mean": round(float(values.mean()), 4),
                           "sd": round(float(values.std(ddof=1)), 4) if len(values) > 1 else None,
                           "min": round(float(values.min()), 4), "max": round(float(values.max()), 4),
                           "n_folds": int(len(values))}
    return summary


def _recorded(record: Path | None, fold: int, stamp: dict) -> Path | None:
    """The recorded ``metrics.json`` copy of this exact fold, if ``record`` holds one."""
    if record is None:
        return None
    metrics, stamp_file = record / f"fold_{fold}.metrics.json", record / f"fold_{fold}.json"
    if metrics.is_file() and stamp_file.is_file() and json.loads(stamp_file.read_text(encoding="utf-8")) == stamp:
        return metrics
    return None


def cross_validate(config: TrainConfig, *, folds: int = 5, only: Sequence[int] | None = None,
                   out: str | Path | None = None, hook: ProgressHook | None = None,
                   device: str | None = None, record: str | Path | None = None) -> dict:
    """Train ``config`` on each fold of a grouped ``folds``-fold split; returns (and writes) the summary."""
    out = Path(out) if out is not None else runs_dir() / "cv" / config.name
    out.mkdir(parents=True, exist_ok=True)
    record = Path(record) if record is not None else None
    for fold in (only if only is not None else range(folds)):
        cfg, stamp = fold_config(config, folds, fold, out), fold_stamp(config, folds, fold, out)
        recorded = _recorded(record, fold, stamp)
        if recorded is not None or _is_done(Path(cfg.output), stamp):
            log.info("fold %d already trained (%s)", fold, recorded or cfg.output)
        else:
            log.info("training fold %d of %d into %s", fold, folds, cfg.output)
            train(cfg, hook=hook, resume=True, device=device)
            write_text(Path(cfg.output) / "fold.json", json.dumps(stamp, indent=2) + "\n")
        if record is not None and recorded is None and _is_done(Path(cfg.output), stamp):
            write_text(record / f"fold_{fold}.metrics.json", (Path(cfg.output) / "metrics.json").read_text(encoding="utf-8"))
            write_text(record / f"fold_{fold}.json", json.dumps(stamp, indent=2) + "\n")
    per_fold: dict[int, dict[str, float]] = {}
    seconds: dict[int, float] = {}
    for fold in range(folds):
        stamp = fold_stamp(config, folds, fold, out)
        metrics_file = out / f"fold_{fold}" / "metrics.json"
        if not _is_done(metrics_file.parent, stamp):
            metrics_file = _recorded(record, fold, stamp)
        if metrics_file is not None:
            metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
            per_fold[fold] = {s: r["macro_f1"] for s, r in metrics["validation"].items()}
            seconds[fold] = metrics.get("train_seconds", 0.0)
    summary = {"config": config.name, "folds": folds, "group": "source video (AnnoMI video_url) / data group",
               "seed": config.seed, "per_fold": per_fold, "train_seconds": seconds,
               "summary": summarize_folds(per_fold) if per_fold else {}}
    for folder in (out, record):
        if folder is out or (folder is not None and per_fold):  # a record's summary only covers its own folds
            write_text(folder / "cv.json", json.dumps(summary, indent=2) + "\n")
    return summary


def format_summary(summary: dict) -> str:
    """A plain-text table: one line per scheme, mean +/- sd over the folds done."""
    lines = [f"{summary['config']}: {len(summary['per_fold'])} of {summary['folds']} folds done"]
    for scheme, row in summary["summary"].items():
        sd = f" +/- {row['sd']:.3f}" if row["sd"] is not None else ""
        lines.append(f"  {scheme:<24} macro-F1 {row['mean']:.3f}{sd}  (min {row['min']:.3f}, max {row['max']:.3f})")
    return "\n".join(lines)
