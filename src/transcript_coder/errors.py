"""One catalogue of user-facing errors, each with a stable code.

Users can grep a code; tests assert on it. A message names the file (and the line or key where one
applies) and says what is wrong in the user's words, never as a Python traceback.

Ranges:
    E0xx  configuration and codebooks
    E1xx  transcript input (readers, segmentation, roles)
    E2xx  models (loading, saving, labels)
    E3xx  training and evaluation data
    E4xx  command line and batch runs
    E5xx  review and agreement
"""

from __future__ import annotations


class Errors:
    """Message templates, keyed by stable error code."""

    # --- configuration and codebooks -------------------------------------------------------
    E001 = "{path}: cannot read YAML: {detail}"
    E002 = "{path}: {key}: {detail}"
    E003 = "{path}: scheme id '{scheme}' is defined twice (also in {other})"
    E004 = "no codebook defines scheme '{scheme}' (known: {known})"
    E005 = "{path}: {key}: rule refers to unknown scheme or code '{ref}'"
    E006 = "{path}: codebook directory has no *.yaml files"
    E007 = "{path}: not found"
    E008 = "{path}: tagger '{tagger}' is not registered (known: {known})"
    E009 = "{path}: {key}: {detail}; the run may not code as the recorded one did"

    # --- transcript input -------------------------------------------------------------------
    E101 = "{path}: file is empty or contains only whitespace"
    E102 = "{path}: looks like a binary file, not a transcript"
    E103 = "{path} line {line}: no speaker label; expected 'Name: text' (no line in the file has one)"
    E104 = "{path} line {line}: malformed timestamp '{value}'"
    E105 = "{path}: invalid JSON at line {line}, column {column}: {detail}"
    E106 = "{path}: cannot decode text (tried {encodings})"
    E107 = "{path}: unsupported transcript format (extension '{suffix}'); supported: {supported}"
    E108 = "{path}: no column for {what}; columns are {columns} (set it with {option})"
    E109 = "{path}: no turns with text were found"
    E110 = "{path} line {line}: {detail}"
    E111 = "{path}: {detail}"
    E112 = "{path}: only one speaker ('{speaker}'); coding it as {role}, but role inference needs two"
    E113 = "{path}: {unit} {index}: {detail}"
    E114 = ("{path}: reading .docx files needs python-docx; install it with: "
            "pip install \"transcript_coder[docx]\"")
    E115 = "{path}: not a readable .docx document ({detail})"
    E116 = "{path}: cannot open the file: {detail}"
    E117 = ("{path}: roles were inferred with low confidence ({confidence:.2f} < {threshold:.2f}): "
            "{assignment}; check them, or set roles with --therapist, --role or --roles FILE")
    E118 = ("{path}: cannot tell which of {speakers} is the therapist: no model provides scheme "
            "'{scheme}'; set roles with --therapist, --role or --roles FILE")
    E119 = ("{path}: no speaker is a therapist or a client (speakers: {speakers}); nothing to code; "
            "set roles with --therapist, --role or --roles FILE")
    E120 = ("{path} {where}: the {what} holds a lone surrogate ({escape}), which is not text; it was replaced "
            "with U+FFFD")
    E121 = ("{path} line {line}: {count} byte sequence(s) are not valid UTF-8 (lines {lines}); they were "
            "replaced with U+FFFD and the rest of the file read as UTF-8")
    E122 = "{path}: refused to unpack the .docx: {detail} (a damaged file or a zip bomb)"
    E123 = ("{path}: {what}, over the limit of {limit} for one session; split the transcript, or raise the "
            "limit with {option}")
    E124 = "{path}: {detail}"
    E125 = ("{path}: speaker '{speaker}' has {turns} turns but is neither therapist nor client, so none of "
            "them is coded; set roles with --therapist, --role or --roles FILE")
    E126 = ("{path}: the {role} has a single turn (speaker '{speaker}'{at}); check the speaker labels (a header "
            "line read as a turn?) or set roles with --therapist, --role or --roles FILE")

    # --- models -----------------------------------------------------------------------------
    E201 = "{path}: not a transcript_coder model folder (missing {missing})"
    E202 = ("{path}: head '{scheme}' has labels {model_labels}, but codebook '{scheme}' has codes "
            "{codebook_labels}; retrain the model or fix the codebook")
    E203 = "{path}: model has no head for scheme '{scheme}' (heads: {heads})"
    E204 = "base model '{name}' could not be loaded offline: {detail}"
    E205 = "no model provides scheme '{scheme}'"
    E206 = "runtime '{runtime}' needs {packages}: pip install \"transcript_coder[{extra}]\" ({detail})"
    E207 = "cannot assemble encoder '{name}': {detail}. {install}"
    E208 = ("base encoder '{name}' has not been assembled (looked in {path}); run: "
            "transcript-coder encoders assemble {name}")
    E209 = "{path}: cannot add its heads: {detail}"

    # --- training and evaluation data -----------------------------------------------------
    E301 = "{path}: missing column(s) {columns}"
    E302 = "{path} row {row}: unknown code '{value}' in column '{column}' for scheme '{scheme}'"
    E303 = "{path}: no labelled rows for scheme '{scheme}'"
    E304 = "{path} line {line}: {detail}"
    E305 = "cannot split {n_groups} group(s) into train and validation; need at least 2"
    E306 = "{path} row {row}: unknown role '{value}' (expected one of {roles})"
    E307 = "unknown training data format '{name}' (known: {known})"

    # --- command line and batch runs ------------------------------------------------------
    E401 = "{path}: no transcript files matched"
    E402 = "{detail}"
    E403 = "{path}: role mapping{at}: {detail}"
    E404 = "--role expects SPEAKER=ROLE with ROLE one of {roles}; got '{value}'"
    E405 = "{path}: could not be coded ({detail}); this is a bug, please report it"
    E406 = "{path}: cannot write output: {detail}"
    E407 = ("no models found in {path} (a model folder holds a config.json with a 'transcript_coder' "
            "block); pass --model DIR")
    E408 = "scheme '{scheme}' is provided by two models, {first} and {second}; choose one with --model"
    E409 = "unknown unit '{value}' (known: {known})"
    E410 = "--{option} must be {detail}; got {value}"
    E411 = "unknown runtime '{value}' (known: {known})"
    E412 = "unknown engine '{value}' (known: {known})"
    E413 = ("--engine ray needs Ray: pip install 'transcript_coder[ray]' ({detail})")
    E414 = "cannot use the Ray cluster at {address}: {detail}"
    E415 = "{path}: skipped while searching {folder}: {detail}"
    E416 = ("{path}: another transcript-coder run (process {pid}) is writing to this output folder; wait "
            "for it to finish or choose another --out")
    E417 = ("{feature} needs {package}, which is not installed or cannot be imported: "
            "pip install \"transcript_coder[{extra}]\" ({detail})")
    E418 = "device '{value}' cannot be used: {detail}"
    # E420-E429: session ids, the review store and per-input reader options (issue 11)
    E420 = ("{path}: session id '{session_id}' is also the id of {others} (ids are compared ignoring case); "
            "name their common folder instead of the files, or give ids with --ids FILE")
    E421 = ("{path}: this output folder was written by an earlier transcript-coder whose session ids were file "
            "stems ({example}); {detail}")
    E422 = "{path}{at}: session id mapping: {detail}"
    E423 = ("{path}: {count} reviewed cell(s) of session '{session_id}' cannot be placed on its new coding "
            "({detail}); they are kept, listed in reviews/orphans.csv")
    E424 = ("{path}: the reviewed cells of this coded CSV cannot be read ({detail}); it was copied to {backup} "
            "before being rewritten")
    E425 = ("{path}: session id '{session_id}' in this output folder belongs to {other}, which still exists; "
            "give this input another id with --ids FILE, or name the folder both are under")
    E426 = "{path}: reader options: {detail}"

    # --- review and agreement -------------------------------------------------------------
    E501 = ("{path} row {row}, column '{column}': '{value}' is not a code of scheme '{scheme}'{suggestion} "
            "(codes: {codes})")
    E502 = ("{path} row {row}, column '{column}': scheme '{scheme}' codes {scheme_role} units, but this row's "
            "role is '{role}'")
    E503 = ("{path} row {row}, column '{column}': scheme '{scheme}' applies only when {condition} is one of "
            "{allowed}; this row's {condition} is '{value}'")
    E504 = "{count} reviewed cell(s) are invalid; nothing was written:\n{cells}"
    E505 = "{path}: not a coded CSV (missing or bad column(s): {columns})"
    E506 = "{path}: no coded CSV or review workbook (.xlsx) found"
    E507 = "no unit of {compare} aligns with a unit of {reference} (units align by session_id and utterance_index)"
    E508 = "--{option} must be one of {known}; got '{value}'"
    E509 = "{path}: not a coding output folder (missing {missing}); run transcript-coder code --out {path} first"
    E510 = ("{path}: session '{session}' has utterance_index {index} on more than one row ({rows}); each unit "
            "must appear once")
    E511 = ("{path} row {row}: the text cell no longer matches the coded text ({detail}); a spreadsheet may "
            "have changed it (text starting with =, +, - or @ evaluated as a formula)")
    E512 = "{path}: no unit has a confidence to rank by; --least-confident needs the model's confidence columns"
    E513 = "{path}: reading and writing .xlsx workbooks needs openpyxl: pip install openpyxl ({detail})"
    E514 = ("{path} row {row}: reviewed unit (session '{session}', utterance_index {index}) is not in the "
            "coded output {out}; its reviewed codes cannot be placed")
    E515 = ("{path} row {row}: the reviewed {column} of session '{session}', utterance_index {index} was not "
            "stored in {out}: {detail}")
    E516 = ("{path} row {row}: session '{session}', utterance_index {index}: {out} already keeps {column}="
            "'{kept}' (typed into its coded CSV or imported before), so this file's '{value}' was not stored; "
            "to replace it, type the new code into {coded}")
    E520 = "{path} row {row}, column '{column}': '{value}' is not a code of scheme '{scheme}' (codes: {codes})"
    E521 = ("{path} row {row}: transcript {transcript} utterance {utterance} is labelled twice in this pass "
            "(also row {other})")
    E522 = ("{path} row {row}: transcript {transcript} utterance {utterance} is not a {role} turn of the AnnoMI "
            "development set ({data}); the labels and the data do not match")
    E523 = "{path}: label file of annotation round {round} is missing ({label_set}, {pass_name})"
    E524 = "team_label_rounds {rounds}: '{label_set}' has annotation round(s) {known} only"


