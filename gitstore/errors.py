"""The whole exception tree of gitstore.

Every error a user can cause is a :class:`GitstoreError`: one sentence naming
the path, oid or remote, an optional hint naming the next command to run, and
the process exit code the CLI uses for it. Callers react to the groups::

    GitstoreError                    exit 1
    +-- UsageError                   exit 2  (bad arguments that click cannot see)
    +-- ConfigError                  exit 1
    +-- NotARepositoryError          exit 1
    +-- RevisionError                exit 1  (unknown or ambiguous revision)
    +-- PathError                    exit 1  (outside the repo, missing, nested)
    +-- ManifestError                exit 1  (does not parse or fails validation)
    +-- HashingError                 exit 1  (file vanished or changed while hashed)
    +-- StoreError                   exit 1
    |   +-- ObjectNotFoundError      a real 404 / missing file, nothing else
    |   +-- StoreAuthError           credentials missing or access denied
    |   +-- StoreUnavailableError    retryable: down, throttled, connection lost
    |   +-- ReadOnlyStoreError       a write to a read-only store
    |   +-- UnsupportedError         the service lacks a needed feature
    +-- IntegrityError               bytes do not match their oid
    +-- PartialError                 exit 3  (did what it could; some missing/refused)
    |   +-- CheckoutConflictError    workspace files not in the cache were left alone
    |   +-- TransferError            some objects could not be transferred
    +-- ConflictError                exit 4  (lock held, conditional write lost, merge)
        +-- LockHeldError
        +-- PreconditionFailed

Third-party exceptions (OSError, botocore, dulwich) are translated where they
are raised, with ``raise ... from exc``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing's import (with re) would come before the hooks' early find
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "CheckoutConflictError",
    "ConfigError",
    "ConflictError",
    "GitstoreError",
    "HashingError",
    "IntegrityError",
    "LockHeldError",
    "ManifestError",
    "NotARepositoryError",
    "ObjectNotFoundError",
    "PartialError",
    "PathError",
    "PreconditionFailed",
    "ReadOnlyStoreError",
    "RevisionError",
    "StoreAuthError",
    "StoreError",
    "StoreUnavailableError",
    "TransferError",
    "UnsupportedError",
    "UsageError",
]


class GitstoreError(Exception):
    """Root of every error a user can cause; ``str()`` is the one-line message."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(GitstoreError):
    exit_code = 2


class ConfigError(GitstoreError):
    pass


class NotARepositoryError(GitstoreError):
    pass


class RevisionError(GitstoreError):
    pass


class PathError(GitstoreError):
    pass


class ManifestError(GitstoreError):
    pass


class HashingError(GitstoreError):
    pass


class StoreError(GitstoreError):
    pass


class ObjectNotFoundError(StoreError):
    def __init__(self, message: str, oid: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.oid = oid


class StoreAuthError(StoreError):
    pass


class StoreMissingError(StoreError):
    """The store itself is not there (an S3 bucket that does not exist)."""


class StoreUnavailableError(StoreError):
    """Retryable: the store is down, throttling, or the connection dropped."""


class ReadOnlyStoreError(StoreError):
    pass


class UnsupportedError(StoreError):
    pass


class IntegrityError(GitstoreError):
    pass


class PartialError(GitstoreError):
    exit_code = 3


class CheckoutConflictError(PartialError):
    def __init__(self, message: str, paths: Sequence[str] = (), hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.paths = list(paths)


class TransferError(PartialError):
    def __init__(self, message: str, failed: Sequence[str] = (), hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.failed = list(failed)


class ConflictError(GitstoreError):
    exit_code = 4


class LockHeldError(ConflictError):
    pass


class PreconditionFailed(ConflictError):
    """A conditional write lost: the document changed (or exists) already."""


def environment_error_line(exc: BaseException) -> str:
    """One line for an error the machine raised where no caller had words for it.

    A full disk, a file left read-only by a ``sudo`` run, too many open files:
    ``OSError`` with its reason and the file it names, so that the user sees
    where, without a traceback (``--debug`` shows one).
    """
    import os

    if isinstance(exc, MemoryError):
        return "out of memory"
    if not isinstance(exc, OSError):
        return str(exc)
    line = exc.strerror or str(exc)
    for name in (exc.filename, exc.filename2):
        if name is not None:
            line += f": {os.fsdecode(name) if isinstance(name, bytes) else name}"
    return line
