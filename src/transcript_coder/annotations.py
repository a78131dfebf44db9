"""The team's own labels (``data/annotations/``) and their agreement between independent passes.

Two label sets are kept in the repository, keyed by AnnoMI ``transcript_id`` and ``utterance_id``
and without any dataset sentence (the text is joined from the AnnoMI development file, found under
``$TRANSCRIPT_CODER_DATA``, default ``../shared/data``):

* ``mi_relational/``: therapist turns coded with the multi-label ``mi_relational`` scheme. Round 1:
  pass 1 (``pass1_part_a.csv`` + ``pass1_part_b.csv``, 64 transcripts) and an independent pass 2
  (``pass2.csv``) over 14 of them. Round 2: pass 1 of the other 42 development transcripts
  (``pass1_part_c.csv`` + ``pass1_part_d.csv``) and pass 2 over 9 of them (``pass2_part_b.csv``);
* ``client_turns/``: client turns with one ``client_emotion`` code and the ``client_relationships``
  mentioned. Round 1: two independent passes (``pass1.csv``, ``pass2.csv``) over the same 20
  transcripts. Round 2: pass 1 only, over 30 more (``pass1_part_e.csv`` + ``pass1_part_f.csv``).

Every file belongs to one annotation *round* (:data:`PASSES`). Agreement reads every round; training
reads the rounds its config names (``team_label_rounds``, default round 1, the labels of every
cross-validation fold recorded before round 2), so adding a round never changes what an existing
config trains.

:func:`annotation_agreement` reports, per code, Cohen's kappa and Krippendorff's alpha (nominal,
:func:`transcript_coder.metrics.krippendorff_alpha`) between the passes on the units both coded,
with each code's prevalence; for the relationship inventory it also scores the rule-based tagger
against pass 1 (precision / recall per label) beside pass 2 against pass 1.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .codebook import Codebook, Scheme, load_codebook, split_codes
from .errors import DataError
from .metrics import krippendorff_alpha
from .paths import project_home

Key = tuple[str, str]

ENV_DATA = "TRANSCRIPT_CODER_DATA"
ANNOMI_DEV = Path("annomi") / "annomi_full_dev.csv"

#: The label files of each annotation set, per pass, each with the annotation round it came from.
PASSES: dict[str, dict[str, dict[str, int]]] = {
    "mi_relational": {
        "pass1": {"pass1_part_a.csv": 1, "pass1_part_b.csv": 1, "pass1_part_c.csv": 2, "pass1_part_d.csv": 2},
        "pass2": {"pass2.csv": 1, "pass2_part_b.csv": 2},
    },
    "client_turns": {
        "pass1": {"pass1.csv": 1, "pass1_part_e.csv": 2, "pass1_part_f.csv": 2,
                  "pass1_part_g.csv": 3, "pass1_part_h.csv": 3, "pass1_part_i.csv": 3},
        "pass2": {"pass2.csv": 1, "pass2_part_c.csv": 3},
    },
}
#: The relationship rules were last revised after reading their errors on the rounds up to this one
#: (session 9, rounds 1-2); the rounds after it are their blind test.
RULES_READ_ROUNDS = 2
#: The rounds a training config reads unless it names others (``team_label_rounds``): the labels of
#: every cross-validation fold recorded before round 2.
TRAINING_ROUNDS = (1,)


def training_rounds(value: int | Sequence[int] | None = None) -> tuple[int, ...]:
    """The rounds a config's ``team_label_rounds`` names: :data:`TRAINING_ROUNDS` when unset, and a
    bare number (``team_label_rounds: 2``) as that one round."""
    if value is None:
        return TRAINING_ROUNDS
    return (value,) if isinstance(value, int) else tuple(value)

def rounds_of(label_set: str, pass_name: str, rounds: Sequence[int], label_sets: Collection[str] = ()) -> tuple[int, ...]:
    """The ``rounds`` one label set has, for a config that names rounds for several label sets at
    once (``team_label_rounds: [1, 2, 3]`` with `mi_relational`, which has two, and `client_turns`,
    which has three). ``rounds`` unchanged (so :func:`read_pass` raises E524) when one of them is
    a round none of ``label_sets`` (nor this one) has, or when this label set has none of them."""
    known = {r for name in {label_set, *label_sets} for r in PASSES[name][pass_name].values()}
    own = tuple(r for r in rounds if r in PASSES[label_set][pass_name].values())
    return own if own and set(rounds) <= known else tuple(rounds)


#: Which scheme each column of an annotation set holds, and the AnnoMI role of its units.
COLUMNS = {
    "mi_relational": {"codes": "mi_relational"},
    "client_turns": {"emotion": "client_emotion", "relationships": "client_relationships"},
}
ROLE_OF = {"mi_relational": "therapist", "client_turns": "client"}


def annotations_dir() -> Path:
    """``data/annotations`` in the project home."""
    return project_home() / "data" / "annotations"


def data_root() -> Path:
    """The shared data folder: ``$TRANSCRIPT_CODER_DATA``, else ``../shared/data`` beside the project."""
    env = os.environ.get(ENV_DATA)
    return Path(env).expanduser() if env else project_home().parent / "shared" / "data"


@dataclass
class LabelledUnit:
    """One annotated AnnoMI turn: its key, the codes per scheme (a list, empty = none), and the
    annotation round of the file it came from."""

    transcript_id: str
    utterance_id: str
    codes: dict[str, list[str]]
    annotator: str = ""
    round: int = 1

    @property
    def key(self) -> Key:
        """``(transcript_id, utterance_id)``."""
        return (self.transcript_id, self.utterance_id)


def read_pass(label_set: str, pass_name: str, codebook: Codebook | None = None,
              directory: str | Path | None = None, rounds: Collection[int] | None = None) -> dict[Key, LabelledUnit]:
    """One pass of an annotation set, keyed by ``(transcript_id, utterance_id)``, every code checked:
    the files of the annotation ``rounds`` given (default: every round).

    Raises:
        DataError: E301 missing columns, E520 a code the scheme lacks, E521 a unit labelled twice,
            E523 a label file of a requested round is missing, E524 a requested round does not exist.
    """
    codebook = codebook or load_codebook()
    folder = Path(directory) if directory is not None else annotations_dir() / label_set
    units: dict[Key, LabelledUnit] = {}
    where: dict[Key, tuple[Path, int]] = {}
    known = sorted(set(PASSES[label_set][pass_name].values()))
    if rounds is not None and (not rounds or set(rounds) - set(known)):
        raise DataError("E524", rounds=list(rounds), label_set=label_set, known=known)
    for name, round_ in PASSES[label_set][pass_name].items():
        if rounds is not None and round_ not in rounds:
            continue
        path = folder / name
        if not path.is_file():
            raise DataError("E523", path=path, round=round_, label_set=label_set, pass_name=pass_name)
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in ("transcript_id", "utterance_id", *COLUMNS[label_set]) if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError("E301", path=path, columns=", ".join(missing))
            for row_number, row in enumerate(reader, start=2):
                key = (row["transcript_id"].strip(), row["utterance_id"].strip())
                if key in units:
                    raise DataError("E521", path=path, row=row_number, transcript=key[0], utterance=key[1],
                                    other=f"{where[key][0].name} row {where[key][1]}")
                codes = {}
                for column, scheme_id in COLUMNS[label_set].items():
                    scheme = codebook[scheme_id]
                    values = split_codes(row[column])
                    for value in values:
                        if value not in scheme.code_ids:
                            raise DataError("E520", path=path, row=row_number, column=column, value=value,
                                            scheme=scheme_id, codes=", ".join(scheme.code_ids))
                    codes[scheme_id] = [c for c in scheme.code_ids if c in values]
                units[key] = LabelledUnit(*key, codes=codes, annotator=row.get("annotator", ""), round=round_)
                where[key] = (path, row_number)
    return units


def read_annomi_turns(keys: Sequence[Key] | None = None, path: str | Path | None = None) -> dict[Key, dict[str, str]]:
    """AnnoMI development turns (``role``, ``text``, ``mi_quality``) by key, read from the shared
    data (never copied into the repository); only ``keys`` when given."""
    path = Path(path) if path is not None else data_root() / ANNOMI_DEV
    wanted = set(keys) if keys is not None else None
    turns = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            key = (row["transcript_id"], row["utterance_id"])
            if wanted is None or key in wanted:
                turns[key] = {"role": row["interlocutor"], "text": row["utterance_text"], "mi_quality": row["mi_quality"]}
    return turns


def check_against_annomi(label_set: str, units: Mapping[Key, LabelledUnit], turns: Mapping[Key, dict[str, str]],
                         path: str | Path = "") -> None:
    """Every labelled unit must be a turn of the set's role in the AnnoMI data (E522 otherwise)."""
    role = ROLE_OF[label_set]
    for i, key in enumerate(units, start=2):
        if turns.get(key, {}).get("role") != role:
            raise DataError("E522", path=path or label_set, row=i, transcript=key[0], utterance=key[1], role=role,
                            data=data_root() / ANNOMI_DEV)


