"""WhisperX (and whisper + pyannote) JSON: ``{"segments": [{"start", "end", "text", "speaker",
"words": [...]}]}``.

``whisperx_json.v1`` rules:

* Each segment with text is one turn, even when consecutive segments have the same speaker: the
  transcriber's segments are the units (segmentation may merge them later; merging here would
  lose their times).
* The speaker is the segment's ``speaker``; failing that, the majority ``speaker`` of its
  ``words`` (ties go to the word speaker heard first); failing that, the previous turn's speaker,
  or :attr:`ReaderOptions.unknown_speaker` for the first.
* Segments with empty text are skipped. ``Turn.line`` is the segment's 1-based index.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..errors import InputError
from ..registry import readers
from ..types import Turn
from .json_turns import load_json
from .options import ReaderOptions, ReaderOutput, TranscriptSource
from .timestamps import clip, parse_seconds


def majority_word_speaker(words: object) -> str | None:
    """The speaker of most of a segment's words, or ``None`` when no word has one."""
    if not isinstance(words, list):
        return None
    speakers = Counter(
        str(word["speaker"]).strip()
        for word in words
        if isinstance(word, dict) and word.get("speaker") not in (None, "")
    )
    # most_common keeps first-seen order among equal counts, so a tie goes to the earlier speaker.
    return speakers.most_common(1)[0][0] if speakers else None


@readers.register("whisperx_json.v1")
def read_whisperx(source: TranscriptSource, options: ReaderOptions) -> ReaderOutput:
    """Read WhisperX JSON segments; see the module docstring for the rules."""
    path = source.path
    data = load_json(source.text, path)
    segments = data.get("segments") if isinstance(data, dict) else None
    if not isinstance(segments, list):
        raise InputError("E111", path=path, detail="expected a WhisperX object with a 'segments' list")
    turns: list[Turn] = []
    empty = from_words = continued = unknown = 0
    for index, segment in enumerate(segments, start=1):
        if not isinstance(segment, dict):
            raise InputError("E113", path=path, unit="segment", index=index, detail="is not an object")
        text = segment.get("text")
        text = " ".join(text.split()) if isinstance(text, str) else ""
        if not text:
            empty += 1
            continue
        speaker = segment.get("speaker")
        speaker = str(speaker).strip() if speaker not in (None, "") else None
        if speaker is None:
            speaker = majority_word_speaker(segment.get("words"))
            from_words += speaker is not None
        if speaker is None and turns:
            speaker, continued = turns[-1].speaker, continued + 1
        elif speaker is None:
            speaker, unknown = options.unknown_speaker, unknown + 1
        turns.append(
            Turn(
                speaker=speaker,
                text=text,
                start=_seconds(segment, "start", index, path),
                end=_seconds(segment, "end", index, path),
                line=index,
            )
        )
    warnings = []
    if turns and all(turn.speaker == options.unknown_speaker for turn in turns):
        warnings.append("no segment names a speaker (was the transcript diarised?)")
    if empty:
        warnings.append(f"{empty} segment(s) with empty text were skipped")
    if from_words:
        warnings.append(f"{from_words} segment(s) without a speaker took the majority speaker of their words")
    if continued:
        warnings.append(
            f"{continued} segment(s) without any speaker were given the previous segment's speaker"
        )
    if unknown:
        warnings.append(f"the first segment has no speaker; it was given '{options.unknown_speaker}'")
    return ReaderOutput(turns, warnings)


def _seconds(segment: dict, key: str, index: int, path: Path) -> float | None:
    value = segment.get(key)
    try:
        return parse_seconds(value)
    except ValueError:
        raise InputError(
            "E113", path=path, unit="segment", index=index,
            detail=f"malformed time '{clip(str(value))}' in '{key}'",
        ) from None
