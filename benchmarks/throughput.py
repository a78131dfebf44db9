"""Throughput of ``transcript-coder code`` against the naive one-utterance-at-a-time baseline.

Generates synthetic sessions (our own procedural therapist/client sentences: templates filled
from word lists, lengths varied; no dataset text), then codes them end to end twice, each in its
own subprocess so that peak memory is measured per run:

* ``ours``: :func:`transcript_coder.pipeline.code` with the shipped models (length-sorted,
  dynamically padded batches; one encoder pass per unit and model for all its heads);
* ``naive``: the same :func:`~transcript_coder.pipeline.code` run (same reading, roles, codes and
  files), but with every model call replaced by what calling a transformers
  ``pipeline("text-classification")`` once per utterance does: tokenize that one utterance
  alone, run the encoder on it unpadded (batch of one), then apply the heads that the
  utterance's role needs. Our models are multi-head, so a real ``transformers.pipeline`` cannot
  load them; this per-utterance call is the faithful equivalent. It is *conservative*: a
  pipeline per scheme would run the encoder once per head, not once per model.

Both runs load the models before the clock starts; turns/s is turns coded divided by the
seconds ``code`` took. Peak RSS is the subprocess's ``VmHWM`` (whole process: Python, torch,
models and the run). Each size (default 10 and 200 sessions) gets its own pair of runs.

Usage::

    python benchmarks/throughput.py                 # 10 and 200 sessions, 20 turns each (~4.5 min)
    python benchmarks/throughput.py --quick         # 3 and 12 sessions, 12 turns each
    python benchmarks/throughput.py --sessions 50 --turns-per-session 40 --runtime torch_fp32.v1 onnx_int8.v1
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# ------------------------------------------------------------------------- synthetic sessions
NAMES = ["Sam", "Alex", "Jo", "Chris", "Pat", "Robin", "Kim", "Lee"]
TOPICS = ["drinking", "smoking", "sleep", "work", "exercise", "money", "my sister", "the kids",
          "eating late", "gaming", "my temper", "school", "the pain in my back", "my mother"]
FEELINGS = ["tired", "stuck", "angry", "hopeful", "worried", "fed up", "nervous", "calmer", "guilty", "proud"]
TIMES = ["last week", "on Sunday", "most evenings", "after work", "this morning", "since the summer",
         "every weekend", "when things get busy"]
ACTIONS = ["cut down", "stop for a while", "talk to someone", "go for a walk", "keep a diary",
           "try the app", "set an alarm", "ask for help", "make a plan", "change nothing yet"]
FILLERS = ["", "Well, ", "I mean, ", "Honestly, ", "Okay. ", "Hmm. ", "You know, ", "Right. "]

THERAPIST = [
    "What brings you in today?",
    "How have things been with {topic} {time}?",
    "You're feeling {feeling} about {topic}.",
    "So on one hand you want to {action}, and on the other hand {topic} still helps you cope.",
    "What would it look like if you decided to {action}?",
    "It sounds like {topic} has been taking up a lot of your energy {time}.",
    "On a scale from one to ten, how important is it for you to {action}?",
    "You've already managed to {action} once, which took real effort.",
    "Would it be okay if I shared some information about {topic}?",
    "Many people in your situation find it helps to {action}, but you know your life best.",
    "Tell me more about {time}.",
    "Mm-hm.",
    "What worries you most about {topic}?",
    "You came here even though part of you feels {feeling}, and that matters.",
    "Let me make sure I understand: {topic} gets harder {time}, and then you feel {feeling}.",
    "What's one small step you could take before we meet again?",
]
CLIENT = [
    "I don't know, I guess I'm just {feeling}.",
    "{topic} has been a problem {time}, if I'm honest.",
    "I really want to {action}, I just never seem to manage it.",
    "I don't think {topic} is a big deal, everyone does it.",
    "My partner keeps telling me to {action} and it drives me mad.",
    "Yeah.",
    "I tried to {action} {time} and it went better than I expected.",
    "It's not like I can just {action}, there's too much going on with {topic}.",
    "Maybe. I could try to {action}, I suppose.",
    "I felt {feeling} {time}, and then I went straight back to {topic}.",
    "No, that's not really it.",
    "I'm going to {action}, I've made up my mind.",
    "When I think about {topic} I feel {feeling} and I want to change something, "
    "but then the week starts and I'm too {feeling} to do anything about it.",
    "Honestly I'm not sure why I'm here.",
]


def _fill(rng: random.Random, template: str) -> str:
    text = template.format(topic=rng.choice(TOPICS), time=rng.choice(TIMES), feeling=rng.choice(FEELINGS),
                           action=rng.choice(ACTIONS))
    text = rng.choice(FILLERS) + text
    # Vary lengths: sometimes a turn is two or three sentences.
    if rng.random() < 0.3:
        text += " " + _fill(rng, rng.choice(CLIENT if "I " in template else THERAPIST))
    return text[0].upper() + text[1:]


def make_sessions(folder: Path, sessions: int, turns: int, seed: int = 0) -> list[Path]:
    """Write ``sessions`` labelled-text transcripts of ``turns`` turns each into ``folder``."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(sessions):
        client = rng.choice(NAMES)
        lines = [f"Therapist: Hi {client}, thanks for coming in."]
        for turn in range(1, turns):
            if turn % 2:
                lines.append("Client: " + _fill(rng, rng.choice(CLIENT)))
            else:
                lines.append("Therapist: " + _fill(rng, rng.choice(THERAPIST)))
        path = folder / f"session_{number:04d}.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


