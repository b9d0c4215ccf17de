"""Everything gitstore reads from git, and the few writes it makes to git's state.

Reads (revisions, commits, trees, blobs, refs, reflogs) go through dulwich in
process; this is the only module that imports it, and it does so lazily, so
that building a :class:`GitRepo` costs a few ``stat`` calls. Each thread gets
its own dulwich ``Repo``. Revisions are resolved here rather than by dulwich:
full and short shas, branch, tag, remote and ``refs/`` names, ``HEAD``,
``~N``/``^N`` suffixes, reflog entries (``main@{2}``) and dates
(``main@{2026-01-31}``: the last first-parent commit of ``main`` whose
committer date is at or before the end of that day, UTC). Writes to the index
and to ``.git/config`` go through the ``git`` binary, so that git's own index
format and locking are respected. Linked worktrees and bare repositories are
supported.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import re
import stat
import subprocess
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from .errors import GitstoreError, NotARepositoryError, RevisionError, UsageError
from .prefind import GIT_VARIABLES

if TYPE_CHECKING:
    from dulwich.object_store import PackBasedObjectStore
    from dulwich.objects import Commit, Tree
    from dulwich.repo import Repo

__all__ = ["MANIFEST_SUFFIX", "CommitInfo", "GitRepo", "parse_when"]

MANIFEST_SUFFIX = ".gitstore"
_COMMIT, _TREE, _BLOB, _TAG = 1, 2, 3, 4
_ZERO = "0" * 40
_HEX40 = re.compile(r"[0-9a-f]{40}")
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's empty tree, never on disk
_SHORT = re.compile(r"[0-9a-fA-F]{4,39}")
_SUFFIX = re.compile(r"~(\d*)|\^\{(\w*)\}|\^(\d*)")
_SELECTOR = re.compile(r"(?P<name>.*)@\{(?P<sel>[^{}]*)\}")
_BAD_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|^/|/$|\.lock$|^\.|/\.")
_WHEN = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?\s*(Z|[+-]\d{2}:?\d{2})?"
)
_PER_WORKTREE = ("refs/bisect/", "refs/worktree/", "refs/rewritten/")
_SPECIAL_HEADS = ("HEAD", "ORIG_HEAD", "MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD")
# the stash commits of `git merge --autostash` and `git rebase --autostash`, held
# in these files (not in refs/stash) until the merge or rebase ends
_AUTOSTASHES = ("MERGE_AUTOSTASH", "rebase-merge/autostash", "rebase-apply/autostash")


class CommitInfo(NamedTuple):
    """A commit as ``log`` shows it (a named tuple: see :class:`gitstore.manifest.Entry`)."""

    sha: str
    parents: tuple[str, ...]
    author: str  # "Name <email>"
    date: str  # committer date, ISO 8601 with the committer's offset
    timestamp: int  # committer time, epoch seconds
    subject: str  # first line of the message


def parse_when(text: str) -> int:
    """Epoch seconds of ``YYYY-MM-DD[THH:MM[:SS]][Z|+HH:MM]``.

    UTC unless an offset is given; a bare date means the end of that day
    (23:59:59). Raises :class:`RevisionError` for anything else.
    """
    match = _WHEN.fullmatch(text.strip())
    if match is None:
        raise RevisionError(
            f"invalid date '{text}'", hint="use YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] and +HH:MM or Z"
        )
    from datetime import datetime, timedelta, timezone  # dates are rare; start-up is not

    year, month, day, hour, minute, second, offset = match.groups()
    tz = timezone.utc
    if offset and offset != "Z":
        digits = offset[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:])
        if hours > 23 or minutes > 59:
            raise RevisionError(
                f"invalid date '{text}': the offset {offset} is not between -23:59 and +23:59"
            )
        delta = timedelta(hours=hours, minutes=minutes)
        tz = timezone(-delta if offset[0] == "-" else delta)
    try:
        if hour is None:
            when = datetime(int(year), int(month), int(day), 23, 59, 59, tzinfo=tz)
        else:
            when = datetime(
                int(year), int(month), int(day), int(hour), int(minute), int(second or 0), tzinfo=tz
            )
    except ValueError as exc:
        raise RevisionError(f"invalid date '{text}': {exc}") from exc
    return int(when.timestamp())


def blob_id_of(data: bytes) -> str:
    """Git's id of a blob holding ``data`` (SHA-1; a SHA-256 repository's ids never match it)."""
    import hashlib  # OpenSSL's import costs ~4 ms of start-up: only where a blob id is needed

    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _iso(timestamp: int, offset: int) -> str:
    from datetime import datetime, timedelta, timezone

    return datetime.fromtimestamp(timestamp, timezone(timedelta(seconds=offset))).isoformat()


def _norm_prefix(prefix: str) -> str:
    prefix = prefix.replace(os.sep, "/")
    while prefix.startswith("./"):
        prefix = prefix[2:]
    return "" if prefix in (".", "") else prefix.strip("/")


def _under(path: str, prefix: str) -> bool:
    return not prefix or path == prefix or path.startswith(prefix + "/")


_SPARSE_REFUSAL = b"outside of your sparse-checkout definition"
_OBJECT_ENV = frozenset(
    {"GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_REPLACE_REF_BASE"}
)


def _feed(pipe: Any, data: bytes) -> None:
    """Write ``data`` to a child's stdin and close it; a child that has gone is no error."""
    try:
        pipe.write(data)
        pipe.close()
    except (BrokenPipeError, OSError):
        pass


