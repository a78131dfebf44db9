"""Registered, versioned names for pluggable parts (readers, segmenters, runtimes, rule taggers).

A behaviour change gets a new version (``"labelled_text.v2"``) so that an old run's ``run.json``
still names exactly what produced it.
"""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object table for one kind of pluggable part."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers ``obj`` under ``name`` (``"family.vN"``)."""

        def decorate(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._items[name] = obj
            return obj

        return decorate

    def get(self, name: str) -> T:
        """The object registered as ``name``; a KeyError lists the known names."""
        try:
            return self._items[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} '{name}' (known: {', '.join(sorted(self._items))})") from None

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items


readers: Registry = Registry("reader")
segmenters: Registry = Registry("segmenter")
runtimes: Registry = Registry("runtime")
taggers: Registry = Registry("tagger")
