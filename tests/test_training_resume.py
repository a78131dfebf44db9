"""Training that outlives one sitting, and choosing models on grouped folds: a run interrupted and
resumed from its checkpoint gives the same model as an uninterrupted one; folds never split a group;
``cross_validate`` reports every fold and their mean and spread."""

from __future__ import annotations

import json

import numpy as np
import pytest
from datasets import Dataset
from safetensors.numpy import load_file

from transcript_coder.crossval import cross_validate, summarize_folds
from transcript_coder.errors import UsageError
from transcript_coder.progress import NullHook, RecordingHook
from transcript_coder.train import (DataConfig, TrainConfig, checkpoint_path, group_folds, load_splits, split_by_fold,
                                    train)


class _Killed(Exception):
    """Stands in for a session being stopped mid-run."""


class _KillAt(NullHook):
    """Stops the run after ``step`` training steps, as a kill would (no clean shutdown)."""

    def __init__(self, step: int) -> None:
        self.step, self.seen = step, 0

    def advance(self, stage: str, n: int = 1, **postfix: object) -> None:
        self.seen += n
        if stage == "train" and self.seen >= self.step:
            raise _Killed


def _config(fixtures, **overrides) -> TrainConfig:
    data = str(fixtures / "training" / "coded_sessions.csv")
    values = dict(name="resumable", data=DataConfig(format="coded_csv.v1", path=data, validation_path=data),
                  schemes=["therapist_behaviour", "client_talk_type"], epochs=3, batch_size=4, eval_every=1.0,
                  patience=10, learning_rate=2e-4, head_learning_rate=5e-3, warmup_ratio=0.2,
                  save_dtype="float32", threads=1, max_length=48, checkpoint_every=3)
    values.update(overrides)
    return TrainConfig(**values)