# ------------------------------------------------------------------------------- the workers
def _vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _naive_model_set(threads: int | None, runtime: str):
    """A ModelSet whose ``predict`` runs one utterance at a time (see the module docstring)."""
    import numpy as np
    import torch

    from transcript_coder.classify import MAX_MODEL_CHARS, ModelSet, Predictions

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
                for i, unit in enumerate(units):
                    heads = [s for s in description.schemes if s in wanted[i]]
                    if not heads:
                        continue
                    enc = model.encode([unit.text[:MAX_MODEL_CHARS]], [unit.context[-MAX_MODEL_CHARS:]])
                    batch = {k: torch.tensor(v) for k, v in enc.items()}
                    with torch.inference_mode():
                        pooled = model.module.pool(batch["input_ids"], batch["attention_mask"],
                                                   batch.get("token_type_ids"))
                        for s in heads:
                            logits = model.module.heads[s](pooled).float()
                            probs = (torch.sigmoid(logits) if model.head(s).problem == "multi_label"
                                     else logits.softmax(-1))
                            tables[s][i] = probs[0].numpy()
                            used.add(s)
                if used:
                    result = result.merge(Predictions(len(units), {s: labels[s] for s in used},
                                                      {s: tables[s] for s in used}))
            return result

    return NaiveModelSet(None, None, threads=threads, runtime=runtime)


def worker(args: argparse.Namespace) -> None:
    """Code ``args.inputs`` into ``args.out`` in this process and print one JSON line."""
    from transcript_coder.codebook import load_codebook
    from transcript_coder.classify import ModelSet
    from transcript_coder.pipeline import CodeOptions, code

    codebook = load_codebook(None)
    options = CodeOptions(threads=args.threads, force=True, runtime=args.runtime[0])
    started = time.perf_counter()
    if args.worker == "naive":
        models = _naive_model_set(args.threads, args.runtime[0])
        models.codebook = codebook
    else:
        models = ModelSet(None, codebook, threads=args.threads, runtime=args.runtime[0])
    models.load()
    loaded = time.perf_counter()
    result = code([args.inputs], args.out, options, models=models)
    done = time.perf_counter()
    turns = sum(r.turns for r in result.records if r.status == "coded")
    print(json.dumps({"worker": args.worker, "runtime": args.runtime[0], "sessions": len(result.records),
                      "failed": sum(r.status == "failed" for r in result.records), "turns": turns,
                      "load_s": round(loaded - started, 2), "code_s": round(done - loaded, 2),
                      "turns_s": round(turns / (done - loaded), 1), "peak_rss_mb": round(_vm_hwm_mb(), 1)}))


def run_worker(kind: str, inputs: Path, out: Path, runtime: str, threads: int | None) -> dict:
    command = [sys.executable, __file__, "--worker", kind, "--inputs", str(inputs), "--out", str(out),
               "--runtime", runtime]
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
    parser.add_argument("--runtime", nargs="+", default=["torch_fp32.v1"],
                        help="runtimes for 'ours' runs, one run each (e.g. torch_fp32.v1 onnx_int8.v1); "
                             "the naive baseline always uses torch_fp32.v1")
    parser.add_argument("--naive-up-to", dest="naive_up_to", type=int, default=None, metavar="N",
                        help="run the naive baseline only for sizes of at most N sessions (default: all; 0: never)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's default)")
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
    print(f"{'sessions':>8} {'turns':>6} {'run':>18} {'turns/s':>8} {'code s':>7} {'load s':>6} {'peak RSS MB':>11}")
    with tempfile.TemporaryDirectory(prefix="tc-bench-") as tmp:
        tmp = Path(tmp)
        for size in sizes:
            inputs = tmp / f"in{size}"
            make_sessions(inputs, size, turns, args.seed)
            results = {}
            runs = [("ours", runtime) for runtime in args.runtime]
            if args.naive_up_to is None or size <= args.naive_up_to:
                runs.append(("naive", "torch_fp32.v1"))
            for kind, runtime in runs:
                label = f"{kind}[{runtime.split('.')[0]}]"
                result = run_worker(kind, inputs, tmp / f"out{size}-{kind}-{runtime}", runtime, args.threads)
                results[label] = result
                print(f"{size:>8} {result['turns']:>6} {label:>18} {result['turns_s']:>8.1f} "
                      f"{result['code_s']:>7.1f} {result['load_s']:>6.1f} {result['peak_rss_mb']:>11.1f}", flush=True)
            naive = results.get("naive[torch_fp32]")
            for label, result in results.items():
                if naive is not None and label.startswith("ours"):
                    print(f"{size:>8} sessions: {label} / naive = {result['turns_s'] / naive['turns_s']:.2f}x", flush=True)


if __name__ == "__main__":
    main()
