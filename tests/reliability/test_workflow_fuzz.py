"""A model-based workflow fuzzer: two clones do random team work through real git.

Alice and Bob each have a clone of a bare origin, their own cache, gitstore's
hooks, and a folder remote shared through the committed config; half the seeds
add a linked worktree of alice's on her cache. A seeded random sequence of
what a team does (edit and commit data, `commit -a` in two steps, amend,
branch, switch with and without unsaved edits, merge and `merge --squash`
with conflicts settled by `gitstore resolve` or aborted, rebase, cherry-pick,
revert, stash, reset, `git checkout REV -- X.gitstore`, `gitstore checkout
REV [SUB]`, push, pull with merge, rebase or `--autostash`, gc, `gc --remote`,
gitstore push/pull/fetch) runs against them, and after every step the clones
are checked against an oracle that knows, for every commit, which bytes each
tracked file has:

- no command or hook prints a traceback, whatever it returns;
- every commit records what the model predicts: a commit of edited files
  records them; a merge, rebase, cherry-pick or revert records the three-way
  merge of the file contents (entry by entry, as the merge driver does), with
  a conflict exactly where the model sees one;
- once a step is done (a hook ran, or `gitstore checkout` where docs/hooks.md
  says no hook runs), the tracked files on disk are HEAD's, byte for byte and
  executable bit, and `git status` is clean;
- `gitstore checkout REV` gives REV's files exactly, `gitstore checkout HEAD`
  comes back;
- every object a commit reachable in a clone needs is in its cache or on the
  remote; after `gitstore gc --grace 0` every one that was in the cache still is;
- after a push, every commit on origin has all its objects on the remote, and
  a fresh clone with an empty cache gets every branch tip's bytes;
- `gitstore verify` (caches and remote) finds nothing wrong.

Where docs/hooks.md says a command runs no hook, the fuzzer runs `gitstore
checkout` after it, as a user would (or `gitstore pull`, which the checkout's
hint names, for data the clone never fetched); sometimes it commits first,
and that commit must keep the manifest git wrote, or be refused saying so.
What it found is at the end of this file, one plain test a finding.

A failure prints the seed and the action log. Replay one seed with
``GITSTORE_FUZZ_SEED=N [GITSTORE_FUZZ_STEPS=M] pytest tests/reliability/test_workflow_fuzz.py``.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest
from blake3 import blake3

from tests.conftest import gitstore_bin_dir
from tests.reliability.helpers import objects_in, record, store_problems

# read at import: the hermetic fixture clears GITSTORE_* before a test runs
REPLAY_SEED = os.environ.get("GITSTORE_FUZZ_SEED")
REPLAY_STEPS = os.environ.get("GITSTORE_FUZZ_STEPS")

GITSTORE = [sys.executable, "-m", "gitstore"]
MANIFESTS = ("data.gitstore", "model.bin.gitstore")
NAMES = ("a.bin", "b.bin", "s1/c.bin", "s1/d.bin", "s2/e.bin", "s2/deep/f.bin", "g.bin")
SHARED = (b"", b"x", b"shared one\n", b"shared two\n" * 40)
ENTRY = re.compile(
    r"^- \{path: (?P<path>[^,]+), blake3: \"?(?P<oid>[0-9a-f]{64})\"?, size: (?P<size>\d+)"
    r"(?P<exec>, exec: true)?\}$"
)

Entry = tuple[str, bool]  # (oid, executable)
Content = dict[str, Entry]  # tracked file ("data/s1/c.bin", "model.bin") -> entry


class Finding(AssertionError):
    """An invariant that does not hold."""


def oid_of(data: bytes) -> str:
    return str(blake3(data).hexdigest())


def merge3(
    base: Content, ours: Content, theirs: Content, prefer: str | None
) -> tuple[Content, set[str]]:
    """Entry-by-entry three-way merge; returns (result, tracked paths with a conflict)."""
    out: Content = {}
    conflicts: set[str] = set()
    for path in sorted(set(base) | set(ours) | set(theirs)):
        b, o, t = base.get(path), ours.get(path), theirs.get(path)
        if o == t or t == b:
            v = o
        elif o == b:
            v = t
        else:
            conflicts.add(tracked_of(path))
            v = t if prefer == "theirs" else o
        if v is not None:
            out[path] = v
    return out, conflicts


def tracked_of(path: str) -> str:
    return "model.bin" if path == "model.bin" else "data"


def describe(content: Content) -> str:
    return (
        "{"
        + ", ".join(f"{p}: {o[:8]}{'+x' if x else ''}" for p, (o, x) in sorted(content.items()))
        + "}"
    )


def difference(want: Content, got: Content) -> str:
    lines = []
    for path in sorted(set(want) | set(got)):
        if want.get(path) != got.get(path):
            w, g = want.get(path), got.get(path)
            lines.append(
                f"  {path}: want {w[0][:8] + ('+x' if w[1] else '') if w else 'absent'},"
                f" got {g[0][:8] + ('+x' if g[1] else '') if g else 'absent'}"
            )
    return "\n".join(lines)


class Clone:
    def __init__(self, fuzz: Fuzz, name: str, path: Path, cache: Path) -> None:
        self.fuzz = fuzz
        self.name = name
        self.path = path
        self.cache = cache / "gitstore"
        self.env = dict(os.environ, XDG_CACHE_HOME=str(cache), GIT_EDITOR="true")
        bins = [os.path.dirname(sys.executable), gitstore_bin_dir(), os.environ.get("PATH", "")]
        self.env["PATH"] = os.pathsep.join(bins)

    def run(self, argv: list[str], ok: bool | None) -> subprocess.CompletedProcess[str]:
        shown = " ".join(argv[2:] if argv[0] == sys.executable else argv)
        proc = subprocess.run(argv, cwd=self.path, env=self.env, capture_output=True, text=True)
        self.fuzz.log(f"{self.name}$ {shown} -> {proc.returncode}")
        for stream in (proc.stdout, proc.stderr):
            if "Traceback (most recent call last)" in stream:
                raise Finding(f"traceback from `{shown}`:\n{proc.stderr}")
        if ok is True and proc.returncode != 0:
            raise Finding(f"`{shown}` failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        if ok is False and proc.returncode == 0:
            raise Finding(f"`{shown}` succeeded but should not:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def git(self, *args: str, ok: bool | None = True) -> subprocess.CompletedProcess[str]:
        return self.run(["git", *args], ok)

    def gs(self, *args: str, ok: bool | None = True) -> subprocess.CompletedProcess[str]:
        return self.run([*GITSTORE, *args], ok)

    def quiet_git(self, *args: str) -> str:
        """A read-only git query, not logged."""
        proc = subprocess.run(
            ["git", *args], cwd=self.path, env=self.env, capture_output=True, text=True
        )
        return proc.stdout

    def head(self) -> str:
        return self.quiet_git("rev-parse", "HEAD").strip()

    def branch(self) -> str:
        return self.quiet_git("symbolic-ref", "-q", "--short", "HEAD").strip()

    def rev(self, name: str) -> str:
        return self.quiet_git("rev-parse", "-q", "--verify", name + "^{commit}").strip()

    def branches(self) -> list[str]:
        return self.quiet_git("for-each-ref", "--format=%(refname:short)", "refs/heads").split()

    def remote_branches(self) -> list[str]:
        out = self.quiet_git("for-each-ref", "--format=%(refname:short)", "refs/remotes/origin")
        return [b for b in out.split() if b not in ("origin", "origin/HEAD")]

    def reachable(self, *extra: str) -> list[str]:
        return self.quiet_git("rev-list", "--all", "--reflog", *extra).split()

    def busy_branches(self) -> set[str]:
        """Branches checked out in another worktree (git refuses to switch to them)."""
        here = self.branch()
        out = self.quiet_git("worktree", "list", "--porcelain")
        names = {
            ln.split("refs/heads/", 1)[1] for ln in out.splitlines() if ln.startswith("branch ")
        }
        return names - {here}

    def in_progress(self) -> list[str]:
        gitdir = Path(self.quiet_git("rev-parse", "--absolute-git-dir").strip())
        marks = ("MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "rebase-merge", "rebase-apply")
        return [m for m in marks if (gitdir / m).exists()]

    def unmerged(self) -> list[str]:
        return sorted(set(self.quiet_git("diff", "--name-only", "--diff-filter=U").split()))

    def disk(self) -> Content:
        out: Content = {}
        data = self.path / "data"
        if data.is_dir():
            for folder, _dirs, files in os.walk(data):
                for name in files:
                    full = Path(folder, name)
                    out[full.relative_to(self.path).as_posix()] = self._entry(full)
        model = self.path / "model.bin"
        if model.is_file():
            out["model.bin"] = self._entry(model)
        return out

    def _entry(self, path: Path) -> Entry:
        data = path.read_bytes()
        self.fuzz.blobs.setdefault(oid_of(data), data)
        return oid_of(data), bool(path.stat().st_mode & stat.S_IXUSR)

    def write(self, rel: str, data: bytes, executable: bool) -> None:
        path = self.path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.chmod(0o644)
        path.write_bytes(data)
        path.chmod(0o755 if executable else 0o644)
        self.fuzz.blobs[oid_of(data)] = data


class Fuzz:
    def __init__(self, root: Path, seed: int, steps: int) -> None:
        self.root = root
        self.seed = seed
        self.steps = steps
        self.rng = random.Random(seed)
        self.lines: list[str] = []
        self.oracle: dict[str, Content] = {}
        self.derived: set[str] = set()  # commits whose content was read, not predicted
        self.blobs: dict[str, bytes] = {}
        self.counter = 0
        self.store = root / "store"
        self.origin = root / "origin.git"
        self.verifiers = 0
        self.stats: dict[str, int] = {}

    # ---- bookkeeping -------------------------------------------------------------

    def log(self, line: str) -> None:
        self.lines.append(line)

    def note(self, what: str) -> None:
        self.stats[what] = self.stats.get(what, 0) + 1

    def tag(self, who: Clone, what: str) -> str:
        self.counter += 1
        return f"{who.name} c{self.counter}: {what}"

    def committed(self, clone: Clone, commit: str) -> Content:
        """What ``commit``'s manifests record, read with git alone and parsed here."""
        query = "".join(f"{commit}:{m}\n" for m in MANIFESTS)
        out = subprocess.run(
            ["git", "cat-file", "--batch"],
            cwd=clone.path,
            input=query.encode(),
            capture_output=True,
            check=True,
        ).stdout
        content: Content = {}
        pos = 0
        for manifest in MANIFESTS:
            end = out.index(b"\n", pos)
            header = out[pos:end].decode().split()
            pos = end + 1
            if header[-1] == "missing":
                raise Finding(f"{commit[:10]} has no {manifest}")
            size = int(header[2])
            text = out[pos : pos + size].decode()
            pos += size + 1
            tracked = manifest[: -len(".gitstore")]
            kind = re.search(r"^kind: (\w+)$", text, re.M)
            total = re.search(r"^size: (\d+)$", text, re.M)
            files = re.search(r"^files: (\d+)$", text, re.M)
            if not (kind and total and files):
                raise Finding(f"{commit[:10]}:{manifest} is not a manifest:\n{text}")
            entries = [m for m in map(ENTRY.match, text.splitlines()) if m]
            lines = [line for line in text.splitlines() if line.startswith("- ")]
            if len(entries) != len(lines):
                raise Finding(f"{commit[:10]}:{manifest} has lines that are not entries:\n{text}")
            if int(files[1]) != len(entries) or int(total[1]) != sum(
                int(m["size"]) for m in entries
            ):
                raise Finding(f"{commit[:10]}:{manifest} states wrong totals:\n{text}")
            for m in entries:
                key = tracked if kind[1] == "file" else f"{tracked}/{m['path']}"
                content[key] = (m["oid"], bool(m["exec"]))
                if m["oid"] not in self.blobs:
                    raise Finding(f"{commit[:10]}:{manifest} names {m['oid']}, bytes nobody wrote")
                if len(self.blobs[m["oid"]]) != int(m["size"]):
                    raise Finding(f"{commit[:10]}:{manifest} gives {m['path']} a wrong size")
        return content

    def learn(
        self,
        clone: Clone,
        direct: dict[str, Content] | None = None,
        picks: Mapping[str, tuple[str, str] | None] | None = None,
        prefer: str | None = None,
        expect_conflict: bool = False,
    ) -> None:
        """Record every commit reachable from HEAD that the oracle does not know.

        direct: message -> the content the commit of that message must record;
        picks: message -> (base commit, their commit) for a commit made by applying
        a change (rebase, cherry-pick, revert; None when ambiguous); merges are
        predicted from their merge base. ``prefer`` is the side conflicts took.
        """
        out = clone.quiet_git("rev-list", "--topo-order", "--reverse", "--parents", "HEAD")
        new = [line.split() for line in out.splitlines() if line.split()[0] not in self.oracle]
        for commit, *parents in new:
            message = clone.quiet_git("log", "-1", "--format=%B", commit).strip()
            actual = self.committed(clone, commit)
            predicted: Content | None = None
            conflicts: set[str] = set()
            subject = message.splitlines()[0] if message else ""
            if direct and subject in direct:
                predicted = direct[subject]
            elif len(parents) == 2:
                bases = clone.quiet_git("merge-base", "--all", *parents).split()
                if len(bases) == 1 and bases[0] in self.oracle:
                    base = self.oracle[bases[0]]
                    predicted, conflicts = merge3(
                        base, self.oracle[parents[0]], self.oracle[parents[1]], prefer
                    )
                else:
                    self.note("criss-cross merge (content read)")
            elif picks is not None and message in picks:
                pick = picks[message]
                if pick is not None:
                    base_c, theirs_c = pick
                    predicted, conflicts = merge3(
                        self.oracle[base_c], self.oracle[parents[0]], self.oracle[theirs_c], prefer
                    )
            if predicted is None:
                self.derived.add(commit)
                self.oracle[commit] = actual
                self.log(f"   learned {commit[:10]} (read) {describe(actual)}")
                continue
            if conflicts and prefer is None and not expect_conflict:
                raise Finding(
                    f"{commit[:10]} ({subject}) was made without a conflict, but the model sees"
                    f" one in {sorted(conflicts)}"
                )
            if actual != predicted:
                raise Finding(
                    f"{commit[:10]} ({subject}) records other data than the model predicts:\n"
                    + difference(predicted, actual)
                )
            self.oracle[commit] = actual
            self.log(f"   learned {commit[:10]} {describe(actual)}")

    # ---- invariants --------------------------------------------------------------

    def check_disk(self, clone: Clone, commit: str, when: str) -> None:
        want = self.oracle[commit]
        got = clone.disk()
        if got != want:
            raise Finding(
                f"{clone.name}: after {when}, the tracked files are not {commit[:10]}'s:\n"
                + difference(want, got)
            )

    def settled(self, clone: Clone, when: str) -> None:
        """The state every step must leave a clone in."""
        busy = clone.in_progress()
        if busy:
            raise Finding(f"{clone.name}: {busy} left after {when}")
        head = clone.head()
        if head not in self.oracle:
            raise Finding(f"{clone.name}: HEAD {head[:10]} unknown to the oracle after {when}")
        status = clone.quiet_git("status", "--porcelain")
        if status:
            raise Finding(f"{clone.name}: git status not clean after {when}:\n{status}")
        self.check_disk(clone, head, when)
        self.check_objects_kept(clone, when)

    def check_status(self, clone: Clone, when: str) -> None:
        """gitstore status agrees that a settled clone is unchanged."""
        found = json.loads(clone.gs("status", "--json").stdout)
        states = {s["path"]: s["state"] for s in found}
        empty = not any(p.startswith("data/") for p in self.oracle[clone.head()])
        ok = {"data": ("unchanged", "not_materialised") if empty else ("unchanged",)}
        for path, state in states.items():
            if state not in ok.get(path, ("unchanged",)):
                raise Finding(f"{clone.name}: after {when}, gitstore status says {path} {state}")

    def check_objects_kept(self, clone: Clone, when: str) -> None:
        have = objects_in(clone.cache) | objects_in(self.store)
        for commit in clone.reachable():
            for path, (oid, _x) in self.oracle.get(commit, {}).items():
                if oid not in have:
                    raise Finding(
                        f"{clone.name}: after {when}, {commit[:10]} needs {oid[:10]} ({path}),"
                        " in neither its cache nor the remote"
                    )

    def check_origin_on_remote(self, when: str) -> None:
        have = objects_in(self.store)
        out = subprocess.run(
            ["git", "rev-list", "--all"],
            cwd=self.origin,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for commit in out.split():
            if commit not in self.oracle:
                raise Finding(f"origin has {commit[:10]}, which no clone made")
            for path, (oid, _x) in self.oracle[commit].items():
                if oid not in have:
                    raise Finding(
                        f"after {when}: pushed commit {commit[:10]} names {oid[:10]} ({path}),"
                        " which the remote lacks"
                    )

    def check_fresh_clone(self) -> None:
        """A new teammate, empty cache: every branch tip on origin gives its bytes."""
        self.verifiers += 1
        name = f"verifier{self.verifiers}"
        path = self.root / name
        subprocess.run(
            ["git", "clone", "-q", "--no-checkout", str(self.origin), str(path)],
            check=True,
            capture_output=True,
        )
        fresh = Clone(self, name, path, self.root / f"{name}-cache")
        fresh.gs("install")
        tips = fresh.remote_branches()
        for tip in tips:
            fresh.git("checkout", "-q", "-B", tip.split("/", 1)[1], tip)
            self.check_disk(fresh, fresh.head(), f"a fresh clone's checkout of {tip}")
        fresh.gs("pull")
        self.check_disk(fresh, fresh.head(), "a fresh clone's gitstore pull")
        shutil.rmtree(path)
        shutil.rmtree(self.root / f"{name}-cache", ignore_errors=True)

    def check_verify(self, clone: Clone) -> None:
        clone.gs("verify")
        problems = store_problems(clone.cache)
        if problems:
            raise Finding(f"{clone.name}'s cache: {problems}")

    def check_remote(self, clone: Clone) -> None:
        clone.gs("verify", "--remote", "team")
        problems = store_problems(self.store)
        if problems:
            raise Finding(f"the remote: {problems}")

    # ---- set-up ------------------------------------------------------------------

    def setup(self) -> list[Clone]:
        subprocess.run(["git", "init", "-q", "--bare", str(self.origin)], check=True)
        alice = Clone(self, "alice", self.root / "alice", self.root / "alice-cache")
        bob = Clone(self, "bob", self.root / "bob", self.root / "bob-cache")
        subprocess.run(
            ["git", "clone", "-q", str(self.origin), str(alice.path)],
            check=True,
            capture_output=True,
        )
        alice.gs("init")
        alice.gs("remote", "add", "team", str(self.store), "--default")
        for name in NAMES[:3]:
            alice.write(f"data/{name}", self.payload(), False)
        alice.write("model.bin", self.payload(), False)
        alice.gs("track", "data", "model.bin")
        message = self.tag(alice, "set up")
        alice.git("commit", "-qm", message)
        self.learn(alice, direct={message: alice.disk()})
        alice.git("push", "-q", "-u", "origin", "main")
        subprocess.run(
            ["git", "clone", "-q", str(self.origin), str(bob.path)], check=True, capture_output=True
        )
        bob.gs("install")
        bob.gs("pull")
        clones = [alice, bob]
        if self.rng.random() < 0.5:  # a linked worktree of alice's, on her cache
            wt = Clone(self, "alice-wt", self.root / "alice-wt", self.root / "alice-cache")
            alice.git("worktree", "add", "-q", "-b", "wt", str(wt.path))
            clones.append(wt)
            self.note("with a linked worktree")
        for clone in clones:
            self.settled(clone, "set-up")
        return clones

    # ---- random data -------------------------------------------------------------

    def payload(self) -> bytes:
        r = self.rng.random()
        if r < 0.25:
            return self.rng.choice(SHARED)
        size = self.rng.choice((1, 7, 64, 700, 3000))
        return self.rng.randbytes(size)

    def mutate(self, clone: Clone) -> str:
        """Random edits of the tracked files; returns what they were."""
        did = []
        for _ in range(self.rng.randint(1, 3)):
            present = sorted(p for p in clone.disk() if p.startswith("data/"))
            r = self.rng.random()
            if r < 0.35 and present:
                rel = self.rng.choice(present)
                clone.write(rel, self.payload(), self.rng.random() < 0.1)
                did.append(f"edit {rel}")
            elif r < 0.6 and len(present) > 1:
                rel = self.rng.choice(present)
                (clone.path / rel).unlink()
                did.append(f"delete {rel}")
            elif r < 0.7 and present:
                rel = self.rng.choice(present)
                path = clone.path / rel
                path.chmod(path.stat().st_mode ^ 0o111)
                did.append(f"chmod {rel}")
            elif r < 0.85:
                rel = "model.bin"
                clone.write(rel, self.payload(), False)
                did.append("edit model.bin")
            else:
                rel = "data/" + self.rng.choice(NAMES)
                clone.write(rel, self.payload(), False)
                did.append(f"write {rel}")
        if not any(p.startswith("data/") for p in clone.disk()):
            clone.write("data/" + self.rng.choice(NAMES), self.payload(), False)
            did.append("refill data")
        return ", ".join(did)

    def note_file(self, clone: Clone) -> None:
        """A code change that never conflicts: a new file of its own."""
        rel = f"notes/{clone.name}-{self.counter}-{self.rng.randrange(1 << 30):x}.txt"
        path = clone.path / rel
        path.parent.mkdir(exist_ok=True)
        path.write_text(self.rng.randbytes(24).hex() + "\n")
        clone.git("add", rel)

    def some_commit(self, clone: Clone, *rev_list: str) -> str | None:
        """A random commit the oracle knows among ``git rev-list ARGS``."""
        known = [c for c in clone.quiet_git("rev-list", *rev_list).split() if c in self.oracle]
        return self.rng.choice(known) if known else None

    def other_branch(self, clone: Clone) -> str | None:
        here = clone.branch()
        busy = clone.busy_branches()
        names = [b for b in clone.branches() if b != here and b not in busy]
        names += [
            b
            for b in clone.remote_branches()
            if b != f"origin/{here}" and b.split("/", 1)[1] not in busy
        ]
        return self.rng.choice(sorted(names)) if names else None

    # ---- actions -----------------------------------------------------------------

    def act_commit(self, clone: Clone) -> None:
        what = self.mutate(clone)
        message = self.tag(clone, what)
        code = self.rng.random() < 0.4 or clone.disk() == self.oracle[clone.head()]
        if code:
            self.note_file(clone)
        how = self.rng.random()
        if how < 0.5:
            changed = [p for p in ("data", "model.bin") if self.rng.random() < 0.8] or ["data"]
            clone.gs("track", *changed)
            self.commit_edits(clone, message, two_step=not code)
        else:
            self.commit_edits(clone, message, two_step=not code)
        self.learn(clone, direct={message: clone.disk()})

    def commit_edits(self, clone: Clone, message: str, two_step: bool, *extra: str) -> bool:
        """git commit -a of the user's own edits, made on a settled clone (False: an
        amend whose edits undid the commit's own change, which git refuses as empty)."""
        for _ in range(3):
            done = clone.git("commit", "-qa", *extra, "-m", message, ok=None)
            if done.returncode == 0:
                return True
            if "--amend" in extra and "would make\nit empty" in done.stderr:
                clone.git("reset", "-q", "--hard")
                self.bring(clone)
                return False
            if two_step and "again to commit it" in done.stderr:
                self.note("two-step commit")
                two_step = False
            else:
                raise Finding(f"git commit -a refused:\n{done.stdout}\n{done.stderr}")
        raise Finding("git commit -a never committed")

    def act_amend(self, clone: Clone) -> None:
        if len(clone.quiet_git("rev-list", "--parents", "-1", "HEAD").split()) != 2:
            return  # a merge, or the root
        what = self.mutate(clone)
        message = self.tag(clone, "amended: " + what)
        if self.commit_edits(clone, message, False, "--amend"):
            self.learn(clone, direct={message: clone.disk()})

    def act_branch(self, clone: Clone) -> None:
        name = f"t{self.rng.randrange(4)}"
        if name in clone.busy_branches():
            return
        if name in clone.branches():
            clone.git("switch", "-q", name)
        else:
            start = (
                self.some_commit(clone, "--all", "-n", "30") if self.rng.random() < 0.3 else None
            )
            clone.git("switch", "-qc", name, *([start] if start else []))

    def act_switch(self, clone: Clone) -> None:
        target = self.other_branch(clone)
        if target is None:
            return
        if target.startswith("origin/"):
            local = target.split("/", 1)[1]
            if local in clone.branches():
                clone.git("switch", "-q", local)
            else:
                clone.git("switch", "-q", local)  # git's DWIM: a tracking branch
        else:
            clone.git("checkout" if self.rng.random() < 0.5 else "switch", "-q", target)

    def resolve(self, clone: Clone, prefer: str) -> bool:
        """Settle conflicted manifests; False when something else conflicts."""
        conflicted = clone.unmerged()
        if not conflicted or any(p not in MANIFESTS for p in conflicted):
            return False
        for manifest in conflicted:
            path = manifest[: -len(".gitstore")]
            clone.gs("resolve", path if self.rng.random() < 0.7 else manifest, f"--{prefer}")
        return True

    def commit_after_conflict(self, clone: Clone, command: list[str]) -> bool:
        """git commit / cherry-pick --continue after resolve (False: nothing left to commit);
        a refusal must say what to do."""
        done = clone.git(*command, ok=None)
        if done.returncode != 0:
            if "now empty" in done.stderr or "nothing to commit" in done.stdout:
                self.note("empty after resolve")
                clone.git(
                    command[0], "--abort" if command[0] == "cherry-pick" else "--quit", ok=None
                )
                return False
            if clone.unmerged():
                raise Finding(f"`git {' '.join(command)}` left unmerged paths:\n{done.stderr}")
            if "gitstore checkout" not in done.stderr:
                raise Finding(f"`git {' '.join(command)}` failed:\n{done.stdout}\n{done.stderr}")
            self.note(f"{command[0]} refused after resolve, checkout asked for")
            self.bring(clone)
            clone.git(*command)
        return True

    def act_merge(self, clone: Clone, target: str | None = None, pull: str | None = None) -> None:
        target = target or self.other_branch(clone)
        if target is None:
            return
        head, theirs = clone.head(), clone.rev(target)
        base = clone.quiet_git("merge-base", "--all", head, theirs).split()
        expected: set[str] = set()
        if len(base) == 1:
            _m, expected = merge3(
                self.oracle[base[0]], self.oracle[head], self.oracle[theirs], None
            )
        if pull:
            done = clone.git("pull", "-q", "--no-rebase", "--no-edit", "origin", pull, ok=None)
        else:
            done = clone.git("merge", "-q", "--no-edit", target, ok=None)
        if done.returncode == 0:
            if expected:
                raise Finding(f"the merge of {target} gave no conflict, the model sees {expected}")
            self.learn(clone)
            return
        conflicted = {m[: -len(".gitstore")] for m in clone.unmerged()}
        if not conflicted:
            raise Finding(
                f"merge of {target} failed without a conflict:\n{done.stdout}\n{done.stderr}"
            )
        if len(base) == 1 and conflicted != expected:
            raise Finding(
                f"the merge of {target} conflicts in {conflicted}, the model in {expected}"
            )
        self.note("merge conflict")
        if self.rng.random() < 0.3:
            clone.git("merge", "--abort")
            return
        prefer = self.rng.choice(("ours", "theirs"))
        if not self.resolve(clone, prefer):
            clone.git("merge", "--abort")
            return
        if self.rng.random() < 0.15:  # no hook runs: resolve's files stay
            clone.git("merge", "--abort")
            self.after_hookless(clone, "merge --abort after resolve", always=True)
            return
        if not self.commit_after_conflict(clone, ["commit", "-q", "--no-edit"]):
            raise Finding("a merge with resolved conflicts had nothing to commit")
        self.learn(clone, prefer=prefer, expect_conflict=True)
        if clone.disk() != self.oracle[clone.head()]:
            # no hook runs at the commit that concludes a merge: say so, and settle
            self.note("conflicted merge commit left files to check out")
            self.bring(clone)

    def pick_map(self, clone: Clone, upstream: str) -> dict[str, tuple[str, str] | None]:
        out = clone.quiet_git("rev-list", "--no-merges", "--parents", f"{upstream}..HEAD")
        picks: dict[str, tuple[str, str] | None] = {}
        for line in out.splitlines():
            commit, parent = line.split()
            message = clone.quiet_git("log", "-1", "--format=%B", commit).strip()
            picks[message] = None if message in picks else (parent, commit)
        return picks

    def act_rebase(self, clone: Clone, pull: str | None = None) -> None:
        target = f"origin/{pull}" if pull else self.other_branch(clone)
        if target is None:
            return
        if pull:
            clone.git("fetch", "-q", "origin")
        picks = self.pick_map(clone, target)
        if pull:
            done = clone.git("pull", "-q", "--rebase", "origin", pull, ok=None)
        else:
            done = clone.git("rebase", "-q", target, ok=None)
        prefer: str | None = None
        if done.returncode != 0:
            if not clone.in_progress():
                raise Finding(f"rebase onto {target} failed:\n{done.stdout}\n{done.stderr}")
            self.note("rebase conflict")
            if self.rng.random() < 0.4:
                clone.git("rebase", "--abort")
                return
            prefer = self.rng.choice(("ours", "theirs"))
            for _ in range(50):
                if not clone.in_progress():
                    break
                if clone.unmerged():
                    if not self.resolve(clone, prefer):
                        clone.git("rebase", "--abort")
                        return
                    if self.rng.random() < 0.1:
                        clone.git("rebase", "--abort")
                        self.after_hookless(clone, "rebase --abort after resolve", always=True)
                        return
                cont = clone.git("rebase", "--continue", ok=None)
                if cont.returncode != 0 and not clone.unmerged() and clone.in_progress():
                    if "gitstore checkout" in cont.stderr:
                        self.note("rebase --continue refused, checkout asked for")
                        self.bring(clone)
                    elif "nothing to commit" in cont.stdout + cont.stderr:
                        clone.git("rebase", "--skip", ok=None)
                    else:
                        raise Finding(f"rebase --continue failed:\n{cont.stdout}\n{cont.stderr}")
        self.learn(clone, picks=picks, prefer=prefer, expect_conflict=prefer is not None)

    def act_cherry_pick(self, clone: Clone) -> None:
        commit = self.some_commit(clone, "--all", "--no-merges", "--not", "HEAD")
        if (
            commit is None
            or len(clone.quiet_git("rev-list", "--parents", "-1", commit).split()) != 2
        ):
            return
        parent = clone.rev(commit + "^")
        if parent not in self.oracle:
            return
        done = clone.git("cherry-pick", "-x", commit, ok=None)
        message = clone.quiet_git("log", "-1", "--format=%B", "HEAD").strip()
        picks = {message: (parent, commit)}
        prefer: str | None = None
        if done.returncode != 0:
            if not clone.unmerged():  # empty: the change is there already
                clone.git("cherry-pick", "--abort", ok=None)
                return
            self.note("cherry-pick conflict")
            prefer = self.rng.choice(("ours", "theirs"))
            if self.rng.random() < 0.4 or not self.resolve(clone, prefer):
                clone.git("cherry-pick", "--abort")
                return
            if self.rng.random() < 0.15:
                clone.git("cherry-pick", "--abort")
                self.after_hookless(clone, "cherry-pick --abort after resolve", always=True)
                return
            if not self.commit_after_conflict(clone, ["cherry-pick", "--continue"]):
                self.bring(clone)
                return
            message = clone.quiet_git("log", "-1", "--format=%B", "HEAD").strip()
            picks = {message: (parent, commit)}
        self.learn(clone, picks=picks, prefer=prefer, expect_conflict=prefer is not None)
        self.after_hookless(clone, "cherry-pick")

    def act_revert(self, clone: Clone) -> None:
        """git revert -n C (a merge too, with -m 1: "revert the bad merge"), then commit."""
        merges = self.rng.random() < 0.3
        commit = self.some_commit(
            clone, "--merges" if merges else "--no-merges", "HEAD", "-n", "12"
        )
        if commit is None or len(
            clone.quiet_git("rev-list", "--parents", "-1", commit).split()
        ) != (3 if merges else 2):
            return
        parent = clone.rev(commit + "^")
        if parent not in self.oracle:
            return
        message = self.tag(clone, f"revert {commit[:10]}")
        if merges:
            self.note("revert of a merge")
        done = clone.git("revert", "--no-commit", *(["-m", "1"] if merges else []), commit, ok=None)
        if done.returncode != 0:
            self.note("revert conflict")
            clone.git("revert", "--abort", ok=None)
            self.bring(clone)
            return
        if not clone.quiet_git("diff", "--cached", "--name-only"):
            clone.git("revert", "--abort", ok=None)
            return
        self.commit_git_wrote(clone, "revert -n", "-qm", message)  # revert -n runs no hook
        self.learn(clone, picks={message: (commit, parent)})
        self.after_hookless(clone, "revert")

    def bring(self, clone: Clone) -> None:
        """`gitstore checkout`, as docs/hooks.md says after what runs no hook; it never
        fetches, so data this clone never had takes `gitstore pull` (the hint says so)."""
        done = clone.gs("checkout", ok=None)
        if done.returncode != 0:
            if "not in the cache" not in done.stderr or "gitstore pull" not in done.stderr:
                raise Finding(f"gitstore checkout failed:\n{done.stdout}\n{done.stderr}")
            self.note("checkout needed a pull")
            clone.gs("pull")

    def commit_git_wrote(
        self, clone: Clone, what: str, *args: str, want: Content | None = None
    ) -> None:
        """`git commit ARGS` of what git wrote without its files (docs/hooks.md): half the
        time after `gitstore checkout`, the documented order; else first, when pre-commit
        must keep the manifest or refuse naming `gitstore checkout`, then check out and
        commit again. ``want``: the files the commit must record (the message is the last
        of ``args``); the clone is then checked out."""
        if self.rng.random() < 0.5:
            self.bring(clone)
            clone.git("commit", *args)
        else:
            first = clone.git("commit", *args, ok=None)
            if first.returncode != 0:
                if "gitstore checkout" not in first.stderr:
                    raise Finding(f"commit after {what} refused:\n{first.stderr}")
                self.note(f"commit after {what} refused before checkout")
                self.bring(clone)
                clone.git("commit", *args)
        if want is not None:
            self.learn(clone, direct={args[-1]: want})
            self.bring(clone)

    def after_hookless(self, clone: Clone, what: str, always: bool = False) -> None:
        """Where no hook runs, docs/hooks.md says to run gitstore checkout; sometimes a
        code commit comes first, which must keep the manifest (never record stale files)."""
        if self.rng.random() < (0.5 if always else 0.3):
            self.note(f"code commit after {what}, before checkout")
            self.note_file(clone)
            message = self.tag(clone, f"code after {what}")
            want = self.oracle[clone.head()]
            first = clone.git("commit", "-qm", message, ok=None)
            if first.returncode == 0:
                self.learn(clone, direct={message: want})
            elif "gitstore checkout" not in first.stderr:
                raise Finding(f"commit after {what} refused:\n{first.stderr}")
            else:
                self.bring(clone)
                clone.git("commit", "-qm", message)
                self.learn(clone, direct={message: want})
        self.bring(clone)

    def act_stash(self, clone: Clone) -> None:
        self.mutate(clone)
        clone.gs("track", "data", "model.bin")
        self.note_file(clone)
        stashed = clone.disk()
        clone.git("stash", "-q")
        self.bring(clone)  # no hook runs at a stash
        self.settled(clone, "git stash + gitstore checkout")
        clone.git("stash", "pop", "-q", *(["--index"] if self.rng.random() < 0.5 else []))
        message = self.tag(clone, "stashed work")
        self.commit_git_wrote(clone, "stash pop", "-qam", message, want=stashed)

    def act_rollback(self, clone: Clone) -> None:
        """`git checkout REV -- X.gitstore` (rolling data back, the DVC habit), then commit."""
        rev = self.some_commit(clone, "--all", "-n", "25")
        if rev is None:
            return
        which = self.rng.choice((["data.gitstore"], ["model.bin.gitstore"], list(MANIFESTS)))
        clone.git("checkout", rev, "--", *which)
        if not clone.quiet_git("diff", "--cached", "--name-only"):
            return
        rolled = {m[: -len(".gitstore")] for m in which}
        want = {p: e for p, e in self.oracle[clone.head()].items() if tracked_of(p) not in rolled}
        want |= {p: e for p, e in self.oracle[rev].items() if tracked_of(p) in rolled}
        message = self.tag(clone, f"roll {' '.join(which)} back to {rev[:10]}")
        self.commit_git_wrote(clone, "a rollback", "-qm", message, want=want)

    def act_squash(self, clone: Clone) -> None:
        """`git merge --squash B` (post-merge brings HEAD to the index), then commit."""
        target = self.other_branch(clone)
        if target is None:
            return
        head, theirs = clone.head(), clone.rev(target)
        base = clone.quiet_git("merge-base", "--all", head, theirs).split()
        if len(base) != 1:
            return
        done = clone.git("merge", "--squash", target, ok=None)
        prefer = None
        if done.returncode != 0:
            if not clone.unmerged():
                raise Finding(f"merge --squash failed:\n{done.stdout}\n{done.stderr}")
            prefer = self.rng.choice(("ours", "theirs"))
            if not self.resolve(clone, prefer):
                clone.git("reset", "-q", "--hard")
                self.bring(clone)
                return
        want, _c = merge3(self.oracle[base[0]], self.oracle[head], self.oracle[theirs], prefer)
        if not clone.quiet_git("diff", "--cached", "--name-only"):
            return
        message = self.tag(clone, f"squash {target}")
        if prefer is None and clone.disk() != want:
            raise Finding(
                f"{clone.name}: after git merge --squash {target}, the files are not the"
                " index's:\n" + difference(want, clone.disk())
            )
        self.commit_after_conflict(clone, ["commit", "-qm", message])
        self.learn(clone, direct={message: want})
        if clone.disk() != self.oracle[clone.head()]:
            self.note("squash with conflicts left files to check out")
            self.bring(clone)

    def act_reset(self, clone: Clone) -> None:
        target = self.some_commit(clone, "--all", "-n", "20")
        if target is None:
            return
        done = clone.git("reset", "-q", "--hard", target)
        # post-index-change brings the data, unless objects were out of reach (it says so)
        if "unmaterialised" not in done.stderr:
            self.check_disk(clone, clone.head(), f"git reset --hard {target[:10]}")
        else:
            self.note("reset left data unmaterialised")
        self.bring(clone)

    def act_peek(self, clone: Clone) -> None:
        commit = self.some_commit(clone, "--all", "--reflog")
        if commit is None:
            return
        if self.rng.random() < 0.5:
            clone.gs("pull", commit)
        else:
            clone.gs("fetch", commit)
            clone.gs("checkout", commit)
        self.check_disk(clone, commit, f"gitstore checkout {commit[:10]}")
        if self.rng.random() < 0.25 and commit != clone.head():
            # "commit to keep REV's data" (the note checkout REV prints)
            self.note_file(clone)
            message = self.tag(clone, f"keep {commit[:10]}'s data")
            clone.git("commit", "-qam", message)
            self.learn(clone, direct={message: self.oracle[commit]})
            return
        clone.gs("checkout", "HEAD")

    def act_dirty_switch(self, clone: Clone) -> None:
        """Switch with edits never tracked: the hook may not clobber them (their bytes are
        in no cache); then keep them (track + commit) or drop them (checkout --force)."""
        target = self.other_branch(clone)
        if target is None:
            return
        before = clone.disk()
        edits: dict[str, bytes] = {}
        for _ in range(self.rng.randint(1, 3)):
            rel = "data/" + self.rng.choice(NAMES) if self.rng.random() < 0.8 else "model.bin"
            data = b"unsaved " + self.rng.randbytes(16) + b" " + rel.encode()
            clone.write(rel, data, (clone.path / rel).exists() and before.get(rel, ("", False))[1])
            edits[rel] = data
        local = target.split("/", 1)[1] if target.startswith("origin/") else target
        clone.git("switch", "-q", local)
        for rel, data in edits.items():
            path = clone.path / rel
            if not path.is_file() or path.read_bytes() != data:
                raise Finding(
                    f"{clone.name}: git switch {local} clobbered the unsaved edit of {rel}"
                )
        want = {r: e for r, e in self.oracle[clone.head()].items() if r not in edits}
        got = {r: e for r, e in clone.disk().items() if r not in edits}
        if got != want:
            raise Finding(
                f"{clone.name}: after a switch with unsaved edits, the other files are not"
                " HEAD's:\n" + difference(want, got)
            )
        if self.rng.random() < 0.5:
            clone.gs("checkout", "--force")
            return
        clone.gs("track", "data", "model.bin")
        message = self.tag(clone, "keep the unsaved edits")
        clone.git("commit", "-qm", message)
        self.learn(clone, direct={message: clone.disk()})

    def act_autostash_pull(self, clone: Clone) -> None:
        """`git pull --rebase --autostash` over tracked, uncommitted data: the staged
        manifests are stashed, the rebase moves HEAD, the stash comes back (no hook)."""
        branch = clone.branch()
        clone.git("fetch", "-q", "origin")
        if f"origin/{branch}" not in clone.remote_branches():
            return
        old = clone.head()
        self.mutate(clone)
        clone.gs("track", "data", "model.bin")
        stashed = clone.disk()
        picks = self.pick_map(clone, f"origin/{branch}")
        done = clone.git("pull", "-q", "--rebase", "--autostash", "origin", branch, ok=None)
        if done.returncode != 0 or clone.unmerged():
            self.note("autostash pull conflict")
            if "rebase-merge" in clone.in_progress() or "rebase-apply" in clone.in_progress():
                clone.git("rebase", "--abort", ok=None)
            clone.git("reset", "-q", "--hard")
            self.learn(clone, picks=picks)
            self.bring(clone)
            return
        self.learn(clone, picks=picks)
        new = clone.head()
        want, conflicts = merge3(self.oracle[old], self.oracle[new], stashed, None)
        if conflicts:
            raise Finding(
                f"the autostash came back cleanly; the model sees conflicts in {conflicts}"
            )
        if not clone.quiet_git("status", "--porcelain", "--untracked-files=no"):
            return  # the stash held nothing git sees (the data was as at HEAD)
        message = self.tag(clone, "after an autostash pull")
        self.note_file(clone)
        self.commit_git_wrote(clone, "an autostash pull", "-qam", message, want=want)

    def act_peek_part(self, clone: Clone) -> None:
        """`gitstore checkout REV SUB`: SUB as at REV, the rest as at HEAD; then back."""
        commit = self.some_commit(clone, "--all", "-n", "30")
        if commit is None:
            return
        sub = self.rng.choice(("data/s1", "data/s2", "data/a.bin", "model.bin"))
        clone.gs("fetch", commit)
        clone.gs("checkout", commit, sub, ok=None if sub != "model.bin" else True)

        def under(path: str) -> bool:
            return path == sub or path.startswith(sub + "/")

        head = self.oracle[clone.head()]
        want = {p: e for p, e in head.items() if not under(p)}
        want |= {p: e for p, e in self.oracle[commit].items() if under(p)}
        got = clone.disk()
        if got != want:
            raise Finding(
                f"{clone.name}: after gitstore checkout {commit[:10]} {sub}, the files are not"
                f" {sub} as at {commit[:10]} and the rest as at HEAD:\n" + difference(want, got)
            )
        clone.gs("checkout", "HEAD")

    def act_gc_remote(self, clone: Clone) -> None:
        """Collect the remote: it may delete only what no commit anywhere needs."""
        clone.git("fetch", "-q", "--all", "--tags")
        dry = clone.gs("gc", "--remote", "team", "--grace", "0", "--dry-run", ok=None)
        if dry.returncode != 0:
            self.note("gc --remote refused")
            return
        clone.gs("gc", "--remote", "team", "--grace", "0", "--yes", ok=None)
        self.check_origin_on_remote(f"{clone.name}'s gc --remote")

    def act_push(self, clone: Clone) -> None:
        branch = clone.branch()
        done = clone.git("push", "-q", "-u", "origin", branch, ok=None)
        if done.returncode == 0:
            self.check_origin_on_remote(f"{clone.name} pushed {branch}")
        elif "rejected" not in done.stderr:
            raise Finding(f"git push failed:\n{done.stderr}")

    def act_pull(self, clone: Clone) -> None:
        branch = clone.branch()
        clone.git("fetch", "-q", "origin")
        if f"origin/{branch}" not in clone.remote_branches():
            return
        if self.rng.random() < 0.35:
            self.act_rebase(clone, pull=branch)
        else:
            self.act_merge(clone, target=f"origin/{branch}", pull=branch)

    def act_gc(self, clone: Clone) -> None:
        needed = {o for c in clone.reachable() for o, _x in self.oracle.get(c, {}).values()}
        before = objects_in(clone.cache) & needed
        clone.gs("gc", "--grace", "0")
        lost = before - objects_in(clone.cache)
        if lost:
            raise Finding(f"gc deleted objects reachable commits need: {sorted(lost)[:3]}")

    def act_gs_transfer(self, clone: Clone) -> None:
        r = self.rng.random()
        if r < 0.35:
            clone.gs("push", *(["--all"] if self.rng.random() < 0.5 else []))
            have = objects_in(self.store)
            for path, (oid, _x) in self.oracle[clone.head()].items():
                if oid not in have:
                    raise Finding(f"gitstore push left {path} ({oid[:10]}) off the remote")
        elif r < 0.7:
            clone.gs("pull")
        else:
            clone.gs("fetch")

    ACTIONS = (
        ("commit", 8),
        ("amend", 1),
        ("branch", 2),
        ("switch", 3),
        ("merge", 3),
        ("rebase", 2),
        ("cherry_pick", 2),
        ("revert", 1),
        ("stash", 1),
        ("reset", 1),
        ("rollback", 1),
        ("squash", 1),
        ("peek", 2),
        ("push", 5),
        ("pull", 4),
        ("gc", 1),
        ("gc_remote", 1),
        ("dirty_switch", 2),
        ("autostash_pull", 1),
        ("peek_part", 1),
        ("gs_transfer", 2),
    )

    def run(self) -> None:
        clones = self.setup()
        names = [n for n, _w in self.ACTIONS]
        weights = [w for _n, w in self.ACTIONS]
        for step in range(self.steps):
            clone = self.rng.choice(clones)
            action = self.rng.choices(names, weights)[0]
            self.log(f"-- step {step}: {clone.name} {action} (on {clone.branch()})")
            self.note(action)
            getattr(self, f"act_{action}")(clone)
            self.settled(clone, action)
            if step % 60 == 59:
                self.check_origin_on_remote(f"step {step}")
                self.check_fresh_clone()
            if self.rng.random() < 0.15:
                self.check_status(clone, action)
        for clone in clones:  # push everything, then the whole team's view
            for branch in clone.branches():
                clone.git("push", "-q", "origin", branch, ok=None)
            self.check_verify(clone)
        self.check_origin_on_remote("the last pushes")
        self.check_remote(clones[0])
        self.check_fresh_clone()
        for clone in clones:
            for commit in set(clone.reachable()) & set(self.oracle):
                if self.rng.random() < 0.15:
                    self.act_peek_at(clone, commit)
            self.settled(clone, "the last checks")

    def act_peek_at(self, clone: Clone, commit: str) -> None:
        clone.gs("pull", commit)
        self.check_disk(clone, commit, f"gitstore pull {commit[:10]}")
        clone.gs("checkout", "HEAD")


def fuzz(root: Path, seed: int, steps: int) -> Fuzz:
    run = Fuzz(root, seed, steps)
    started = time.monotonic()
    try:
        run.run()
    except AssertionError as exc:
        log = "\n".join(run.lines[-150:])
        raise AssertionError(
            f"workflow fuzz, seed {seed}, {steps} steps: {exc}\n"
            f"replay: GITSTORE_FUZZ_SEED={seed} GITSTORE_FUZZ_STEPS={steps} python -m pytest -q"
            f" tests/reliability/test_workflow_fuzz.py -k default\n--- action log (last 150) ---\n{log}"
        ) from None
    run.log(f"done in {time.monotonic() - started:.1f}s")
    return run


def seeds(default: Iterable[int]) -> list[int]:
    return [int(REPLAY_SEED)] if REPLAY_SEED else list(default)


@pytest.mark.parametrize("seed", seeds((11, 22, 33)))
def test_workflow_fuzz_default(tmp_path: Path, seed: int) -> None:
    steps = int(REPLAY_STEPS or 40)
    run = fuzz(tmp_path, seed, steps)
    record("workflow-fuzz", f"seed-{seed}", steps=steps, commits=len(run.oracle), **run.stats)


@pytest.mark.slow
@pytest.mark.parametrize("seed", seeds(range(1000, 1040)))
def test_workflow_fuzz_heavy(tmp_path: Path, seed: int) -> None:
    steps = int(REPLAY_STEPS or 150)
    run = fuzz(tmp_path, seed, steps)
    record("workflow-fuzz-heavy", f"seed-{seed}", steps=steps, commits=len(run.oracle), **run.stats)


# ---- findings of the fuzzer, as plain tests -------------------------------------


def test_deleting_a_file_after_a_branch_switch_is_not_refused(tmp_path: Path) -> None:
    """Seed 33: after a switch (or a pull) the hooks brought the files in line; the user
    then deletes the file the last commit added. pre-commit refused that commit, saying
    git changed the manifest without its files, because HEAD's parent lacked the file too."""
    from tests.integration.test_hooks import solo

    repo = solo(tmp_path / "repo", tmp_path / "cache")
    repo.write("data/a.bin", b"alpha")
    repo.gs("track", "data")
    repo.git("commit", "-qm", "one")
    repo.git("branch", "old")
    repo.write("data/b.bin", b"bravo")
    repo.gs("track", "data")
    repo.git("commit", "-qm", "add b")
    repo.git("switch", "-q", "old")
    repo.git("switch", "-q", "main")  # git writes data.gitstore, post-checkout the files
    assert repo.read("data/b.bin") == b"bravo"
    assert '"unchanged"' in repo.gs("status", "--json").stdout

    (repo.path / "data" / "b.bin").unlink()
    repo.write("code.py", "print(1)\n")
    repo.git("add", "code.py")
    done = repo.git("commit", "-qm", "drop b, add code", ok=None)
    assert done.returncode == 0, done.stderr
    assert "b.bin" not in repo.git("show", "HEAD:data.gitstore").stdout


def test_a_rebase_that_only_fast_forwards_brings_the_data(tmp_path: Path) -> None:
    """Seed 1000: `git rebase origin/main` on a branch with no commits of its own. git
    checks out the new base (post-checkout, during the rebase: gitstore waits for the
    end), has nothing to pick, and runs no post-rewrite: the files stayed the old ones."""
    from tests.integration.test_hooks import solo

    repo = solo(tmp_path / "repo", tmp_path / "cache")
    repo.write("data/a.bin", b"alpha v1")
    repo.gs("track", "data")
    repo.git("commit", "-qm", "v1")
    repo.git("branch", "topic")
    repo.write("data/a.bin", b"alpha v2")
    repo.gs("track", "data")
    repo.git("commit", "-qm", "v2")
    repo.git("switch", "-q", "topic")
    assert repo.read("data/a.bin") == b"alpha v1"

    repo.git("rebase", "main")
    assert repo.git("rev-parse", "HEAD").stdout == repo.git("rev-parse", "main").stdout
    assert repo.read("data/a.bin") == b"alpha v2"


def test_a_rebase_after_a_resolve_at_a_stop_brings_the_data(tmp_path: Path) -> None:
    """Seeds 1002, 1004, 1005: a conflict at the first of two picks, settled with
    `gitstore resolve` (which materialises that stop's data); the second pick changes
    the file again. The old tip and the new one agree on the file, so post-rewrite
    left it alone: the work tree kept the stop's version, not HEAD's."""
    from tests.integration.test_hooks import solo

    repo = solo(tmp_path / "repo", tmp_path / "cache")
    repo.env["GIT_EDITOR"] = "true"
    repo.write("data/a.bin", b"alpha v1")
    repo.write("data/b.bin", b"bravo v1")
    repo.gs("track", "data")
    repo.git("commit", "-qm", "v1")
    repo.git("switch", "-qc", "topic")
    for message, data in (("topic 1", b"alpha topic 1"), ("topic 2", b"alpha topic 2")):
        repo.write("data/a.bin", data)
        repo.gs("track", "data")
        repo.git("commit", "-qm", message)
    repo.git("switch", "-q", "main")
    repo.write("data/a.bin", b"alpha main")
    repo.gs("track", "data")
    repo.git("commit", "-qm", "main")
    repo.git("switch", "-q", "topic")

    repo.git("rebase", "main", ok=False)  # "topic 1" conflicts on a.bin
    repo.gs("resolve", "data", "--theirs")
    assert repo.read("data/a.bin") == b"alpha topic 1"
    repo.git("rebase", "--continue")  # "topic 2" applies cleanly
    assert repo.gs("cat", "data/a.bin", "--rev", "HEAD").stdout == "alpha topic 2"
    assert repo.read("data/a.bin") == b"alpha topic 2"
    assert '"unchanged"' in repo.gs("status", "--json").stdout


def test_a_merge_aborted_after_resolve_does_not_leak_into_the_next_commit(tmp_path: Path) -> None:
    """`gitstore resolve` materialises the merged data; `git merge --abort` run with no
    hooks (post-index-change brings the files back where it runs) puts HEAD's manifest
    back and leaves those files. The next commit of unrelated code refreshed the manifest
    from them: the other branch's data went into a plain commit, silently. resolve now
    records the files as matching the resolved manifest, so the commit knows they are
    behind the manifest git restored, and keeps it."""
    from tests.integration.test_hooks import solo
    from tests.integration.users import NO_HOOKS

    repo = solo(tmp_path / "repo", tmp_path / "cache")
    repo.write("data/a.bin", b"alpha v1")
    repo.write("data/b.bin", b"bravo v1")
    repo.gs("track", "data")
    repo.git("commit", "-qm", "v1")
    repo.git("switch", "-qc", "topic")
    repo.write("data/a.bin", b"alpha topic")
    repo.write("data/b.bin", b"bravo topic")
    repo.gs("track", "data")
    repo.git("commit", "-qm", "topic")
    repo.git("switch", "-q", "main")
    repo.write("data/a.bin", b"alpha main")
    repo.gs("track", "data")
    repo.git("commit", "-qm", "main")
    main = repo.read("data.gitstore")

    repo.git("merge", "topic", ok=False)
    repo.gs("resolve", "data", "--theirs")
    assert repo.read("data/b.bin") == b"bravo topic"
    repo.git(*NO_HOOKS, "merge", "--abort")
    assert repo.read("data.gitstore") == main

    repo.write("code.py", "print(1)\n")
    repo.git("add", "code.py")
    done = repo.git("commit", "-qam", "code only")
    assert repo.git("show", "HEAD:data.gitstore").stdout.encode() == main
    assert "gitstore checkout data" in done.stderr
    repo.gs("checkout", "data")  # as the note says
    assert repo.read("data/a.bin") == b"alpha main"
    assert repo.read("data/b.bin") == b"bravo v1"


def test_resolving_to_a_side_with_no_entries(tmp_path: Path) -> None:
    """Seed 1002: ours changed a.bin and deleted b.bin, theirs deleted a.bin. The driver
    marks a.bin; taking their side leaves no entry at all, and the marked file's bare
    `entries:` line (no list under it) made `gitstore resolve --theirs` fail to parse it."""
    from tests.integration.test_hooks import solo

    repo = solo(tmp_path / "repo", tmp_path / "cache")
    repo.write("data/a.bin", b"alpha v1")
    repo.write("data/b.bin", b"bravo v1")
    repo.gs("track", "data")
    repo.git("commit", "-qm", "v1")
    repo.git("switch", "-qc", "topic")
    (repo.path / "data" / "a.bin").unlink()
    repo.gs("track", "data")
    repo.git("commit", "-qm", "topic drops a")
    repo.git("switch", "-q", "main")
    repo.write("data/a.bin", b"alpha v2")
    (repo.path / "data" / "b.bin").unlink()
    repo.gs("track", "data")
    repo.git("commit", "-qm", "main changes a, drops b")

    repo.git("merge", "topic", ok=False)
    repo.gs("resolve", "data", "--theirs")
    repo.git("commit", "-qm", "merge: nothing left")
    assert "files: 0" in repo.git("show", "HEAD:data.gitstore").stdout
    assert not [p for p in (repo.path / "data").rglob("*") if p.is_file()]


def test_an_executable_bit_brought_by_stash_pop_is_not_refreshed_away(tmp_path: Path) -> None:
    """Seed 1004: `chmod +x` and track, stash, `gitstore checkout` (the bit goes), stash
    pop: the manifest says exec again, the file is as at HEAD. A commit before
    `gitstore checkout` must keep the manifest or be refused; it recorded the file
    without the bit, as if the user had taken it away."""
    from tests.integration.test_hooks import solo

    repo = solo(tmp_path / "repo", tmp_path / "cache")
    repo.write("data/run.sh", b"echo hi\n")
    repo.gs("track", "data")
    repo.git("commit", "-qm", "v1")
    (repo.path / "data" / "run.sh").chmod(0o755)
    repo.gs("track", "data")
    time.sleep(0.1)  # a person's pace between commands
    repo.write("code.py", "print(1)\n")
    repo.git("add", "code.py")
    repo.git("stash", "-q")
    repo.gs("checkout")  # no hook runs at a stash
    assert not os.access(repo.path / "data" / "run.sh", os.X_OK)
    repo.git("stash", "pop", "-q", "--index")

    done = repo.git("commit", "-qm", "the script, executable", ok=None)
    if done.returncode != 0:
        assert "gitstore checkout data" in done.stderr
    else:
        assert "exec: true" in repo.git("show", "HEAD:data.gitstore").stdout, done.stderr


def test_an_executable_bit_merged_in_beside_a_conflict_is_kept(tmp_path: Path) -> None:
    """Seed 2005: theirs made data/run.sh executable; model.bin conflicted. After
    `gitstore resolve model.bin`, the merge commit's pre-commit refreshed data from
    the work tree (no hook had brought the bit) and recorded run.sh without it:
    the teammate's change was silently undone in the merge."""
    from tests.integration.test_hooks import solo

    repo = solo(tmp_path / "repo", tmp_path / "cache")
    repo.write("data/run.sh", b"echo hi\n")
    repo.write("model.bin", b"model v1")
    repo.gs("track", "data", "model.bin")
    repo.git("commit", "-qm", "v1")
    repo.git("switch", "-qc", "topic")
    (repo.path / "data" / "run.sh").chmod(0o755)
    repo.write("model.bin", b"model topic")
    repo.gs("track", "data", "model.bin")
    repo.git("commit", "-qm", "topic: executable script, new model")
    repo.git("switch", "-q", "main")
    repo.write("model.bin", b"model main")
    repo.gs("track", "model.bin")
    repo.git("commit", "-qm", "main: new model")
    time.sleep(0.1)  # a person's pace (see the stash test above)
    repo.write("data/run.sh", b"echo hi\n")  # saved again, same bytes: no clean record now

    repo.git("merge", "topic", ok=False)  # model.bin conflicts, data merges cleanly
    repo.gs("resolve", "model.bin", "--ours")
    done = repo.git("commit", "-q", "--no-edit", ok=None)
    if done.returncode != 0:
        assert "gitstore checkout data" in done.stderr
    else:
        assert "exec: true" in repo.git("show", "HEAD:data.gitstore").stdout, done.stderr


def test_deleting_a_file_after_an_aborted_merge_is_not_refused(tmp_path: Path) -> None:
    """Seeds 2018, 2022, 2027, 2029, after 130832d (fixed in c24dd9b): the hooks brought the files in line
    with HEAD's manifest; a merge that conflicted was aborted, which made git write
    that manifest again, byte for byte. Deleting a file the last commit added was then
    refused again as 'git changed the manifest without its files'."""
    from tests.integration.test_hooks import solo

    repo = solo(tmp_path / "repo", tmp_path / "cache")
    repo.write("data/a.bin", b"alpha")
    repo.gs("track", "data")
    repo.git("commit", "-qm", "one")
    repo.git("switch", "-qc", "topic")
    repo.write("data/a.bin", b"alpha topic")
    repo.gs("track", "data")
    repo.git("commit", "-qm", "topic")
    repo.git("switch", "-q", "main")
    repo.write("data/a.bin", b"alpha main")
    repo.write("data/b.bin", b"bravo")
    repo.gs("track", "data")
    repo.git("commit", "-qm", "main adds b")
    repo.git("switch", "-q", "topic")
    repo.git("switch", "-q", "main")  # the hooks bring the files in line
    repo.git("merge", "topic", ok=False)  # a.bin conflicts
    repo.git("merge", "--abort")  # git writes HEAD's data.gitstore again

    (repo.path / "data" / "b.bin").unlink()
    repo.write("code.py", "print(1)\n")
    repo.git("add", "code.py")
    done = repo.git("commit", "-qm", "drop b, add code", ok=None)
    assert done.returncode == 0, done.stderr
    assert "b.bin" not in repo.git("show", "HEAD:data.gitstore").stdout
