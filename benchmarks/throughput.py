"""Throughput of ``transcript-coder code`` against the naive one-utterance-at-a-time baseline.

Generates synthetic sessions (``benchmarks/sessions.py``: our own procedural therapist/client
sentences, no dataset text), then codes them end to end, each run in its own subprocess so that
peak memory is measured per run:

* ``ours``: :func:`transcript_coder.pipeline.code` with the shipped models (or ``--model``), once
  per ``--runtime`` (default ``auto`` and ``torch_fp32.v1``): sessions streamed in windows,
  fixed-shape length-bucketed batches across sessions, each distinct encoder input encoded once,
  one encoder pass per unit and model for all its heads;
* ``naive``: the same :func:`~transcript_coder.pipeline.code` run (same reading, roles, codes and
  files), but with every model call replaced by what calling a transformers
  ``pipeline("text-classification")`` once per utterance does: tokenize that one utterance
  alone, run the encoder on it unpadded (batch of one), then apply the heads that the
  utterance's role needs. Our models are multi-head, so a real ``transformers.pipeline`` cannot
  load them; this per-utterance call is the faithful equivalent. It is *conservative*: a
  pipeline per scheme would run the encoder once per head, not once per model, and for a model
  with ``context_mode: embedding`` it reuses the previous utterance's vector as the context
  instead of encoding the previous turn again. It always runs float32, as a pipeline would.

Both runs load the models before the clock starts; turns/s is turns coded divided by the
seconds ``code`` took. Peak RSS is the subprocess's ``VmHWM`` (whole process: Python, torch,
models and the run). Each size (default 10 and 200 sessions) gets its own pair of runs.

Usage::

    python benchmarks/throughput.py                 # each shipped model set: 10 and 200 sessions, 20 turns each
    python benchmarks/throughput.py --model models/fast/annomi_goemotions   # one model set
    python benchmarks/throughput.py --quick         # 3 and 12 sessions, 12 turns each
    python benchmarks/throughput.py --sessions 50 --turns-per-session 40 --runtime torch_fp32.v1 onnx_int8.v1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sessions import make_sessions  # noqa: E402  (benchmarks/ is on sys.path when run as a script)


# ------------------------------------------------------------------------------- the workers
def _vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _naive_model_set(threads: int | None, runtime: str, paths=None):
    """A ModelSet whose ``predict`` runs one utterance at a time (see the module docstring)."""
    import numpy as np
    import torch

    from transcript_coder.classify import MAX_MODEL_CHARS, ModelSet, Predictions
    from transcript_coder.contexts import cap_turns, last_turn

    class NaiveModelSet(ModelSet):
        def predict(self, units, wanted, *, batch_size=64, hook=None):
            self.load()
            result = Predictions.empty(len(units))
            for description in self.descriptions_:
                model = self.models_[description.name]
                labels = {s: description.labels[s] for s in description.schemes}
                tables = {s: np.full((len(units), len(labels[s])), np.nan, dtype=np.float32)
                          for s in description.schemes}
                used = set()
                cache: dict[str, torch.Tensor] = {}  # the previous unit's vector, reused as the next one's context

                def vector(text: str, context: str = "") -> torch.Tensor:
                    enc = model.encode([text], [context])
                    batch = {k: torch.tensor(v) for k, v in enc.items()}
                    with torch.inference_mode():
                        return model.module.pool(batch["input_ids"], batch["attention_mask"],
                                                 None if model.embeds_context else batch.get("token_type_ids"))

                for i, unit in enumerate(units):
                    heads = [s for s in description.schemes if s in wanted[i]]
                    if not heads:
                        continue
                    text, context = unit.text[:MAX_MODEL_CHARS], cap_turns(unit.context, MAX_MODEL_CHARS)
                    if model.embeds_context:
                        # One encoder call per utterance; its context vector is the previous
                        # utterance's, kept from the call before (encoded alone if it was not a unit).
                        context = last_turn(context)
                        pooled = vector(text)
                        context_vector = cache.get(context) if context.strip() else torch.zeros_like(pooled)
                        if context_vector is None:
                            context_vector = vector(context)
                        cache = {text: pooled}
                    else:
                        pooled, context_vector = vector(text, context), None
                    with torch.inference_mode():
                        for s in heads:
                            logits = model.module.head_logits(s, pooled, context_vector).float()
                            probs = (torch.sigmoid(logits) if model.head(s).problem == "multi_label"
                                     else logits.softmax(-1))
                            tables[s][i] = probs[0].numpy()
                            used.add(s)
                if used:
                    result = result.merge(Predictions(len(units), {s: labels[s] for s in used},
                                                      {s: tables[s] for s in used}))
            return result

    return NaiveModelSet(paths, None, threads=threads, runtime=runtime)


#: The model sets that ship: the default models (``None``: what ``code`` loads by default) and the fast one.
SHIPPED = [("default", None), ("fast", [str(Path(__file__).resolve().parents[1] / "models" / "fast" / "annomi_goemotions")])]


def worker(args: argparse.Namespace) -> None:
    """Code ``args.inputs`` into ``args.out`` in this process and print one JSON line."""
    from transcript_coder.codebook import load_codebook
    from transcript_coder.classify import ModelSet
    from transcript_coder.pipeline import CodeOptions, code

    codebook = load_codebook(None)
    options = CodeOptions(threads=args.threads, force=True, runtime=args.runtime[0],
                          models=tuple(Path(m) for m in args.model) if args.model else None)
    started = time.perf_counter()
    if args.worker == "naive":
        models = _naive_model_set(args.threads, args.runtime[0], args.model)
        models.codebook = codebook
    else:
        models = ModelSet(args.model, codebook, threads=args.threads, runtime=args.runtime[0])
    models.load()
    loaded = time.perf_counter()
    result = code([args.inputs], args.out, options, models=models)
    done = time.perf_counter()
    turns = sum(r.turns for r in result.records if r.status == "coded")
    from transcript_coder.runtime import resolve_runtime

    print(json.dumps({"worker": args.worker, "runtime": resolve_runtime(args.runtime[0]), "sessions": len(result.records),
                      "failed": sum(r.status == "failed" for r in result.records), "turns": turns,
                      "load_s": round(loaded - started, 2), "code_s": round(done - loaded, 2),
                      "turns_s": round(turns / (done - loaded), 1), "peak_rss_mb": round(_vm_hwm_mb(), 1)}))


def run_worker(kind: str, inputs: Path, out: Path, runtime: str, threads: int | None, models=None) -> dict:
    command = [sys.executable, __file__, "--worker", kind, "--inputs", str(inputs), "--out", str(out),
               "--runtime", runtime]
    for model in models or []:
        command += ["--model", str(model)]
    if threads:
        command += ["--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", help="batch sizes in sessions (default 10 200)")
    parser.add_argument("--turns-per-session", dest="turns", type=int, help="turns per session (default 20)")
    parser.add_argument("--quick", action="store_true", help="3 and 12 sessions of 12 turns")
    parser.add_argument("--runtime", nargs="+", default=["auto", "torch_fp32.v1"],
                        help="runtimes for 'ours' runs, one run each (e.g. torch_fp32.v1 onnx_int8.v1); "
                             "the naive baseline always uses torch_fp32.v1")
    parser.add_argument("--naive-up-to", dest="naive_up_to", type=int, default=None, metavar="N",
                        help="run the naive baseline only for sizes of at most N sessions (default: all; 0: never)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's default)")
    parser.add_argument("--model", action="append", metavar="DIR",
                        help="model folder (repeatable); default: each shipped model set in turn, the "
                             "default models, then the fast model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", choices=["ours", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--inputs", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return
    sizes = args.sessions or ([3, 12] if args.quick else [10, 200])
    turns = args.turns or (12 if args.quick else 20)
    model_sets = [("given", args.model)] if args.model else SHIPPED
    print(f"{'models':>8} {'sessions':>8} {'turns':>6} {'run':>18} {'turns/s':>8} {'code s':>7} {'load s':>6} "
          f"{'peak RSS MB':>11}")
    with tempfile.TemporaryDirectory(prefix="tc-bench-") as tmp:
        tmp = Path(tmp)
        for name, models in model_sets:
            for size in sizes:
                inputs = tmp / f"in{size}"
                if not inputs.is_dir():
                    make_sessions(inputs, size, turns, args.seed)
                results = {}
                runs = [("ours", runtime) for runtime in args.runtime]
                if args.naive_up_to is None or size <= args.naive_up_to:
                    runs.append(("naive", "torch_fp32.v1"))
                for kind, runtime in runs:
                    result = run_worker(kind, inputs, tmp / f"out-{name}-{size}-{kind}-{runtime}", runtime,
                                        args.threads, models)
                    label = f"{kind}[{runtime.split('.')[0]}" + (f"={result['runtime'].split('.')[0]}" if runtime == "auto" else "") + "]"
                    results[label] = result
                    print(f"{name:>8} {size:>8} {result['turns']:>6} {label:>18} {result['turns_s']:>8.1f} "
                          f"{result['code_s']:>7.1f} {result['load_s']:>6.1f} {result['peak_rss_mb']:>11.1f}", flush=True)
                naive = results.get("naive[torch_fp32]")
                for label, result in results.items():
                    if naive is not None and label.startswith("ours"):
                        print(f"{name:>8} {size:>8} sessions: {label} / naive = "
                              f"{result['turns_s'] / naive['turns_s']:.2f}x", flush=True)


if __name__ == "__main__":
    main()
