"""Progress hooks: library code reports progress through a hook it is given, never by printing.

The CLI passes :class:`TqdmHook`; tests pass a :class:`RecordingHook`; batch workers pass nothing.
"""

from __future__ import annotations

from typing import Protocol


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