class TranscriptCoderError(Exception):
    """Base class for every error a user is meant to read.

    ``code`` is the stable identifier (``"E103"``); ``fields`` hold the values the message was built
    from, so callers (the batch writer's ``errors.csv``) can report the file and line separately.
    """

    def __init__(self, code: str, **fields: object) -> None:
        self.code = code
        self.fields = fields
        template = getattr(Errors, code)
        self.detail = template.format(**fields)
        super().__init__(f"{code}: {self.detail}")

    def __reduce__(self):
        # Exceptions pickle as ``cls(*args)``, which this constructor cannot take; rebuild from the
        # code and fields instead, so an error crosses a process boundary (--jobs, Ray) intact.
        return _restore, (type(self), self.code, self.fields), self.__dict__

    @property
    def path(self) -> str | None:
        """The file the error is about, when there is one."""
        value = self.fields.get("path")
        return None if value is None else str(value)

    @property
    def line(self) -> int | None:
        """The 1-based line the error is about, when there is one."""
        value = self.fields.get("line")
        return value if isinstance(value, int) else None


class ConfigError(TranscriptCoderError):
    """A codebook or configuration file is invalid."""


class InputError(TranscriptCoderError):
    """A transcript cannot be read or segmented."""


class ModelError(TranscriptCoderError):
    """A model folder cannot be loaded or does not match its codebook."""


class DataError(TranscriptCoderError):
    """Training or evaluation data is malformed."""


class UsageError(TranscriptCoderError):
    """A command was called with options that cannot work together."""


def _restore(cls: type, code: str, fields: dict) -> TranscriptCoderError:
    """Unpickle a :class:`TranscriptCoderError` (or a subclass, whatever its constructor takes)."""
    error = cls.__new__(cls)
    TranscriptCoderError.__init__(error, code, **fields)
    return error