@pytest.mark.slow
def test_a_killed_and_resumed_run_gives_the_same_model(tmp_path, monkeypatch, fixtures, codebook):
    monkeypatch.setenv("TRANSCRIPT_CODER_RUNS", str(tmp_path / "runs"))
    config = _config(fixtures)
    straight = train(config, codebook=codebook, output=tmp_path / "straight")

    with pytest.raises(_Killed):
        train(config, codebook=codebook, output=tmp_path / "resumed", hook=_KillAt(7))
    ckpt = checkpoint_path(config, tmp_path / "resumed")
    # written at step 6, after the first evaluation (step 4), so the early-stopping record and the
    # best weights are restored too; step 7 is lost with the kill
    assert ckpt.is_file() and not checkpoint_path(config, tmp_path / "straight").exists()
    hook = RecordingHook()
    resumed = train(config, codebook=codebook, output=tmp_path / "resumed", hook=hook, resume=True)
    assert ("advance", "train", 6, {}) in hook.events  # the bar starts where the checkpoint was
    assert not ckpt.exists()  # a finished run removes its checkpoint

    a = load_file(str(tmp_path / "straight" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert straight.metrics["history"] == resumed.metrics["history"]
    assert straight.metrics["steps"] == resumed.metrics["steps"] == 12


@pytest.mark.slow
def test_resume_refuses_a_checkpoint_of_another_config(tmp_path, monkeypatch, fixtures, codebook):
    from transcript_coder.errors import ConfigError

    monkeypatch.setenv("TRANSCRIPT_CODER_RUNS", str(tmp_path / "runs"))
    config = _config(fixtures)
    with pytest.raises(_Killed):
        train(config, codebook=codebook, output=tmp_path / "m2", hook=_KillAt(4))
    other = _config(fixtures, learning_rate=1e-4)
    # Another config has its own checkpoint name, so it starts over rather than mixing runs ...
    assert checkpoint_path(other, tmp_path / "m2") != checkpoint_path(config, tmp_path / "m2")
    # ... and a checkpoint file moved under the wrong name is refused, not silently loaded.
    checkpoint_path(config, tmp_path / "m2").rename(checkpoint_path(other, tmp_path / "m2"))
    with pytest.raises(ConfigError) as err:
        train(other, codebook=codebook, output=tmp_path / "m2", resume=True)
    assert err.value.code == "E002" and "another config" in str(err.value)


def test_folds_keep_every_group_on_one_side_and_balance_rows():
    rng = np.random.default_rng(0)
    groups = [f"video{g}" for g in rng.integers(0, 40, size=2000)]
    assignment = group_folds(groups, 5, seed=13)
    assert set(assignment) == set(groups) and set(assignment.values()) == set(range(5))
    sizes = np.bincount([assignment[g] for g in groups], minlength=5)
    assert sizes.max() - sizes.min() < 0.2 * sizes.mean()
    assert group_folds(groups, 5, seed=13) == assignment  # deterministic
    assert group_folds(groups, 5, seed=14) != assignment

    data = Dataset.from_dict({"group": groups, "text": [str(i) for i in range(len(groups))]})
    seen = []
    for fold in range(5):
        train_part, valid_part = split_by_fold(data, 5, fold, seed=13)
        assert not set(train_part["group"]) & set(valid_part["group"])
        assert len(train_part) + len(valid_part) == len(data)
        seen += valid_part["text"]
    assert sorted(seen) == sorted(data["text"])  # every row is validation exactly once


def test_fold_summary_reports_mean_and_spread():
    summary = summarize_folds({0: {"a": 0.7, "b": 0.5}, 1: {"a": 0.8, "b": 0.5}, 2: {"a": 0.9}})
    assert summary["a"] == {"mean": 0.8, "sd": 0.1, "min": 0.7, "max": 0.9, "n_folds": 3}
    assert summary["b"]["sd"] == 0.0 and summary["b"]["n_folds"] == 2


@pytest.mark.slow
def test_cross_validate_trains_each_fold_once_and_writes_the_summary(tmp_path, monkeypatch, fixtures, codebook):
    monkeypatch.setenv("TRANSCRIPT_CODER_RUNS", str(tmp_path / "runs"))
    data = str(fixtures / "training" / "coded_sessions.csv")  # two sessions: two groups
    config = _config(fixtures, data=DataConfig(format="coded_csv.v1", path=data), epochs=1, checkpoint_every=None)
    out = tmp_path / "cv"
    summary = cross_validate(config, folds=2, out=out)
    assert sorted(summary["per_fold"]) == [0, 1]
    written = json.loads((out / "cv.json").read_text(encoding="utf-8"))
    assert written["summary"]["therapist_behaviour"]["n_folds"] == 2
    metrics = json.loads((out / "fold_1" / "metrics.json").read_text(encoding="utf-8"))
    assert "2-fold" in metrics["split"] and metrics["sizes"]["validation_groups"] == 1
    before = (out / "fold_0" / "model.safetensors").stat().st_mtime_ns
    cross_validate(config, folds=2, out=out)  # done folds are not retrained
    assert (out / "fold_0" / "model.safetensors").stat().st_mtime_ns == before
    # evaluate --fold re-scores a fold's model on the fold cv held out, as its metrics say
    import yaml

    from transcript_coder.evaluate import evaluate

    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config.model_dump(mode="json")), encoding="utf-8")
    again = evaluate(out / "fold_1", config_path=config_file, fold=1)  # 2 folds, from its fold.json
    for scheme in ("therapist_behaviour", "client_talk_type"):
        assert again.reports[scheme].macro_f1 == pytest.approx(metrics["validation"][scheme]["macro_f1"])
        assert again.reports[scheme].n == metrics["validation"][scheme]["n"]
    with pytest.raises(UsageError) as err:  # the fold it trained on would be scored as held out
        evaluate(out / "fold_1", config_path=config_file, fold=0)
    assert err.value.code == "E402" and "fold 1 of 2" in str(err.value)
    # the right fold number under a config that deals the transcripts differently (another seed)
    def held_out(seed):
        fold_1 = config.model_copy(update={"seed": seed, "data": config.data.model_copy(update={"folds": 2, "fold": 1})})
        return set(load_splits(fold_1, codebook).validation["group"])

    seed = next(s for s in range(100) if held_out(s) != held_out(config.seed))
    reseeded = tmp_path / "reseeded.yaml"
    reseeded.write_text(yaml.safe_dump({**config.model_dump(mode="json"), "seed": seed}), encoding="utf-8")
    with pytest.raises(UsageError) as err:
        evaluate(out / "fold_1", config_path=reseeded, fold=1)
    assert err.value.code == "E402" and "other transcripts" in str(err.value)
    # a fold trained under another config is retrained, not summarised as if it were this one's
    changed = _config(fixtures, data=DataConfig(format="coded_csv.v1", path=data), epochs=1,
                      checkpoint_every=None, learning_rate=1e-4)
    cross_validate(changed, folds=2, out=out, only=[0])
    assert (out / "fold_0" / "model.safetensors").stat().st_mtime_ns != before