def _first_error_line(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    for line in lines:
        if line.startswith(("fatal:", "error:")):
            return line
    return next((ln for ln in lines if not ln.startswith("hint:")), "no message")


def sparse_patterns_file(git_dir: Path) -> Path:
    """Where git keeps a work tree's sparse-checkout patterns: its own git dir, which for
    a linked worktree is not the main one's (a linked worktree may have none of them)."""
    return git_dir / "info" / "sparse-checkout"


def own_git_dir(root: Path, common_dir: Path) -> Path | None:
    """The git dir of the work tree at ``root``: the common one for the main work tree
    (``.git`` a folder), the one its ``.git`` file names for a linked one; None if
    neither can be read."""
    try:
        first = (root / ".git").read_text("utf-8", "replace").splitlines()[0]
    except IsADirectoryError:
        return common_dir
    except (OSError, IndexError):
        return common_dir if (root / ".git").is_dir() else None
    if not first.startswith("gitdir: "):
        return None
    return root / first[len("gitdir: ") :].strip()  # absolute, or from root


class GitRepo:
    """One git repository (or linked worktree) as gitstore sees it."""

    def __init__(self, git_dir: Path, root: Path | None, common_dir: Path | None = None) -> None:
        self.git_dir = git_dir
        self.root = root
        if common_dir is None:
            common_dir = git_dir
            try:
                text = (git_dir / "commondir").read_text("utf-8").strip()
            except FileNotFoundError:
                text = ""
            if text:
                common_dir = Path(os.path.normpath(git_dir / text))
        self.common_dir = common_dir
        self._shallow: frozenset[str] | None = None
        self._promisors: list[str] | None = None
        self._expected: dict[str, None] = {}  # blob ids listed, read soon: see _expect
        self._fetch_lock = threading.Lock()
        self._local = threading.local()
        self._opened: list[Repo] = []
        self._lock = threading.Lock()
        # dulwich warns when a repository with open packs is collected, and
        # says so noisily at interpreter exit: close them first.
        weakref.finalize(self, _close_all, self._opened, self._lock)

    def __repr__(self) -> str:
        return f"GitRepo(root={self.root!r}, git_dir={self.git_dir!r})"

    # ---- discovery -------------------------------------------------------

    @classmethod
    def discover(cls, start: Path | str = ".") -> GitRepo:
        """The repository containing ``start``, walking up; bare repositories too.

        From the current folder, ``GIT_DIR`` and ``GIT_WORK_TREE`` are
        honoured as git honours them (git itself is asked): a dotfiles
        repository, or a hook git runs with them set.
        """
        here = Path(start).resolve()
        if _GIT_ENV.intersection(os.environ) and here == Path.cwd().resolve():
            return cls._from_git_env(here)
        for folder in (here, *here.parents):
            dotgit = folder / ".git"
            if dotgit.is_dir() and (dotgit / "HEAD").is_file():
                return cls(dotgit, folder)
            if dotgit.is_file():
                return cls(_read_gitfile(dotgit), folder)
            if (folder / "HEAD").is_file() and (folder / "objects").is_dir():
                if (folder / "refs").is_dir() or (folder / "commondir").is_file():
                    return cls(folder, None)
        raise NotARepositoryError(
            f"{Path(start).absolute()} is not inside a git repository", hint="run `git init` first"
        )

    @classmethod
    def _from_git_env(cls, here: Path) -> GitRepo:
        def ask(*args: str) -> str | None:
            try:
                proc = subprocess.run(
                    ["git", "rev-parse", *args], cwd=here, capture_output=True, check=False
                )
            except FileNotFoundError as exc:
                raise GitstoreError("git is not installed or not on PATH") from exc
            return os.fsdecode(proc.stdout).strip() if proc.returncode == 0 else None

        git_dir = ask("--absolute-git-dir")
        if not git_dir:
            named = ", ".join(f"{k}={os.environ[k]}" for k in sorted(_GIT_ENV) if k in os.environ)
            raise NotARepositoryError(
                f"{here} is not inside a git repository ({named} is set)",
                hint="check those variables, or unset them",
            )
        top = None if ask("--is-bare-repository") == "true" else ask("--show-toplevel")
        return cls(Path(git_dir), Path(top) if top else None)

    def require_worktree(self) -> Path:
        if self.root is None:
            raise NotARepositoryError(
                f"{self.git_dir} is a bare repository; this needs a work tree",
                hint="run it in a clone with a work tree",
            )
        return self.root

    @property
    def state_dir(self) -> Path:
        return self.git_dir / "gitstore"

    @property
    def common_state_dir(self) -> Path:
        return self.common_dir / "gitstore"

    # ---- dulwich access --------------------------------------------------

    def _repo(self) -> Repo:
        repo: Repo | None = getattr(self._local, "repo", None)
        if repo is None:
            from dulwich.repo import Repo

            try:
                repo = Repo(
                    controldir=str(self.git_dir),
                    commondir=str(self.common_dir),
                    worktree=None if self.root is None else str(self.root),
                )
            except Exception as exc:  # dulwich raises several unrelated types here
                raise GitstoreError(f"cannot open git repository {self.git_dir}: {exc}") from exc
            self._local.repo = repo
            with self._lock:
                self._opened.append(repo)
        return repo

    def _store(self) -> PackBasedObjectStore:
        return cast("PackBasedObjectStore", self._repo().object_store)

    def _has(self, sha: str) -> bool:
        return sha.encode("ascii") in self._store()  # type: ignore[operator]

    def close(self) -> None:
        """Close the dulwich repositories of every thread (open pack files)."""
        _close_all(self._opened, self._lock)
        self._local = threading.local()

    def _object(self, sha: str) -> Any:
        if not _HEX40.fullmatch(sha):
            raise RevisionError(f"'{sha}' is not a full object id")
        for attempt in range(2):
            try:
                return self._store()[sha.encode("ascii")]  # type: ignore[index]
            except KeyError:
                if sha == EMPTY_TREE:  # built into git, which never writes it (an empty commit)
                    from dulwich.objects import Tree

                    return Tree()
                if attempt or not self.fetch_missing([sha]):
                    break
        raise RevisionError(f"object {sha} is not in the repository")

    def _commit(self, sha: str) -> Commit:
        obj = self._object(sha if _HEX40.fullmatch(sha) else self.resolve(sha))
        if obj.type_num != _COMMIT:
            raise RevisionError(f"{sha} is a {obj.type_name.decode()}, not a commit")
        return cast("Commit", obj)

    def _tree(self, sha: str) -> Tree:
        return cast("Tree", self._object(sha))

    def _peel(self, sha: str) -> tuple[int, str]:
        """Follow tags to the object they name: (type number, sha)."""
        obj = self._object(sha)
        for _ in range(100):
            if obj.type_num != _TAG:
                break
            sha = obj.object[1].decode("ascii")
            obj = self._object(sha)
        return obj.type_num, sha

    # ---- refs and revisions ------------------------------------------------

    def _ref(self, name: str) -> str | None:
        if name in (*_SPECIAL_HEADS, "FETCH_HEAD") and name != "HEAD":
            # ORIG_HEAD, MERGE_HEAD...: files of the work tree's git dir, which dulwich
            # does not read as refs (the post-merge hook read no ORIG_HEAD, so a merge
            # that stopped tracking a path never took its files away). FETCH_HEAD's
            # first line is "SHA<tab>...": its first word, as git reads it.
            try:
                words = (self.git_dir / name).read_bytes().split(b"\n", 1)[0].split()
            except OSError:
                return None
            text = words[0].decode("ascii", "replace") if words else ""
            return text if _HEX40.fullmatch(text) else None
        try:
            _, sha = self._repo().refs.follow(name.encode())  # type: ignore[arg-type]
        except (KeyError, ValueError, OSError):
            return None
        if sha is None or not _HEX40.fullmatch(sha.decode("ascii", "replace")):
            return None
        return sha.decode("ascii")

    def head(self) -> str | None:
        """The sha of HEAD, or None on an unborn branch."""
        return self._ref("HEAD")

    def current_branch(self) -> str | None:
        """The checked-out branch ("main"), or None when HEAD is detached."""
        try:
            target = self._repo().refs.read_ref(b"HEAD")  # type: ignore[arg-type]
        except (KeyError, OSError):
            return None
        if target and target.startswith(b"ref: refs/heads/"):
            return target[len(b"ref: refs/heads/") :].strip().decode("utf-8", "replace")
        return None

    def _ref_candidates(self, name: str) -> list[str]:
        if _BAD_REF.search(name):
            return []
        special = name in _SPECIAL_HEADS or name == "FETCH_HEAD"
        out = [name] if name.startswith("refs/") or special else []
        out += [f"refs/{name}", f"refs/tags/{name}", f"refs/heads/{name}", f"refs/remotes/{name}"]
        return [*out, f"refs/remotes/{name}/HEAD"]

    def _may_be_ref(self, candidates: Sequence[str]) -> bool:
        """False only when none of ``candidates`` can be a ref: no file, no packed-refs line.

        Refs stored as files (git's default backend); with any other (reftable),
        or a packed-refs file that cannot be read, True: dulwich decides.
        """
        if not candidates:
            return False
        if os.path.lexists(self.common_dir / "reftable"):
            return True
        for candidate in candidates:
            if os.path.lexists(self.git_dir / candidate) or os.path.lexists(
                self.common_dir / candidate
            ):
                return True
        try:
            packed = (self.common_dir / "packed-refs").read_bytes()
        except FileNotFoundError:
            return False
        except OSError:
            return True
        return any(
            b" " + c.encode() + b"\n" in packed or packed.endswith(b" " + c.encode())
            for c in candidates
        )

    def _full_ref(self, name: str) -> str | None:
        for candidate in self._ref_candidates(name):
            if self._ref(candidate) is not None:
                return candidate
        return None

    def _short(self, prefix: str, rev: str) -> str | None:
        prefix = prefix.lower()
        found = sorted({sha.decode("ascii") for sha in self._store().iter_prefix(prefix.encode())})
        if len(found) > 1:
            commits = [sha for sha in found if self._peel(sha)[0] == _COMMIT]
            if len(commits) != 1:
                raise RevisionError(
                    f"short sha '{prefix}' in '{rev}' is ambiguous ({len(found)} objects)",
                    hint="give more hex digits",
                )
            return commits[0]
        return found[0] if found else None

    def _name(self, name: str, rev: str) -> str | None:
        """The object a name denotes (not peeled), or None."""
        if name == "@":
            name = "HEAD"
        if _HEX40.fullmatch(name) and self._has(name):
            return name
        candidates = self._ref_candidates(name)
        if not self._may_be_ref(candidates):
            candidates = []  # a path, most likely: dulwich (~35 ms to load) is not needed
        for candidate in candidates:
            sha = self._ref(candidate)
            if sha is not None:
                return sha
        if _SHORT.fullmatch(name):
            return self._short(name, rev)
        return None

    def _reflog_value(self, name: str, index: int, rev: str) -> str:
        if not name:
            branch = self.current_branch()
            ref = f"refs/heads/{branch}" if branch else "HEAD"
        else:
            ref = self._full_ref("HEAD" if name == "@" else name) or ""
        entries = self._reflog(ref) if ref else []
        if not entries:
            raise RevisionError(f"unknown revision '{rev}': no reflog for '{name or ref}'")
        if index < len(entries):
            return entries[-1 - index][1]
        oldest = entries[0][0]
        if index == len(entries) and oldest != _ZERO:
            return oldest
        raise RevisionError(
            f"unknown revision '{rev}': the reflog of '{name or ref}' has only {len(entries)} entries"
        )

    def _reflog(self, ref: str) -> list[tuple[str, str]]:
        """(old, new) of each reflog entry of a full ref name, oldest first."""
        per_worktree = ref == "HEAD" or ref.startswith(_PER_WORKTREE)
        path = (self.git_dir if per_worktree else self.common_dir) / "logs" / ref
        try:
            lines = path.read_bytes().decode("ascii", "replace").splitlines()
        except OSError:
            return []
        words = (line.split(" ", 2) for line in lines)
        return [(w[0], w[1]) for w in words if len(w) == 3 and _HEX40.fullmatch(w[1])]

    def _base(self, base: str, rev: str) -> str:
        match = _SELECTOR.fullmatch(base)
        if match is None:
            sha = self._name(base, rev) if base else None
            if sha is None:
                raise RevisionError(f"unknown revision '{rev}'")
            return sha
        name, selector = match.group("name"), match.group("sel").strip()
        if selector.isdigit():
            return self._reflog_value(name, int(selector), rev)
        if not _WHEN.fullmatch(selector):
            raise RevisionError(f"unknown revision '{rev}': unsupported selector '@{{{selector}}}'")
        return self._at_date(self._to_commit(self._base(name or "HEAD", rev), rev), selector, rev)

    def _at_date(self, tip: str, selector: str, rev: str) -> str:
        when = parse_when(selector)
        sha: str | None = tip
        last = tip
        while sha is not None:
            commit = self._commit(sha)
            if commit.commit_time <= when:
                return sha
            last = sha
            parents = self._parents(sha, commit)  # none past a shallow clone's boundary
            sha = parents[0] if parents else None
        raise RevisionError(
            f"unknown revision '{rev}': no commit at or before {selector}{self._cut(last)}"
        )

    def _to_commit(self, sha: str, rev: str) -> str:
        kind, peeled = self._peel(sha)
        if kind != _COMMIT:
            raise RevisionError(f"revision '{rev}' names a {_KIND_NAMES[kind]}, not a commit")
        return peeled

    def resolve(self, rev: str) -> str:
        """The commit sha a revision names; RevisionError when unknown or ambiguous.

        Forms: full or short sha (a short sha matching several objects of
        which exactly one is a commit means that commit), a name tried as
        ``refs/NAME``, ``refs/tags/NAME``, ``refs/heads/NAME``,
        ``refs/remotes/NAME`` and ``refs/remotes/NAME/HEAD`` in git's order,
        ``HEAD`` or ``@``, then ``NAME@{N}`` (reflog; ``@{N}`` is the current
        branch's, ``HEAD@{N}`` HEAD's), ``NAME@{DATE}`` (see :func:`parse_when`;
        the last first-parent commit at or before it), and any chain of ``~N``,
        ``^N``, ``^{}`` and ``^{commit}``. Annotated tags are peeled.
        """
        cut = min((i for i in (rev.find("~"), rev.find("^")) if i >= 0), default=len(rev))
        sha = self._base(rev[:cut], rev)
        pos = cut
        while pos < len(rev):
            match = _SUFFIX.match(rev, pos)
            if match is None:
                raise RevisionError(f"unknown revision '{rev}'")
            pos = match.end()
            tilde, peel, caret = match.groups()
            if peel is not None:
                if peel not in ("", "commit"):
                    raise RevisionError(f"unknown revision '{rev}': only ^{{}} and ^{{commit}}")
                sha = self._to_commit(sha, rev)
                continue
            sha = self._to_commit(sha, rev)
            parents = self._parents(sha, self._commit(sha))
            if tilde is not None:
                for _ in range(int(tilde or 1)):
                    if not parents:
                        raise RevisionError(
                            f"unknown revision '{rev}': history is shorter{self._cut(sha)}"
                        )
                    sha = parents[0]
                    parents = self._parents(sha, self._commit(sha))
            elif (nth := int(caret or 1)) > 0:
                if nth > len(parents):
                    raise RevisionError(
                        f"unknown revision '{rev}': no parent {nth}{self._cut(sha)}"
                    )
                sha = parents[nth - 1]
        return self._to_commit(sha, rev)

    def _cut(self, sha: str) -> str:
        return " in this shallow clone (git fetch --unshallow)" if sha in self.shallow() else ""

    def try_resolve(self, rev: str) -> str | None:
        """Like :meth:`resolve`, but None for an unknown revision (an ambiguous one still raises)."""
        try:
            return self.resolve(rev)
        except RevisionError as exc:
            if "ambiguous" in exc.message:
                raise
            return None

    def split_revs_and_paths(
        self, args: Sequence[str], max_revs: int | None = None
    ) -> tuple[list[str], list[str]]:
        """Split leading revisions from paths; revisions are returned as given.

        A literal ``--`` forces the split. Without it, a leading argument that
        resolves to a commit and also exists as a path (or as a tracked path,
        ``NAME.gitstore``) is ambiguous.
        """
        args = list(args)
        if "--" in args:
            cut = args.index("--")
            revs, paths = args[:cut], args[cut + 1 :]
            if max_revs is not None and len(revs) > max_revs:
                raise UsageError(
                    f"at most {max_revs} {'revision' if max_revs == 1 else 'revisions'} may be given, got {len(revs)}"
                )
            for rev in revs:
                self.resolve(rev)
            return revs, paths
        revs = []
        for arg in args:
            if max_revs is not None and len(revs) >= max_revs:
                break
            if arg.startswith("-") or self.try_resolve(arg) is None:
                break
            if self._is_path(arg):
                raise RevisionError(
                    f"'{arg}' is both a revision and a path",
                    hint=f"use `-- {arg}` for the path or `{arg} --` for the revision",
                )
            revs.append(arg)
        return revs, args[len(revs) :]

    def _is_path(self, arg: str) -> bool:
        if self.root is None:
            return False  # a bare repository has no paths (its folder holds HEAD, refs/...)
        places = [Path(arg)]
        if self.root is not None:
            places.append(self.root / arg)
        return any(
            os.path.lexists(place) or os.path.lexists(f"{place}{MANIFEST_SUFFIX}")
            for place in places
        )

    # ---- commits and history -----------------------------------------------

    def shallow(self) -> frozenset[str]:
        """The commits at a shallow clone's boundary (``git clone --depth``): their parents are absent."""
        if self._shallow is None:
            try:
                text = (self.common_dir / "shallow").read_text("ascii")
            except (OSError, UnicodeDecodeError):
                text = ""
            self._shallow = frozenset(text.split())
        return self._shallow

    def _parents(self, sha: str, commit: Commit) -> list[str]:
        """A commit's parents as this clone has them: none past a shallow boundary, as git shows it."""
        if sha in self.shallow():
            return []
        return [p.decode("ascii") for p in commit.parents]

    def commit_info(self, sha: str) -> CommitInfo:
        sha = sha if _HEX40.fullmatch(sha) else self.resolve(sha)
        commit = self._commit(sha)
        message = commit.message.decode("utf-8", "replace")
        return CommitInfo(
            sha=sha,
            parents=tuple(self._parents(sha, commit)),
            author=commit.author.decode("utf-8", "replace"),
            date=_iso(commit.commit_time, commit.commit_timezone),
            timestamp=commit.commit_time,
            subject=message.strip("\n").split("\n", 1)[0].strip() if message else "",
        )

    def walk(
        self, start: str, *, first_parent: bool = True, stop_at: Iterable[str] = ()
    ) -> Iterator[CommitInfo]:
        """History from ``start``, newest first, each commit once.

        ``stop_at`` excludes those commits and all their ancestors, as
        ``git log START ^STOP`` does (unknown shas are ignored). With
        ``first_parent`` only first parents are followed from ``start``;
        otherwise every ancestor, in committer-date order.
        """
        heap: list[tuple[int, int, str]] = []
        bad: set[str] = set()
        seen: set[str] = set()
        queued: set[str] = set()
        pending = 0  # interesting commits still queued
        counter = 0

        def push(sha: str, uninteresting: bool) -> None:
            nonlocal pending, counter
            if sha in seen:
                if uninteresting and sha not in bad:
                    bad.add(sha)
                    pending -= sha in queued
                return
            if uninteresting and not self._has(sha):
                return
            seen.add(sha)
            queued.add(sha)
            if uninteresting:
                bad.add(sha)
            else:
                pending += 1
            counter += 1
            heapq.heappush(heap, (-self._commit(sha).commit_time, counter, sha))

        push(start if _HEX40.fullmatch(start) else self.resolve(start), False)
        for stop in stop_at:
            push(stop, True)
        while pending > 0:
            current = heapq.heappop(heap)[2]
            queued.discard(current)
            if current in bad:
                for parent in self._parents(current, self._commit(current)):
                    push(parent, True)
                continue
            pending -= 1
            info = self.commit_info(current)
            for parent in info.parents[:1] if first_parent else info.parents:
                push(parent, False)
            yield info

    # ---- trees and blobs -----------------------------------------------------

    def _root_tree(self, commit: str) -> str:
        tree: bytes = self._commit(commit).tree
        return tree.decode("ascii")

    def blob_id(self, commit: str, path: str) -> str | None:
        """The blob id of a file at a commit, None when absent (or not a file)."""
        sha = self._root_tree(commit)
        mode = stat.S_IFDIR
        for part in _norm_prefix(path).split("/"):
            if not part or not stat.S_ISDIR(mode):
                return None
            try:
                mode, raw = self._tree(sha)[part.encode()]
            except KeyError:
                return None
            sha = raw.decode("ascii")
        return sha if stat.S_ISREG(mode) else None

    def read_path(self, commit: str, path: str) -> bytes | None:
        blob = self.blob_id(commit, path)
        return None if blob is None else self.read_blob(blob)

    def read_blob(self, blob_id: str) -> bytes:
        try:
            kind, data = self._store().get_raw(blob_id.encode("ascii"))  # type: ignore[arg-type]
        except KeyError:
            if not self.fetch_missing([blob_id]):
                raise RevisionError(f"blob {blob_id} is not in the repository") from None
            kind, data = self._store().get_raw(blob_id.encode("ascii"))  # type: ignore[arg-type]
        if kind != _BLOB:
            raise RevisionError(f"object {blob_id} is not a blob")
        return data

    def _entries(self, tree: str | None) -> dict[str, tuple[int, str]]:
        if tree is None:
            return {}
        return {
            entry.path.decode("utf-8", "surrogateescape"): (entry.mode, entry.sha.decode("ascii"))
            for entry in self._tree(tree).iteritems()
        }

    def list_manifests(self, commit: str, under: Sequence[str] = ()) -> dict[str, str]:
        """{path of every ``*.gitstore`` file at ``commit``: blob id}.

        With ``under``, only manifests whose tracked path (or own path) is one
        of the prefixes or lies below one; other subtrees are never read.
        """
        prefixes = [_norm_prefix(p) for p in under]
        if "" in prefixes:
            prefixes = []
        out: dict[str, str] = {}
        stack = [("", self._root_tree(commit))]
        while stack:
            folder, tree = stack.pop()
            for name, (mode, sha) in self._entries(tree).items():
                path = folder + name
                if stat.S_ISDIR(mode):
                    if self._wanted_dir(path, prefixes):
                        stack.append((path + "/", sha))
                elif (
                    stat.S_ISREG(mode)
                    and name.endswith(MANIFEST_SUFFIX)
                    and self._wanted_manifest(path, prefixes)
                ):
                    out[path] = sha
        self._expect(out.values())
        return dict(sorted(out.items()))

    @staticmethod
    def _wanted_dir(path: str, prefixes: list[str]) -> bool:
        return not prefixes or any(_under(path, p) or p.startswith(path + "/") for p in prefixes)

    @staticmethod
    def _wanted_manifest(path: str, prefixes: list[str]) -> bool:
        tracked = path[: -len(MANIFEST_SUFFIX)]
        return not prefixes or any(_under(tracked, p) or path == p for p in prefixes)

    def changed_manifests(self, a: str | None, b: str) -> list[tuple[str, str | None, str | None]]:
        """(path, old blob, new blob) of each manifest that differs from ``a`` to ``b``.

        ``a`` None means the empty tree. Identical subtrees are skipped unread.
        """
        out: list[tuple[str, str | None, str | None]] = []
        old_root = None if a is None else self._root_tree(a)
        stack: list[tuple[str, str | None, str | None]] = [("", old_root, self._root_tree(b))]
        while stack:
            folder, old_tree, new_tree = stack.pop()
            if old_tree == new_tree:
                continue
            old, new = self._entries(old_tree), self._entries(new_tree)
            for name in old.keys() | new.keys():
                before, after = old.get(name), new.get(name)
                if before == after:
                    continue
                path = folder + name
                sub_old = _pick(before, stat.S_ISDIR)
                sub_new = _pick(after, stat.S_ISDIR)
                if sub_old or sub_new:
                    stack.append((path + "/", sub_old, sub_new))
                if name.endswith(MANIFEST_SUFFIX):
                    blob_old, blob_new = _pick(before, stat.S_ISREG), _pick(after, stat.S_ISREG)
                    if blob_old != blob_new:
                        out.append((path, blob_old, blob_new))
        self._expect(blob for _path, old_blob, new_blob in out for blob in (old_blob, new_blob))
        return sorted(out)

    # ---- garbage-collection roots ------------------------------------------

    def all_ref_commits(self) -> set[str]:
        """Every commit a ref, a worktree's HEAD, the stash (an autostash too) or a reflog entry names."""
        candidates: set[str] = set()
        for target in self._repo().refs.as_dict().values():
            candidates.add(target.decode("ascii"))
        git_dirs = [self.common_dir, self.git_dir]
        worktrees = self.common_dir / "worktrees"
        if worktrees.is_dir():
            git_dirs += [d for d in worktrees.iterdir() if d.is_dir()]
        for git_dir in dict.fromkeys(git_dirs):
            for name in (*_SPECIAL_HEADS, "FETCH_HEAD", *_AUTOSTASHES):
                candidates |= _shas_in_file(git_dir / name, first_column_only=True)
            candidates |= _shas_in_file(git_dir / "logs" / "HEAD")
            if git_dir != self.common_dir:
                # a linked worktree's own refs (refs/worktree/*, refs/bisect/*,
                # refs/rewritten/*) and their reflogs live in its admin folder,
                # never in the common dir's refs that dulwich lists; git gc keeps them
                candidates |= _shas_in_tree(git_dir / "refs", first_column_only=True)
                candidates |= _shas_in_tree(git_dir / "logs" / "refs")
        candidates |= _shas_in_tree(self.common_dir / "logs" / "refs")
        candidates.discard(_ZERO)
        out: set[str] = set()
        for sha in candidates:
            if self._has(sha):
                kind, peeled = self._peel(sha)
                if kind == _COMMIT:
                    out.add(peeled)
        return out

    # ---- writes through the git binary -------------------------------------

    def outside_sparse_checkout(self, path: str) -> bool:
        """Whether git's index holds ``path`` outside the sparse checkout's patterns
        (skip-worktree): there in git, absent from the work tree on purpose."""
        try:
            listed = self.git("ls-files", "-t", "--", path, check=False).stdout
        except GitstoreError:
            return False
        return listed.startswith(b"S ")

    def outside_sparse(self, paths: Sequence[str]) -> set[str]:
        """Those of the manifests ``paths`` that the sparse checkout leaves out: git's
        index holds them outside its patterns (skip-worktree), or, not in the index
        yet, cone-mode patterns leave out their folder (non-cone patterns are not
        judged: such a path counts as in). One ``git ls-files -t``; none asked when
        the work tree has no patterns."""
        patterns = sparse_patterns_file(self.git_dir)
        if not paths or not patterns.exists():
            return set()
        asked = set(paths)
        # by the manifests' pattern, not their names: 60,000 would pass the argument limit
        pattern = "*" + MANIFEST_SUFFIX
        try:
            listed = self.git("ls-files", "-t", "-z", "--", pattern, check=False).stdout
        except GitstoreError:
            return set()
        items = [item for item in listed.split(b"\0") if len(item) > 2]
        out = {os.fsdecode(item[2:]) for item in items if item.startswith(b"S ")} & asked
        indexed = {os.fsdecode(item[2:]) for item in items}
        cone = _cone_folders(patterns)
        if cone is not None:
            out.update(p for p in asked - indexed if not _in_cone(p, *cone))
        return out

    def git(
        self,
        *args: str,
        input: bytes | None = None,
        check: bool = True,
        timeout: float | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``git ARGS`` in the work tree (the git dir when bare).

        ``timeout``: seconds before it is stopped (with what it started, such as
        ssh) and reported as failed; it then runs without a terminal, so that
        nothing it starts can wait on a prompt.
        """
        cwd, env = self._git_place()
        if extra_env:
            env = {**(os.environ if env is None else env), **extra_env}
        try:
            if timeout is None:
                proc = subprocess.run(
                    ["git", *args], cwd=cwd, input=input, capture_output=True, check=False, env=env
                )
            else:
                proc = _run_detached(["git", *args], cwd, env, input, timeout)
        except FileNotFoundError as exc:
            raise GitstoreError("git is not installed or not on PATH") from exc
        except subprocess.TimeoutExpired as exc:
            raise GitstoreError(f"git {_subcommand(args)} gave no answer in {timeout:g} s") from exc
        if check and proc.returncode != 0:
            raise GitstoreError(f"git {_subcommand(args)} failed: {_first_error_line(proc.stderr)}")
        return proc

    def upstream_head(self) -> tuple[str, str] | None:
        """(git remote, commit) of the upstream's default branch, None when there is none.

        ``refs/remotes/NAME/HEAD`` (what ``git clone`` checked out) of ``origin``,
        or of the only git remote when none is called so: never any remote's, as
        a contributor's fork added to fetch a branch (with ``git remote set-head
        -a``) would then speak for the team. None without such a remote or ref
        (a clone made with ``--single-branch`` of another branch).
        """
        try:
            names = self.git("remote").stdout.decode("utf-8", "replace").split()
        except GitstoreError:
            return None
        name = "origin" if "origin" in names else names[0] if len(names) == 1 else None
        if name is None:
            return None
        # that very ref: as a revision name, a missing one went on by git's rules to
        # refs/tags/refs/remotes/origin/HEAD, a tag a fork's fetch brings along
        ref = f"refs/remotes/{name}/HEAD"
        try:
            shown = self.git("show-ref", "--verify", "--hash", ref, check=False)
        except GitstoreError:
            return None
        sha = shown.stdout.decode("ascii", "replace").strip()
        if shown.returncode != 0 or not sha:
            return None
        return name, sha

    def _git_place(self) -> tuple[Path, dict[str, str] | None]:
        """The folder and environment (None: this process's) for a git command on this repository."""
        cwd = self.root if self.root is not None else self.git_dir
        env = None
        if _SCRUBBED.intersection(os.environ):
            env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
            if _GIT_ENV.intersection(os.environ):  # git must work on this repository, not theirs
                env["GIT_DIR"] = str(self.git_dir)
                if self.root is not None:
                    env["GIT_WORK_TREE"] = str(self.root)
            index = os.environ.get("GIT_INDEX_FILE")
            if index is not None and self._owns(Path(cwd, index)):
                env["GIT_INDEX_FILE"] = index  # a hook's (git commit -a stages into index.lock)
        return cwd, env

    # ---- partial clones (git clone --filter) ---------------------------------

    def promisor_remotes(self) -> list[str]:
        """The git remotes a partial clone fetches missing objects from, in git's order; [] otherwise.

        ``remote.NAME.promisor`` remotes first, then the one ``extensions.partialClone``
        names (``git clone --filter`` sets both), as git's own lazy fetch tries them.
        """
        if self._promisors is None and not self._maybe_partial():
            self._promisors = []  # no git process for every repository that is not partial
        if self._promisors is None:
            pattern = r"^(extensions\.partialclone|remote\..+\.promisor)$"
            proc = self.git("config", "-z", "--get-regexp", pattern, check=False)
            found: list[str] = []
            last: list[str] = []
            for record in proc.stdout.decode("utf-8", "surrogateescape").split("\0"):
                key, _, value = record.partition("\n")
                if key.lower() == "extensions.partialclone":
                    last = [value] if value else []
                elif key and value.lower() in ("", "true", "yes", "on", "1"):
                    found.append(key[len("remote.") : -len(".promisor")])
            self._promisors = list(dict.fromkeys([*(r for r in found if r not in last), *last]))
        return self._promisors

    def _maybe_partial(self) -> bool:
        """Whether the repository's config names a promisor remote at all (``git clone
        --filter`` writes ``extensions.partialClone`` and ``remote.NAME.promisor`` there)."""
        try:
            text = (self.common_dir / "config").read_bytes().lower()
        except OSError:
            return True  # let git say
        return b"partialclone" in text or b"promisor" in text

    def _expect(self, blobs: Iterable[str | None]) -> None:
        """Blobs a caller listed and is about to read: in a partial clone the first one
        missing is fetched with all of these (``ls REV`` of 2,000 tracked paths was
        2,000 round trips to the git remote, one per manifest)."""
        if self.promisor_remotes():
            self._expected.update(dict.fromkeys(b for b in blobs if b is not None))

    def fetch_missing(self, shas: Iterable[str]) -> bool:
        """Fetch those of ``shas`` this partial clone lacks, as git's lazy fetch does.

        False (nothing done) in a clone that is not partial. One ``git fetch`` of
        the object ids for all of them (a tree comes with its subtrees, never
        their blobs), FETCH_HEAD and every ref left alone: ``gc --remote`` dates
        the clone's last contact with its git remotes by them. A promisor remote
        that cannot give an object is a one-line error naming it: nothing is
        guessed about what the object would have named.
        """
        if not self.promisor_remotes():
            return False
        with self._fetch_lock:
            wanted = {s for s in shas if s != EMPTY_TREE and not self._has(s)}
            if not wanted:
                return True
            listed = list(self._expected)  # one C call: other threads may be adding
            self._expected = {}
            extra = {s for s in listed if s not in wanted and not self._has(s)}
            why = self._fetch(sorted(wanted | extra))
            todo = sorted(s for s in wanted if not self._has(s))
            if todo and extra:  # one the server refused fails the whole batch: ours alone
                why = self._fetch(todo)
                todo = [s for s in todo if not self._has(s)]
        if todo:
            more = f" (and {len(todo) - 1} more)" if len(todo) > 1 else ""
            remotes = ", ".join(f"'{r}'" for r in self.promisor_remotes())
            # reached, and refused: the server no longer has it (or serves no object by id)
            gone = not why or "not our ref" in why
            raise RevisionError(
                f"object {todo[0]}{more} is not in this partial clone (git clone --filter), and"
                f" git could not fetch it from {remotes}" + (f": {why}" if why else ""),
                hint="the git remote no longer has it (a branch deleted or rewritten there?):"
                " `git fetch --prune` drops the remote-tracking branches of deleted ones"
                if gone
                else "run the command again when the git remote can be reached",
            )
        return True

    def _fetch(self, todo: list[str]) -> str:
        """One ``git fetch`` of these object ids from each promisor remote in turn, until
        all are here; git's last error line, or ""."""
        why = ""
        for remote in self.promisor_remotes():
            if not todo:
                break
            proc = self.git(
                "-c",
                "fetch.negotiationAlgorithm=noop",
                "fetch",
                remote,
                "--no-tags",
                "--no-write-fetch-head",
                "--no-auto-maintenance",
                "--recurse-submodules=no",
                "--filter=blob:none",
                "--stdin",
                input="".join(f"{sha}\n" for sha in todo).encode("ascii"),
                check=False,
            )
            if proc.returncode != 0:
                why = _first_error_line(proc.stderr)
            todo = [s for s in todo if not self._has(s)]
        return why

    def prefetch_trees(self, commits: Iterable[str]) -> None:
        """In a partial clone, fetch the missing root trees of ``commits`` in one go.

        A clone made with ``--filter=tree:0`` has commits without trees: a walk
        over history would otherwise fetch them one commit at a time. Each
        tree comes with its subtrees (never their blobs).
        """
        if self.promisor_remotes():
            self.fetch_missing({self._root_tree(sha) for sha in commits})

    def has_object(self, sha: str) -> bool:
        """Whether the object is in this repository now (never fetched)."""
        return bool(_HEX40.fullmatch(sha)) and self._has(sha)

    def iter_blobs(self, blob_ids: Sequence[str]) -> Iterator[tuple[str, bytes]]:
        """(id, bytes) of each blob, in order, from one ``git cat-file --batch``.

        For reading many versions of a manifest (history walks): each is stored
        as a delta of another, and git's delta-base cache reads 400 versions of
        a 2.2 MB manifest in ~0.8 s where resolving each delta chain on its own
        in dulwich takes ~5 s. One blob is held at a time.
        """
        if len(blob_ids) < 8:  # not worth a process
            for blob in blob_ids:
                yield blob, self.read_blob(blob)
            return
        self.fetch_missing(blob_ids)  # a partial clone: in one fetch, not one per blob
        cwd, env = self._git_place()
        # the objects dulwich reads: never the network (a partial clone's missing
        # ones were fetched above, in one go; GIT_NO_LAZY_FETCH is git 2.45's), never
        # a replacement (`git replace`, which clones do not get), never another
        # object folder
        env = {
            k: v for k, v in (os.environ if env is None else env).items() if k not in _OBJECT_ENV
        }
        env["GIT_NO_LAZY_FETCH"] = "1"
        git_dir = f"--git-dir={self.git_dir}"
        try:
            proc = subprocess.Popen(
                ["git", "--no-replace-objects", git_dir, "cat-file", "--batch"],
                cwd=cwd,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except FileNotFoundError as exc:
            raise GitstoreError("git is not installed or not on PATH") from exc
        assert proc.stdin is not None and proc.stdout is not None
        feed = "".join(f"{blob}\n" for blob in blob_ids).encode("ascii")
        feeder = threading.Thread(target=_feed, args=(proc.stdin, feed), daemon=True)
        feeder.start()
        try:
            for blob in blob_ids:
                header = proc.stdout.readline().split()
                if len(header) != 3 or header[0].decode("ascii", "replace") != blob:
                    raise RevisionError(f"blob {blob} is not in the repository")
                if header[1] != b"blob":
                    raise RevisionError(f"object {blob} is not a blob")
                size = int(header[2])
                data = proc.stdout.read(size)
                if len(data) != size or proc.stdout.read(1) != b"\n":
                    raise GitstoreError(f"git cat-file stopped while reading blob {blob}")
                yield blob, data
        finally:
            proc.kill()
            proc.wait()
            proc.stdout.close()
            feeder.join()

    def _owns(self, path: Path) -> bool:
        """Whether ``path`` lies in this repository's git dir (or its common dir)."""
        real = os.path.realpath(path)
        for top in {self.git_dir, self.common_dir}:
            base = os.path.realpath(top)
            if real == base or real.startswith(base + os.sep):
                return True
        return False

    def differs_from_index(self, path: str) -> bool:
        """Whether the work tree's ``path`` has changes git's index lacks, or git does not
        know it at all (one ``git ls-files``; an ignored or absent file does not count)."""
        listed = self.git(
            "--literal-pathspecs",
            "ls-files",
            "-m",
            "-o",
            "--exclude-standard",
            "--",
            path,
            check=False,
        ).stdout
        return bool(listed.strip())

    def staged_file(self, path: str) -> tuple[str, bytes] | None:
        """(git's mode, bytes) of ``path`` in git's index; None when the index lacks it."""
        listed = self.git("ls-files", "-s", "-z", "--", path, check=False).stdout
        if not listed:
            return None
        mode, blob = listed.split(b" ", 2)[:2]
        return mode.decode("ascii"), self.git("cat-file", "blob", blob.decode("ascii")).stdout

    def committed_file(self, path: str) -> tuple[str, bytes] | None:
        """(git's mode, bytes) of ``path`` at HEAD; None when HEAD lacks it (or there is none)."""
        listed = self.git("ls-tree", "-z", "HEAD", "--", path, check=False).stdout
        if not listed:
            return None
        mode, _kind, rest = listed.split(b" ", 2)
        return mode.decode("ascii"), self.git(
            "cat-file", "blob", rest.split(b"\t", 1)[0].decode("ascii")
        ).stdout

    def stage_blob(self, path: str, mode: str, data: bytes) -> None:
        """Put ``data`` into git's index at ``path`` (git's ``mode``), the work tree's file
        untouched: a few lines of a file staged, the user's other changes to it not."""
        blob = self.git("hash-object", "-w", "--no-filters", "--stdin", input=data).stdout
        self.git(
            "update-index", "--add", "--cacheinfo", f"{mode},{blob.decode('ascii').strip()},{path}"
        )

    def stage(self, paths: Sequence[str]) -> None:
        """``git add`` these paths; ignored files among them are added with ``-f``."""
        if not paths:
            return
        spec = b"\0".join(os.fsencode(p) for p in paths)
        # stored, not deflated: a 2 MB manifest is staged in 10 ms, not 30; git's
        # next gc packs (and compresses) loose objects like any other
        add = (
            "-c",
            "core.loosecompression=0",
            "--literal-pathspecs",
            "add",
            "--pathspec-from-file=-",
            "--pathspec-file-nul",
        )
        proc = self.git(*add, input=spec, check=False)
        if proc.returncode == 0:
            return
        if _SPARSE_REFUSAL in proc.stderr:
            # a manifest outside a sparse checkout's patterns: gitstore wrote all of it
            # from the files the user named, so it is staged as git's hint says. Any
            # other file there (.gitignore) is only gitstore's line, not the whole
            # file: never staged so, and said in full.
            manifests = [p for p in paths if p.endswith(MANIFEST_SUFFIX)]
            if manifests:
                listed = b"\0".join(os.fsencode(p) for p in manifests)
                self.git(*add, "--sparse", input=listed)
            paths = [p for p in paths if not p.endswith(MANIFEST_SUFFIX)]
            if not paths:
                return
            spec = b"\0".join(os.fsencode(p) for p in paths)
            proc = self.git(*add, input=spec, check=False)
            if proc.returncode == 0:
                return
            if _SPARSE_REFUSAL in proc.stderr:
                words = [
                    ln.strip()
                    for ln in proc.stderr.decode("utf-8", "replace").splitlines()
                    if ln.strip() and not ln.startswith("hint:")
                ]
                raise GitstoreError(
                    "git add failed: " + " ".join(words),
                    hint="widen the sparse checkout (`git sparse-checkout add PATH`), then run"
                    " the command again",
                )
        if b"ignored by one of your .gitignore" not in proc.stderr:
            raise GitstoreError(f"git add failed: {_first_error_line(proc.stderr)}")
        root = self.require_worktree()
        files = [p for p in paths if not (root / p).is_dir()]
        if files:
            self.git(*add, "-f", input=b"\0".join(os.fsencode(p) for p in files))

    def rm_cached(self, paths: Sequence[str], recursive: bool = False) -> None:
        """Remove paths from the index, keeping the files."""
        if not paths:
            return
        self.git(*self._rm_cached_args(recursive), input=b"\0".join(os.fsencode(p) for p in paths))

    def rm_cached_refusal(self, paths: Sequence[str], recursive: bool = False) -> str | None:
        """Why :meth:`rm_cached` would fail (git's own words, on one line), else None."""
        if not paths:
            return None
        args = [*self._rm_cached_args(recursive), "--dry-run"]
        proc = self.git(*args, input=b"\0".join(os.fsencode(p) for p in paths), check=False)
        if proc.returncode == 0:
            return None
        text = proc.stderr.decode("utf-8", "replace")
        return " ".join(line.strip() for line in text.splitlines() if line.strip())

    @staticmethod
    def _rm_cached_args(recursive: bool) -> list[str]:
        args = ["--literal-pathspecs", "rm", "--cached", "-q", "--ignore-unmatch"]
        args += ["-r"] if recursive else []
        return [*args, "--pathspec-from-file=-", "--pathspec-file-nul"]

    def ls_files(
        self, pathspecs: Sequence[str] = (), *, others: bool = False, exclude_standard: bool = False
    ) -> list[str]:
        """``git ls-files -z``: cached paths, plus untracked ones with ``others``."""
        args = ["ls-files", "-z", "-c"]
        args += ["-o"] if others else []
        args += ["--exclude-standard"] if exclude_standard else []
        out = self.git(*args, "--", *pathspecs).stdout
        return [os.fsdecode(p) for p in out.split(b"\0") if p]

    def worktree_manifests(self) -> list[str]:
        """Every ``*.gitstore`` in the work tree, committed or not (ignored ones excepted)."""
        found = self.ls_files(["*" + MANIFEST_SUFFIX], others=True, exclude_standard=True)
        return sorted(set(p for p in found if p.endswith(MANIFEST_SUFFIX)))

    def _index_entries(self) -> Iterator[tuple[str, str, int]]:
        out = self.git("ls-files", "-s", "-z", "--", "*" + MANIFEST_SUFFIX).stdout
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, _, raw_path = record.partition(b"\t")
            _, sha, stage_no = meta.split(b" ")
            path = os.fsdecode(raw_path)
            if path.endswith(MANIFEST_SUFFIX):
                yield path, sha.decode("ascii"), int(stage_no)

    def index_manifests(self) -> dict[str, str]:
        """Staged manifests, {path: blob id}; conflicted ones are left out."""
        return {path: sha for path, sha, stage_no in self._index_entries() if stage_no == 0}

    def ls_unmerged(self) -> bool:
        """Whether git's index holds any path with a conflict (stage 1 to 3), manifest or not."""
        return bool(self.git("ls-files", "-u", "-z").stdout)

    def index_conflicts(self) -> list[str]:
        """Manifests with unresolved merge conflicts in the index."""
        return sorted({path for path, _, stage_no in self._index_entries() if stage_no > 0})

    def config_set(self, key: str, value: str) -> None:
        self.git("config", "--local", key, value)

    def config_get(self, key: str) -> str | None:
        proc = self.git("config", "--local", "--get", key, check=False)
        if proc.returncode == 1:
            return None
        if proc.returncode != 0:
            raise GitstoreError(f"git config failed: {_first_error_line(proc.stderr)}")
        return proc.stdout.decode("utf-8", "replace").rstrip("\n")

    def hooks_dir(self) -> Path:
        """Where git runs hooks from: ``core.hooksPath`` (any scope) or the common hooks dir."""
        proc = self.git("config", "--path", "--get", "core.hooksPath", check=False)
        value = proc.stdout.decode("utf-8", "replace").rstrip("\n") if proc.returncode == 0 else ""
        if not value:
            return self.common_dir / "hooks"
        base = self.root if self.root is not None else self.git_dir
        return base / value

    def not_checked_out(self) -> bool:
        """A clone made with ``--no-checkout``: HEAD has a commit but there is no index yet."""
        return not (self.git_dir / "index").exists() and self.head() is not None

    def is_rebase_in_progress(self) -> bool:
        """A rebase stopped or under way (either backend); not a ``git am``, whose
        ``rebase-apply`` folder holds ``applying`` where a rebase's holds ``rebasing``."""
        return (self.git_dir / "rebase-merge").is_dir() or (
            self.git_dir / "rebase-apply" / "rebasing"
        ).exists()

    def rebase_picks_nothing(self) -> bool:
        """Whether a rebase in progress has nothing left to pick (its todo list is empty).

        git's fast-forward rebase (a branch with no commits of its own) checks
        out the new base, finds nothing to do and ends: it rewrites no commit,
        so no post-rewrite follows the post-checkout. False when unknown (no
        todo list, as the apply backend keeps none).
        """
        try:
            text = (self.git_dir / "rebase-merge" / "git-rebase-todo").read_text("utf-8", "replace")
        except OSError:
            return False
        lines = (line.strip() for line in text.splitlines())
        return all(not line or line.startswith("#") or line == "noop" for line in lines)

    def recent_heads(self, count: int = 30) -> list[str]:
        """The commits HEAD was at before its last ``count`` moves (its reflog), newest
        first, without repeats, then ``ORIG_HEAD``: where a work tree's files may still
        be from after a command that moved HEAD with no hook to bring them (``rebase
        --quit``, a git client without hooks)."""
        lines: list[bytes] = []
        try:
            with open(self.git_dir / "logs" / "HEAD", "rb") as f:
                end = f.seek(0, os.SEEK_END)
                data = b""
                while end > 0 and data.count(b"\n") <= count:  # lines hold whole messages
                    step = min(end, 64 << 10)
                    end -= step
                    f.seek(end)
                    data = f.read(step) + data
            lines = data.splitlines()[-count:] if end == 0 else data.splitlines()[1:][-count:]
        except OSError:
            pass
        out: dict[str, None] = {}
        for line in reversed(lines):
            old = line.split(b" ", 1)[0].decode("ascii", "replace")
            if _HEX40.fullmatch(old) and old != _ZERO:
                out[old] = None
        orig = _shas_in_file(self.git_dir / "ORIG_HEAD", first_column_only=True)
        out.update(dict.fromkeys(orig))
        return list(out)

    def rebase_orig_head(self) -> str | None:
        """The tip a rebase in progress started from (the data the work tree still holds)."""
        for folder in ("rebase-merge", "rebase-apply"):
            found = _shas_in_file(self.git_dir / folder / "orig-head", first_column_only=True)
            if found:
                return next(iter(found))
        return None


_KIND_NAMES = {_COMMIT: "commit", _TREE: "tree", _BLOB: "blob", _TAG: "tag"}


def _close_all(opened: list[Repo], lock: threading.Lock) -> None:
    with lock:
        repos = opened[:]
        opened.clear()
    for repo in repos:
        repo.close()


def _run_detached(
    argv: list[str],
    cwd: Path,
    env: Mapping[str, str] | None,
    input: bytes | None,
    timeout: float,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` in a session of its own (no terminal: an ssh password prompt fails at
    once rather than waits); past ``timeout``, its whole process group is killed."""
    import signal

    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _subcommand(args: Sequence[str]) -> str:
    return next((arg for arg in args if not arg.startswith("-")), "")


def _pick(entry: tuple[int, str] | None, test: Any) -> str | None:
    return entry[1] if entry is not None and test(entry[0]) else None


_GIT_ENV = frozenset({"GIT_DIR", "GIT_WORK_TREE"})
# never passed on to gitstore's own git calls: gitstore's pathspecs mean what
# they say (GIT_LITERAL_PATHSPECS=1 made `*.gitstore` match nothing, and gc
# then protected no staged manifest), and another repository's index is not
# this one's (GIT_INDEX_FILE is kept only when it lies in this git dir)
# (the list lives in prefind, whose early git calls are made only with none set)
_SCRUBBED = frozenset(GIT_VARIABLES)
assert _GIT_ENV <= _SCRUBBED


def _read_gitfile(path: Path) -> Path:
    text = path.read_text("utf-8", "replace").strip()
    if not text.startswith("gitdir:"):
        raise NotARepositoryError(f"{path} is not a valid .git file")
    target = Path(text[len("gitdir:") :].strip())
    return Path(os.path.normpath(path.parent / target))


def _shas_in_tree(folder: Path, first_column_only: bool = False) -> set[str]:
    """:func:`_shas_in_file` of every file below ``folder`` (loose refs, or reflogs)."""
    out: set[str] = set()
    if folder.is_dir():
        for parent, _, files in os.walk(folder):
            for name in files:
                out |= _shas_in_file(Path(parent) / name, first_column_only)
    return out


def _cone_folders(patterns: Path) -> tuple[set[str], set[str]] | None:
    """(recursive folders, parent folders) of a cone-mode sparse-checkout file; None for
    non-cone patterns (or none readable). Cone mode writes ``/*`` and ``!/*/`` first,
    then ``/A/`` with ``!/A/*/`` for a parent folder (its own files only) and ``/A/B/``
    alone for a folder taken whole."""
    try:
        lines = [x for x in patterns.read_text("utf-8").splitlines() if x and x[0] != "#"]
    except (OSError, UnicodeDecodeError):
        return None
    if lines[:2] != ["/*", "!/*/"] or any("\\" in x for x in lines):
        return None  # (an escaped name: not judged)
    listed, parents = set(), set()
    for line in lines[2:]:
        if line.startswith("!/") and line.endswith("/*/"):
            parents.add(line[2:-3])
        elif line.startswith("/") and line.endswith("/") and "*" not in line:
            listed.add(line[1:-1])
        else:
            return None  # not cone mode's shape after all: not judged
    return listed - parents, parents


def _in_cone(path: str, recursive: set[str], parents: set[str]) -> bool:
    """Whether a file at ``path`` is within cone-mode patterns: a top-level file, a file
    of a parent folder, or anything under a folder taken whole."""
    folder = path.rpartition("/")[0]
    if not folder or folder in parents:
        return True
    return any(folder == r or folder.startswith(r + "/") for r in recursive)


def _shas_in_file(path: Path, first_column_only: bool = False) -> set[str]:
    """Hex shas in a ref-like file: a reflog's old/new columns, or a HEAD's first word."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return set()
    out: set[str] = set()
    for line in data.decode("ascii", "replace").splitlines():
        words = line.split(maxsplit=2)
        for word in words[:1] if first_column_only else words[:2]:
            if _HEX40.fullmatch(word):
                out.add(word)
    return out
