"""``once``: :func:`functools.cached_property` without its lock.

Before Python 3.12, ``functools.cached_property`` computes under one lock
shared by every instance of the class. A process forked while another thread
holds it (a DataLoader worker started while a thread of the parent builds a
``Context``) inherits that lock held, and hangs at its first read. Python 3.12
dropped the lock; this is the same descriptor for every version: two threads
that race on the first use may both compute the value, and the first one
stored is the one every caller gets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")


class once(Generic[T]):  # noqa: N801 - used as a decorator, like cached_property
    def __init__(self, func: Callable[[Any], T]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> once[T]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> T | once[T]:
        if obj is None:
            return self
        value = self.func(obj)
        # stored in the instance: later reads never reach this (non-data) descriptor
        return obj.__dict__.setdefault(self.name, value)  # type: ignore[no-any-return]
