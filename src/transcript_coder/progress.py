"""Progress hooks: library code reports progress through a hook it is given, never by printing.

The CLI passes :func:`progress_hook`'s choice: a :class:`TqdmHook` bar on a terminal, a
:class:`LogHook` (periodic log lines with counts, rate and ETA) when stderr is a file or a pipe (a
batch job's log, ``nohup``, CI); tests pass a :class:`RecordingHook`; batch workers pass nothing.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Protocol

#: The logger :class:`LogHook` writes to; the CLI lets its INFO lines through unless ``--quiet``.
PROGRESS_LOGGER = "transcript_coder.progress"


class ProgressHook(Protocol):
    """Called by long-running stages. ``stage`` names the loop (``"train"``, ``"code"``)."""

    def start(self, stage: str, total: int | None, unit: str = "it") -> None: ...

    def advance(self, stage: str, n: int = 1, **postfix: object) -> None: ...

    def finish(self, stage: str) -> None: ...


class NullHook:
    """A hook that does nothing (the default)."""

    def start(self, stage: str, total: int | None, unit: str = "it") -> None:
        pass

    def advance(self, stage: str, n: int = 1, **postfix: object) -> None:
        pass

    def finish(self, stage: str) -> None:
        pass


class RecordingHook(NullHook):
    """Remembers every call, for tests."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def start(self, stage: str, total: int | None, unit: str = "it") -> None:
        self.events.append(("start", stage, total))

    def advance(self, stage: str, n: int = 1, **postfix: object) -> None:
        self.events.append(("advance", stage, n, postfix))

    def finish(self, stage: str) -> None:
        self.events.append(("finish", stage))


class TqdmHook(NullHook):
    """Progress bars on stderr, one per stage, with the latest postfix values (loss, turns/s)."""

    def __init__(self, disable: bool | None = None) -> None:
        self.bars: dict = {}
        self.disable = disable

    def start(self, stage: str, total: int | None, unit: str = "it") -> None:
        from tqdm.auto import tqdm

        self.bars[stage] = tqdm(total=total, desc=stage, unit=unit, disable=self.disable, dynamic_ncols=True)

    def advance(self, stage: str, n: int = 1, **postfix: object) -> None:
        bar = self.bars.get(stage)
        if bar is not None:
            if postfix:
                bar.set_postfix({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in postfix.items()}, refresh=False)
            bar.update(n)

    def finish(self, stage: str) -> None:
        bar = self.bars.pop(stage, None)
        if bar is not None:
            bar.close()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _plural(unit: str) -> str:
    return unit + ("es" if unit.endswith(("s", "ch", "sh", "x")) else "s")


def _postfix_text(postfix: dict) -> str:
    parts = []
    for key, value in postfix.items():
        if key.endswith("_s") and isinstance(value, (int, float)):  # turns_s: a rate
            parts.append(f"{value:.1f} {key[:-2]}/s")
        else:
            parts.append(f"{key} {value:.4f}" if isinstance(value, float) else f"{key} {value}")
    return ", ".join(parts)


class LogHook(NullHook):
    """Progress as log lines, for output that is not a terminal: ``code: 12/200 sessions (6 %),
    45.2 turns/s, elapsed 0:01:02, ETA 0:16:11``.

    A line is logged when a stage starts, at most every ``interval`` seconds while it runs (after
    every step when the stage has at most ``every_step_up_to`` steps: a small batch reports each
    session), and when it finishes. The ETA assumes the remaining steps go at the rate so far.
    """

    def __init__(self, interval: float = 30.0, every_step_up_to: int = 20, logger: logging.Logger | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.every_step_up_to = every_step_up_to
        self.logger = logger or logging.getLogger(PROGRESS_LOGGER)
        self.clock = clock
        self.stages: dict[str, dict] = {}

    def start(self, stage: str, total: int | None, unit: str = "it") -> None:
        now = self.clock()
        self.stages[stage] = {"total": total, "unit": unit, "done": 0, "started": now, "logged": now, "postfix": {}}
        self.logger.info("%s: started, %s %s", stage, "?" if total is None else total, _plural(unit))

    def line(self, stage: str) -> str:
        """The progress line of ``stage`` as it stands."""
        state = self.stages[stage]
        done, total, elapsed = state["done"], state["total"], self.clock() - state["started"]
        unit = _plural(state["unit"])
        text = f"{stage}: {done:g}/{total} {unit}" if total else f"{stage}: {done:g} {unit}"
        if total:
            text += f" ({100 * done / total:.0f} %)"
        extra = _postfix_text(state["postfix"])
        text += (f", {extra}" if extra else "") + f", elapsed {_duration(elapsed)}"
        if total and 0 < done < total:
            text += f", ETA {_duration(elapsed / done * (total - done))}"
        return text

    def advance(self, stage: str, n: int = 1, **postfix: object) -> None:
        state = self.stages.get(stage)
        if state is None:
            return
        state["done"] += n
        state["postfix"].update(postfix)
        now = self.clock()
        small = state["total"] is not None and state["total"] <= self.every_step_up_to
        if small or now - state["logged"] >= self.interval:
            state["logged"] = now
            self.logger.info("%s", self.line(stage))

    def finish(self, stage: str) -> None:
        if stage in self.stages:
            self.logger.info("%s (finished)", self.line(stage))
            del self.stages[stage]


def progress_hook(quiet: bool = False, stream=None) -> ProgressHook:
    """The hook for a command's progress: none when ``quiet``, a bar when ``stream`` (default
    stderr) is a terminal, else a :class:`LogHook`."""
    if quiet:
        return NullHook()
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    return TqdmHook() if isatty is not None and isatty() else LogHook()
