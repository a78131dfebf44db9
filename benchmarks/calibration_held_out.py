"""Calibration on data the temperature never saw: ECE cross-fitted over the validation groups.

A model card's "ECE after" is measured on the validation split its temperatures were fitted on.
This refits every head of a saved model from temperature 1 on its config's validation split (or,
with ``--fold``, on the fold a cross-validation model held out) and prints ECE before scaling,
after scaling (same data) and cross-fitted (each half of the source videos scaled with the
temperature fitted on the other half). The model folder is not changed.

    python benchmarks/calibration_held_out.py --model models/annomi --config configs/train/annomi.yaml
    python benchmarks/calibration_held_out.py --model runs/cv/annomi_joint/fold_0 \\
        --config configs/train/annomi_joint.yaml --fold 0 [--json F]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from transcript_coder.codebook import load_codebook
from transcript_coder.evaluate import check_fold
from transcript_coder.model import load_model
from transcript_coder.train import calibrate_heads, load_splits, load_train_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--fold", type=int, help="the model is this cross-validation fold's (its fold.json "
                                                 "says how many; checked as `evaluate --fold` checks it)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    config = load_train_config(args.config)
    if args.fold is not None:
        folds = check_fold(args.model, args.config, "validation", args.fold, None)  # as `evaluate --fold`
        config = config.model_copy(update={"data": config.data.model_copy(update={"folds": folds, "fold": args.fold})})
    codebook = load_codebook()
    model = load_model(args.model, codebook)
    splits = load_splits(config, codebook, context_turns=model.info.inputs.context_turns)
    calibration = calibrate_heads(model, splits.validation, config.schemes)
    print("| scheme | temperature | ECE before | ECE after (same data) | ECE cross-fitted |")
    print("|---|---|---|---|---|")
    for scheme, c in calibration.items():
        print(f"| {scheme} | {c['temperature']:.2f} | {c['ece_before']:.3f} | {c['ece_after']:.3f} | "
              f"{c.get('ece_cross_fitted', float('nan')):.3f} |")
    if args.json:
        args.json.write_text(json.dumps({"model": str(args.model), "config": str(args.config), "fold": args.fold,
                                         "calibration": calibration}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
