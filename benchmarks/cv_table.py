"""The grouped cross-validation records side by side: per variant, the folds done and each scheme's
mean and spread, then every pair of variants on the folds both have (the paired difference, fold
by fold), so two variants are compared on the same held-out transcripts only.

A fold's model is the checkpoint that scored best on the fold it is then scored on (``cv`` has no
third split), which flatters it. The last table measures by how much: for each fold, the training
step is instead chosen on the *other* folds' histories (the epoch with the best mean selection
score there), and the fold's score at that epoch is read from its own history.

Reads the records ``transcript-coder cv --record DIR`` keeps in git (``benchmarks/results/cv/<name>/
fold_<k>.metrics.json``); prints Markdown.

    python benchmarks/cv_table.py [--schemes therapist_behaviour client_talk_type] [DIR ...]
"""

from __future__ import annotations

import argparse
import json
from itertools import combinations
from pathlib import Path

import numpy as np

RECORDS = Path(__file__).resolve().parent / "results" / "cv"
# mi_relational is left out by default: the mpnet records' scores of it were made before multi-label
# scoring stopped forcing a code on units that carry none (2026-12-03), so they do not compare with
# later ones (README, "Validity work in progress", has them re-scored). Ask for it with --schemes.
SCHEMES = ("therapist_behaviour", "client_talk_type", "speaker_role")


def fold_scores(record: Path) -> tuple[dict[int, dict[str, float]], dict[int, tuple]]:
    """``{fold: {scheme: macro-F1}}`` of one record folder, and per fold what makes two records'
    fold ``k`` the same transcripts: the fold count, the split (data, grouping, seed), the
    validation fold's size in units and groups, and per scheme the units it was scored on (the
    team's labels of another annotation round score other units of the same transcripts)."""
    scores, splits = {}, {}
    for path in sorted(record.glob("fold_*.metrics.json")):
        fold = int(path.name.split(".")[0].split("_")[1])
        metrics = json.loads(path.read_text(encoding="utf-8"))
        stamp = json.loads(path.with_name(f"fold_{fold}.json").read_text(encoding="utf-8"))
        scores[fold] = {scheme: report["macro_f1"] for scheme, report in metrics["validation"].items()}
        splits[fold] = (stamp["folds"], metrics["split"], metrics["config"]["data"]["path"],
                        metrics["sizes"]["validation"], metrics["sizes"]["validation_groups"],
                        {scheme: report.get("n") for scheme, report in metrics["validation"].items()})
    return scores, splits


def spread(values: list[float]) -> str:
    """``mean ± sd`` (sd with ddof=1; just the value for one fold)."""
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"


def variant_table(records: dict[str, dict[int, dict[str, float]]], schemes: list[str]) -> list[str]:
    lines = ["| variant | folds | " + " | ".join(schemes) + " |", "|---|---|" + "---|" * len(schemes)]
    for name, folds in records.items():
        cells = []
        for scheme in schemes:
            values = [folds[k][scheme] for k in sorted(folds) if scheme in folds[k]]
            cells.append(spread(values) if values else "")
        if not any(cells):
            continue
        lines.append(f"| `{name}` | {', '.join(map(str, sorted(folds)))} | " + " | ".join(cells) + " |")
    return lines


def paired_table(records: dict[str, dict[int, dict[str, float]]], splits: dict[str, dict[int, tuple]],
                 schemes: list[str]) -> list[str]:
    lines = ["| A − B | common folds | " + " | ".join(schemes) + " |", "|---|---|" + "---|" * len(schemes)]
    for (a, fa), (b, fb) in combinations(records.items(), 2):
        # fold k of another split holds other transcripts: only the same held-out folds are paired
        common = sorted(k for k in set(fa) & set(fb) if splits[a][k][:-1] == splits[b][k][:-1])
        if not common:
            continue
        cells = []
        for scheme in schemes:
            diffs = [fa[k][scheme] - fb[k][scheme] for k in common if scheme in fa[k] and scheme in fb[k]
                     and splits[a][k][-1][scheme] == splits[b][k][-1][scheme]]
            cells.append(" / ".join(f"{d:+.3f}" for d in diffs) if diffs else "")
        if not any(cells):  # the two variants share no scheme
            continue
        lines.append(f"| `{a}` − `{b}` | {', '.join(map(str, common))} | " + " | ".join(cells) + " |")
    return lines


def histories(record: Path) -> dict[int, list[dict]]:
    """``{fold: [history entry, ...]}`` of one record folder: the scores at every evaluation, in order
    (the folds of one config evaluate at the same steps, so the k-th entries are comparable)."""
    out = {}
    for path in sorted(record.glob("fold_*.metrics.json")):
        fold = int(path.name.split(".")[0].split("_")[1])
        out[fold] = json.loads(path.read_text(encoding="utf-8")).get("history", [])
    return out


def selection_table(records: dict[str, dict[int, list[dict]]], schemes: list[str]) -> list[str]:
    """Per variant with two folds or more: the mean score of the checkpoint chosen on the fold
    itself against the one chosen on the other folds (see the module docstring). The choice is
    among the evaluations every fold reached (a fold that stopped early has fewer)."""
    lines = ["| variant | folds | scheme | chosen on the fold | chosen on the other folds | difference |",
             "|---|---|---|---|---|---|"]
    for name, folds in records.items():
        if len(folds) < 2:
            continue
        reached = min(len(h) for h in folds.values())
        for scheme in schemes:
            key = f"{scheme}_macro_f1"
            own, other = [], []
            for k, history in folds.items():
                if not all(key in entry for entry in history):
                    continue
                rest = [folds[j] for j in folds if j != k]
                chosen = max(range(reached), key=lambda i: np.mean([h[i]["selection_macro_f1"] for h in rest]))
                own.append(max(history, key=lambda entry: entry["selection_macro_f1"])[key])
                other.append(history[chosen][key])
            if own:
                lines.append(f"| `{name}` | {len(own)} | {scheme} | {np.mean(own):.3f} | {np.mean(other):.3f} | "
                             f"{np.mean(other) - np.mean(own):+.3f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("records", nargs="*", type=Path, help=f"record folders (default: every folder in {RECORDS})")
    parser.add_argument("--schemes", nargs="+", default=list(SCHEMES))
    args = parser.parse_args()
    folders = args.records or sorted(p for p in RECORDS.iterdir() if p.is_dir())
    read = {folder.name: fold_scores(folder) for folder in folders}
    records = {name: scores for name, (scores, _) in read.items() if scores}
    splits = {name: folds for name, (_, folds) in read.items()}
    print("\n".join(variant_table(records, args.schemes)))
    print()
    print("\n".join(paired_table(records, splits, args.schemes)))
    print()
    print("\n".join(selection_table({name: histories(folder) for folder in folders
                                     if (name := folder.name) in records}, args.schemes)))


if __name__ == "__main__":
    main()