# ----------------------------------------------------------------------------------- metrics
def _clean(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 4)


def cohen_kappa(a: Sequence, b: Sequence) -> float:
    """Cohen's kappa of two codings of the same units; NaN when chance agreement is 1 (both coders
    used one and the same value throughout: kappa is undefined then)."""
    n = len(a)
    if n == 0:
        return math.nan
    observed = sum(x == y for x, y in zip(a, b)) / n
    values = set(a) | set(b)
    expected = sum((list(a).count(v) / n) * (list(b).count(v) / n) for v in values)
    return math.nan if expected >= 1 else (observed - expected) / (1 - expected)


@dataclass
class CodeAgreement:
    """Agreement of two passes on one code (binary: present or not) or one single-label scheme."""

    code: str
    n: int
    prevalence_a: float
    prevalence_b: float
    count_a: int
    count_b: int
    percent_agreement: float
    kappa: float
    alpha: float

    def to_json(self) -> dict:
        """A JSON-ready dict (undefined values are ``null``)."""
        return {k: _clean(v) if isinstance(v, float) else v for k, v in asdict(self).items()}


def binary_agreement(code: str, a: Sequence[Sequence[str]], b: Sequence[Sequence[str]]) -> CodeAgreement:
    """Kappa, alpha and prevalence of ``code`` (present / absent) over units coded by both passes."""
    x = [code in codes for codes in a]
    y = [code in codes for codes in b]
    n = len(x)
    alpha = krippendorff_alpha([x, y]) if n and (any(x) or any(y)) and not (all(x) and all(y)) else math.nan
    return CodeAgreement(code=code, n=n, prevalence_a=sum(x) / n if n else math.nan,
                         prevalence_b=sum(y) / n if n else math.nan, count_a=sum(x), count_b=sum(y),
                         percent_agreement=sum(p == q for p, q in zip(x, y)) / n if n else math.nan,
                         kappa=cohen_kappa(x, y), alpha=alpha)