def test_recorded_folds_count_as_done_on_another_machine(tmp_path, monkeypatch, fixtures, codebook):
    """A fold's metrics kept in the record folder outlive its run folder: a new run folder (another
    machine) trains only the folds not recorded, and the summary covers both."""
    monkeypatch.setenv("TRANSCRIPT_CODER_RUNS", str(tmp_path / "runs"))
    data = str(fixtures / "training" / "coded_sessions.csv")
    config = _config(fixtures, data=DataConfig(format="coded_csv.v1", path=data), epochs=1, checkpoint_every=None)
    record = tmp_path / "record"
    first = cross_validate(config, folds=2, only=[0], out=tmp_path / "machine_a", record=record)
    assert sorted(first["per_fold"]) == [0]
    assert sorted(p.name for p in record.iterdir()) == ["cv.json", "fold_0.json", "fold_0.metrics.json"]
    second = cross_validate(config, folds=2, out=tmp_path / "machine_b", record=record)
    assert not (tmp_path / "machine_b" / "fold_0").exists()  # recorded: not retrained
    assert (tmp_path / "machine_b" / "fold_1" / "metrics.json").is_file()
    assert sorted(second["per_fold"]) == [0, 1] and second["per_fold"][0] == first["per_fold"][0]
    assert json.loads((record / "cv.json").read_text(encoding="utf-8"))["summary"]["therapist_behaviour"]["n_folds"] == 2
    # a record of another config does not count
    changed = _config(fixtures, data=DataConfig(format="coded_csv.v1", path=data), epochs=1,
                      checkpoint_every=None, learning_rate=1e-4)
    assert cross_validate(changed, folds=2, only=[], out=tmp_path / "machine_c", record=record)["per_fold"] == {}


def test_folds_refuse_a_source_with_a_fixed_validation_file(fixtures, codebook):
    from transcript_coder.errors import ConfigError
    from transcript_coder.train import load_splits

    data = str(fixtures / "training" / "coded_sessions.csv")
    config = _config(fixtures, data=DataConfig(format="coded_csv.v1", path=data, validation_path=data, folds=2))
    with pytest.raises(ConfigError) as err:
        load_splits(config, codebook)
    assert err.value.code == "E002" and "folds" in str(err.value)


@pytest.mark.slow
def test_a_student_distilled_from_a_teacher_learns_its_codes(tmp_path, monkeypatch, fixtures, codebook):
    """With ``distill_weight: 1`` the student sees only the teacher's soft labels, never the hard
    codes: it must still reproduce the teacher's codes on the training turns."""
    monkeypatch.setenv("TRANSCRIPT_CODER_RUNS", str(tmp_path / "runs"))
    teacher_cfg = _config(fixtures, epochs=8, checkpoint_every=None)
    teacher = train(teacher_cfg, codebook=codebook, output=tmp_path / "teacher").model
    data = str(fixtures / "training" / "coded_sessions.csv")
    student_cfg = _config(fixtures, name="student", epochs=8, checkpoint_every=None, context_mode="embedding",
                          teachers=[str(tmp_path / "teacher")], distill_weight=1.0, distill_temperature=2.0,
                          data=DataConfig(format="coded_csv.v1", path=data, validation_path=data))
    hook = RecordingHook()
    student = train(student_cfg, codebook=codebook, output=tmp_path / "student", hook=hook).model
    stage = "soft targets of teacher"  # the teachers' pass over the rows is reported as it goes
    assert ("start", stage, None) in hook.events and ("finish", stage) in hook.events
    assert sum(e[2] for e in hook.events if e[:2] == ("advance", stage)) > 0
    from transcript_coder.corpora import read_corpus

    rows = read_corpus("coded_csv.v1", data, codebook, context_turns=1)
    for scheme in ("therapist_behaviour", "client_talk_type"):
        mine = [i for i, c in enumerate(rows[scheme]) if c]
        texts, contexts = [rows["text"][i] for i in mine], [rows["context"][i] for i in mine]
        t = teacher.predict_proba(texts, contexts, schemes=[scheme])[scheme].argmax(1)
        s = student.predict_proba(texts, contexts, schemes=[scheme])[scheme].argmax(1)
        assert (t == s).mean() >= 0.85, scheme
    card = (tmp_path / "student" / "README.md").read_text()
    assert f"| distilled from | `{tmp_path / 'teacher'}`: their soft codes (temperature 2.0, weight 1.0; gold codes weight 0)" in card
    assert "distilled from" not in (tmp_path / "teacher" / "README.md").read_text()
