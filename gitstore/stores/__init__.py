"""Object stores: one interface (base.py), one module per backend."""

from .base import Document, ObjectStat, Store

__all__ = ["Document", "ObjectStat", "Store"]