def nominal_agreement(name: str, a: Sequence[str], b: Sequence[str]) -> CodeAgreement:
    """Kappa and alpha of a single-label scheme over units coded by both passes (prevalence: of the
    most frequent code in pass a)."""
    n = len(a)
    top = max(set(a), key=list(a).count) if a else ""
    return CodeAgreement(code=name, n=n, prevalence_a=list(a).count(top) / n if n else math.nan,
                         prevalence_b=list(b).count(top) / n if n else math.nan, count_a=list(a).count(top),
                         count_b=list(b).count(top), percent_agreement=sum(p == q for p, q in zip(a, b)) / n if n else math.nan,
                         kappa=cohen_kappa(a, b), alpha=krippendorff_alpha([list(a), list(b)]) if n else math.nan)


def label_scores(labels: Sequence[str], reference: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]
                 ) -> dict[str, dict[str, float | int | None]]:
    """Precision, recall, F1 and support per label of a multi-label prediction against a
    reference, and their micro average (key ``"micro"``); ``None`` where undefined (no prediction
    or no reference of that label)."""

    def scores(tp: int, fp: int, fn: int) -> dict:
        precision = tp / (tp + fp) if tp + fp else None
        recall = tp / (tp + fn) if tp + fn else None
        f1 = (2 * precision * recall / (precision + recall)) if precision and recall else (0.0 if tp + fp and tp + fn else None)
        return {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn, "predicted": tp + fp}

    result, total = {}, [0, 0, 0]
    for label in labels:
        tp = sum(label in r and label in p for r, p in zip(reference, predicted))
        fp = sum(label not in r and label in p for r, p in zip(reference, predicted))
        fn = sum(label in r and label not in p for r, p in zip(reference, predicted))
        result[label] = scores(tp, fp, fn)
        total = [total[0] + tp, total[1] + fp, total[2] + fn]
    result["micro"] = scores(*total)
    return result


