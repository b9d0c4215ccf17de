"""A base for the small mutable result classes: ``repr`` and ``==`` from their slots.

What ``@dataclass`` would give them, without its cost: importing
``dataclasses`` (which imports ``inspect``) and building each class's
methods from generated source took ~10 ms of every command's start-up
(docs/performance.md, item 42). Immutable records are ``NamedTuple``\\ s
instead (:class:`gitstore.manifest.Entry`).
"""

from __future__ import annotations

__all__ = ["Record"]


class Record:
    """Fields are the ``__slots__`` of the subclass, in order; the subclass writes ``__init__``."""

    __slots__: tuple[str, ...] = ()

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined,unused-ignore]

    __hash__ = None  # type: ignore[assignment]  # mutable: unhashable, as a dataclass