# --------------------------------------------------------------------------------- the report
@dataclass
class SchemeAgreement:
    """Two passes' agreement on one scheme: per code (multi-label) or overall (single-label)."""

    scheme: str
    passes: tuple[str, str]
    transcripts: int
    units: int
    codes: list[CodeAgreement]

    def to_json(self) -> dict:
        """A JSON-ready dict."""
        return {"scheme": self.scheme, "passes": list(self.passes), "transcripts": self.transcripts,
                "units": self.units, "codes": [c.to_json() for c in self.codes]}


@dataclass
class AnnotationAgreement:
    """Everything :func:`annotation_agreement` measures."""

    coverage: dict[str, dict[str, int]]
    schemes: list[SchemeAgreement]
    relationships_rules: dict[str, dict] = field(default_factory=dict)
    relationships_pass2: dict[str, dict] = field(default_factory=dict)
    relationships_fixture: dict[str, dict] = field(default_factory=dict)
    #: the rules against pass 1 on the transcripts of the rounds after :data:`RULES_READ_ROUNDS`,
    #: whose errors were never read while the patterns were written
    relationships_rules_unseen: dict[str, dict] = field(default_factory=dict)

    def to_json(self) -> dict:
        """A JSON-ready dict."""
        return {"coverage": self.coverage, "schemes": [s.to_json() for s in self.schemes],
                "client_relationships_rules_vs_pass1": self.relationships_rules,
                "client_relationships_pass2_vs_pass1": self.relationships_pass2,
                "client_relationships_rules_on_our_turns": self.relationships_fixture,
                "client_relationships_rules_vs_pass1_blind_rounds": self.relationships_rules_unseen}

    def table(self) -> str:
        """Markdown tables (as the README shows them)."""
        lines = []
        for name, cov in self.coverage.items():
            lines.append(f"- `{name}`: " + ", ".join(f"{k} {v}" for k, v in cov.items()))
        for s in self.schemes:
            lines += ["", f"**{s.scheme}**: {s.passes[0]} vs {s.passes[1]}, {s.units} units of {s.transcripts} transcripts",
                      "", "| code | units | prevalence pass 1 | prevalence pass 2 | % agreement | Cohen's kappa | Krippendorff's alpha |",
                      "|---|---:|---:|---:|---:|---:|---:|"]
            for c in s.codes:
                lines.append(f"| `{c.code}` | {c.n} | {_pct(c.prevalence_a)} ({c.count_a}) | {_pct(c.prevalence_b)} "
                             f"({c.count_b}) | {_pct(c.percent_agreement)} | {_num(c.kappa)} | {_num(c.alpha)} |")
        if self.relationships_rules:
            lines += ["", "**client_relationships rules**: precision / recall on our written turns "
                      f"({FIXTURE_TURNS.as_posix()}), and on AnnoMI client turns against pass 1, with pass 2 against "
                      f"pass 1 beside it; the last three columns score the rules on the transcripts of the rounds "
                      f"after {RULES_READ_ROUNDS} only, whose errors were never read while the patterns were written", "",
                      "| label | ours: units | ours: P | ours: R | AnnoMI pass-1 units | rules P | rules R | rules F1 "
                      "| pass 2 P | pass 2 R | pass 2 F1 | blind rounds: units | P | R |",
                      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for label, r in self.relationships_rules.items():
                q = self.relationships_pass2[label]
                f = self.relationships_fixture.get(label, {})
                u = self.relationships_rules_unseen.get(label, {})
                lines.append(f"| `{label}` | {f.get('support', '')} | {_num(f.get('precision'))} | {_num(f.get('recall'))} | "
                             f"{r['support']} | {_num(r['precision'])} | {_num(r['recall'])} | "
                             f"{_num(r['f1'])} | {_num(q['precision'])} | {_num(q['recall'])} | {_num(q['f1'])} | "
                             f"{u.get('support', '')} | {_num(u.get('precision'))} | {_num(u.get('recall'))} |")
        return "\n".join(lines)


def _num(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def _pct(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f} %"


#: Our own labelled client turns (invented, not from any dataset) for the relationship rules.
FIXTURE_TURNS = Path("data") / "fixtures" / "client_relationships_turns.csv"


def score_rules_on_turns(scheme: Scheme, codebook: Codebook, path: str | Path | None = None,
                         column: str | None = None) -> dict[str, dict]:
    """Precision / recall per label of a rule scheme on a CSV of labelled turns (``text`` and a
    column of ``;``-joined labels, named like the scheme's id without its role prefix by default)."""
    from .taggers import tag_texts

    path = Path(path) if path is not None else project_home() / FIXTURE_TURNS
    column = column or scheme.id.removeprefix(f"{scheme.role}_")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    predicted = tag_texts(scheme, codebook, [r["text"] for r in rows])
    return {k: {m: _clean(v) if isinstance(v, float) else v for m, v in s.items()}
            for k, s in label_scores(scheme.code_ids, [split_codes(r[column]) for r in rows], predicted).items()}


def compare_passes(scheme: Scheme, a: Mapping[Key, LabelledUnit], b: Mapping[Key, LabelledUnit],
                   names: tuple[str, str] = ("pass1", "pass2")) -> SchemeAgreement:
    """Agreement of two passes on ``scheme`` over the units both coded (per code when multi-label)."""
    keys = sorted(set(a) & set(b), key=lambda k: (int(k[0]) if k[0].isdigit() else k[0], int(k[1]) if k[1].isdigit() else k[1]))
    x = [a[k].codes[scheme.id] for k in keys]
    y = [b[k].codes[scheme.id] for k in keys]
    if scheme.multi_label:
        codes = [binary_agreement(code, x, y) for code in scheme.code_ids]
        codes.append(binary_agreement("(any code)", [["(any code)"] if c else [] for c in x],
                                      [["(any code)"] if c else [] for c in y]))
    else:
        codes = [nominal_agreement(f"{scheme.id} (all codes)", [c[0] if c else "" for c in x],
                                   [c[0] if c else "" for c in y])]
        codes += [binary_agreement(code, x, y) for code in scheme.code_ids]
    return SchemeAgreement(scheme=scheme.id, passes=names, transcripts=len({k[0] for k in keys}), units=len(keys),
                           codes=codes)


def annotation_agreement(codebook: Codebook | None = None, directory: str | Path | None = None,
                         annomi: str | Path | None = None, rules: bool = True,
                         json_path: str | Path | None = None) -> AnnotationAgreement:
    """Agreement between the annotation passes of every set, and (``rules``) the relationship
    tagger's precision / recall against client-turn pass 1 next to pass 2's. The labels are checked
    against the AnnoMI development data (E522), which also provides the texts the rules read.

    Raises:
        DataError: E301/E520/E521/E522 for label files that do not fit the codebook or the data.
    """
    codebook = codebook or load_codebook()
    root = Path(directory) if directory is not None else annotations_dir()
    passes = {name: {p: read_pass(name, p, codebook, root / name) for p in PASSES[name]} for name in PASSES}
    turns = read_annomi_turns(None, annomi)
    for name, sets in passes.items():
        for units in sets.values():
            check_against_annomi(name, units, turns, root / name)
    coverage = {}
    for name, sets in passes.items():
        coverage[name] = {f"{p} transcripts": len({k[0] for k in units}) for p, units in sets.items()}
        coverage[name].update({f"{p} units": len(units) for p, units in sets.items()})
        transcripts = {k[0] for units in sets.values() for k in units}
        coverage[name][f"AnnoMI {ROLE_OF[name]} turns in these transcripts"] = sum(
            1 for k, t in turns.items() if k[0] in transcripts and t["role"] == ROLE_OF[name])
    schemes = [compare_passes(codebook[scheme], passes[name]["pass1"], passes[name]["pass2"])
               for name, columns in COLUMNS.items() for scheme in columns.values()]
    result = AnnotationAgreement(coverage=coverage, schemes=schemes)
    if rules:
        from .taggers import tag_texts

        scheme = codebook["client_relationships"]
        reference = passes["client_turns"]["pass1"]
        order = sorted(reference)
        predicted = tag_texts(scheme, codebook, [turns[k]["text"] for k in order])
        gold = [reference[k].codes[scheme.id] for k in order]
        second = passes["client_turns"]["pass2"]
        both = [k for k in order if k in second]

        def scores(reference_codes, predicted_codes) -> dict[str, dict]:
            return {k: {m: _clean(v) if isinstance(v, float) else v for m, v in s.items()}
                    for k, s in label_scores(scheme.code_ids, reference_codes, predicted_codes).items()}

        result.relationships_rules = scores(gold, predicted)
        result.relationships_pass2 = scores([reference[k].codes[scheme.id] for k in both],
                                            [second[k].codes[scheme.id] for k in both])
        unseen = [i for i, k in enumerate(order) if reference[k].round > RULES_READ_ROUNDS]
        if unseen:
            result.relationships_rules_unseen = scores([gold[i] for i in unseen], [predicted[i] for i in unseen])
        result.relationships_fixture = score_rules_on_turns(scheme, codebook)
    if json_path is not None:
        from .writers.atomic import write_text

        write_text(json_path, json.dumps(result.to_json(), indent=2) + "\n")
    return result


def agreement_by_code(scheme_id: str, codebook: Codebook | None = None, directory: str | Path | None = None
                      ) -> dict[str, dict[str, float | int | None]]:
    """The annotators' agreement per code of one scheme, for a model card to print beside the
    model's per-code F1: ``{code: {"n", "prevalence", "kappa", "alpha"}}`` (prevalence in pass 1).
    Reads only the label files (no AnnoMI text needed)."""
    codebook = codebook or load_codebook()
    root = Path(directory) if directory is not None else annotations_dir()
    label_set = next(name for name, columns in COLUMNS.items() if scheme_id in columns.values())
    a, b = (read_pass(label_set, p, codebook, root / label_set) for p in ("pass1", "pass2"))
    result = compare_passes(codebook[scheme_id], a, b)
    return {c.code: {"n": c.n, "prevalence": _clean(c.prevalence_a), "kappa": _clean(c.kappa), "alpha": _clean(c.alpha)}
            for c in result.codes}
