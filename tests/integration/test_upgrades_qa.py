"""A team that upgrades gitstore mid-project (QA pass on upgrades).

Repositories, caches and remotes made by an older gitstore, then used by this
one, while some teammates (or other repositories of the same user) go on with
the older one for a while. Each test writes the older version's state the way
that version writes it (the bytes of commits 6a9997b, 833c6e8 and ac028d5 of
this repository), so no older checkout is needed here.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from gitstore.hashing import hash_bytes
from tests.conftest import git, write

Run = Callable[..., subprocess.CompletedProcess[str]]


def objects_in(root: Path) -> set[str]:
    folder = root / "objects"
    return {p.name for p in folder.rglob("*") if p.is_file()} if folder.is_dir() else set()


# -- a cache shared with an older gitstore ------------------------------------------
def registered_for_an_older_gc(cache: Path) -> list[Path]:
    """The repositories the gc of 6a9997b and 833c6e8 protects, read as it reads them.

    ``Cache.registered_repos`` there takes each file in ``<cache>/repos/`` whole,
    stripped, as a git dir's path; ``gc.registered_repositories`` drops (and
    unlinks) every registration whose ``HEAD`` or ``objects/`` is not there, with
    the note "the repository no longer exists", and then deletes every object
    only that repository needed.
    """
    found = []
    for marker in sorted((cache / "repos").iterdir()):
        try:
            common = Path(marker.read_text().strip())
        except (OSError, ValueError):
            continue
        if (common / "HEAD").exists() and (common / "objects").is_dir():
            found.append(common.resolve())
    return found


def older_marker(cache: Path, git_dir: Path) -> Path:
    """The registration 6a9997b and 833c6e8 write: named by SHA-256, the git dir's path alone."""
    path = str(git_dir.resolve())
    marker = cache / "repos" / hashlib.sha256(path.encode()).hexdigest()[:32]
    write(marker, path + "\n")
    return marker


def test_a_repository_upgraded_stays_registered_for_an_older_gc_of_its_cache(
    repo: Path, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One user, two projects, one cache (``~/.cache/gitstore``): project A moves to
    the new gitstore, project B keeps the old one in its own virtualenv.

    Seen with the real versions: after one `gitstore status` of the new version
    in A, `gitstore gc` of 833c6e8 run in B said "note: dropped /…/A/.git
    65024:2452178 … : the repository no longer exists" and deleted every object
    of A (its committed history included: `gitstore checkout HEAD~1` in A then
    failed with "1 object is not in the cache"). The marker the new version writes
    holds four lines, which the older gc reads as one path; and the new version
    removes the older marker that the older gc could read.
    """
    cache = tmp_path / "cache"
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(cache))
    # A, set up with the older version: its registration as that version wrote it
    run(repo, "init")
    write(repo / "model.bin", b"version one")
    run(repo, "track", "model.bin")
    git(repo, "commit", "-qm", "v1")
    for marker in (cache / "repos").iterdir():
        marker.unlink()
    older_marker(cache, repo / ".git")
    # the upgrade: any command of the new version
    run(repo, "status")
    assert (repo / ".git").resolve() in registered_for_an_older_gc(cache), (
        "an older gitstore's gc, run from another repository on this cache, would drop this"
        f" repository and delete its objects: {sorted(p.name for p in (cache / 'repos').iterdir())}"
    )

    # a repository that only the new version ever used, on the same cache
    other = tmp_path / "other"
    git(tmp_path, "init", "-q", str(other))
    run(other, "init")
    write(other / "data.bin", b"only the new version saw this")
    run(other, "track", "data.bin")
    assert (other / ".git").resolve() in registered_for_an_older_gc(cache)


# -- merge and diff drivers an older gitstore registered -----------------------------
OLDER_HOOK = """#!/bin/sh
# gitstore-hook: {name} (format 1)
# Installed by `gitstore install`; `gitstore uninstall` removes it and puts back
# the hook that was here before (kept beside it as {name}.gitstore-chained, which
# `gitstore hook` runs first). Runs gitstore from PATH, else the one that
# installed this script.
GITSTORE_HOOK_PATH=$0
export GITSTORE_HOOK_PATH
if command -v gitstore >/dev/null 2>&1; then
    exec gitstore hook {name} "$@"
fi
fallback={python}
if [ -n "$fallback" ] && [ -x "$fallback" ]; then
    exec "$fallback" -m gitstore hook {name} "$@"
fi
echo "gitstore: the {name} hook needs gitstore, which is not on PATH; install it (pip install gitstore) or remove $0" >&2
exit 1
"""
HOOKS = ("pre-commit", "pre-push", "post-checkout", "post-merge", "post-rewrite")


def as_installed_by_an_older_gitstore(repo: Path, python: str) -> None:
    """Hooks and drivers as `gitstore install` of 6a9997b or 833c6e8 left them, ``python``
    being the interpreter of the virtualenv that version lived in."""
    for name in HOOKS:
        hook = repo / ".git" / "hooks" / name
        hook.write_text(OLDER_HOOK.format(name=name, python=python))
        hook.chmod(0o755)
    git(repo, "config", "merge.gitstore.driver", f"{python} -m gitstore merge-driver %O %A %B %P")
    git(repo, "config", "diff.gitstore.textconv", f"{python} -m gitstore diff-driver --textconv")


def test_manifests_still_diff_and_merge_once_the_older_install_is_gone(
    repo: Path, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upgrade is a new virtualenv (pipx, a new Python, a recreated conda env) and
    the old one is deleted. The older hook scripts run the new gitstore from PATH,
    so commits and pushes go on and nothing asks for `gitstore install`; but the
    drivers the older version registered name its interpreter alone.

    Seen: `git diff HEAD~1 HEAD` stops with "/…/bin/python: not found / fatal:
    unable to read files to diff", and every merge of a manifest is a CONFLICT
    with no markers (the driver failed), even when the branches changed
    different files. This version writes drivers that fall back to PATH
    (hooks.driver_command), but never replaces the older form it finds. (While
    the old virtualenv still exists, the older form also keeps running the old
    merge and diff drivers after the upgrade, without the fixes made since.)
    """
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(tmp_path / "cache"))
    run(repo, "init")
    write(repo / "d" / "a.txt", "a0\n")
    write(repo / "d" / "b.txt", "b0\n")
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "base")
    as_installed_by_an_older_gitstore(repo, str(tmp_path / "gone-venv" / "bin" / "python"))

    # work goes on with the new gitstore on PATH, through the hooks
    git(repo, "checkout", "-q", "-b", "side")
    write(repo / "d" / "b.txt", "b1\n")
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "b on side")
    git(repo, "checkout", "-q", "main")
    write(repo / "d" / "a.txt", "a1\n")
    run(repo, "status")
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "a on main")

    shown = git(repo, "diff", "HEAD~1", "HEAD", "--", "d.gitstore", check=False)
    assert shown.returncode == 0, shown.stderr
    merged = git(repo, "merge", "-q", "--no-edit", "side", check=False)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert (repo / "d" / "a.txt").read_text() == "a1\n"
    assert (repo / "d" / "b.txt").read_text() == "b1\n"


# -- trust recorded by an older gitstore ---------------------------------------------
def older_trust(entries: dict[str, Path]) -> str:
    """``.git/gitstore/trust.yaml`` as 6a9997b, 833c6e8 and ac028d5 write it."""
    lines = ["gitstore: 1", "remotes:"]
    for name, url in entries.items():
        lines += [
            f"  {name}:",
            f"    url: {url}",
            "    endpoint_url: null",
            "    region: null",
            "    profile: null",
            "    anonymous: false",
        ]
    return "\n".join(lines) + "\n"


def test_a_remote_an_older_gitstore_trusted_on_first_use_is_checked_again(
    repo: Path, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before 2026-12-04 a remote read once, by a checkout's fetch, was trusted for
    pushes (docs/remotes.md says so). The upgrade keeps those records: a clone that
    checked out a hostile branch under 6a9997b, 833c6e8 or ac028d5 (whose
    post-checkout fetch recorded the branch's 'evil' remote in trust.yaml) goes on
    uploading to it with this version, where a clone that never ran the older one
    is refused ("remote 'evil' ... was added by a commit and would receive this
    push; ... not trusted yet").

    Seen with the real versions: the old clone's `git push origin hostile` under
    this version printed "gitstore: uploaded 1 object (7 B) to gitstore remote
    'evil'"; a fresh clone with this version refused the same push.
    """
    team, evil, origin = tmp_path / "team", tmp_path / "evil", tmp_path / "origin.git"
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(tmp_path / "cache-alice"))
    run(repo, "init")
    run(repo, "remote", "add", "team", str(team), "--default")
    write(repo / "d.txt", "d\n")
    run(repo, "track", "d.txt")
    git(repo, "commit", "-qm", "data and the team's remote")
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "origin", "main")
    git(origin, "symbolic-ref", "HEAD", "refs/heads/main")
    # a branch that makes its own remote the default
    git(repo, "checkout", "-q", "-b", "hostile")
    run(repo, "remote", "add", "evil", str(evil), "--default")
    git(repo, "commit", "-qm", "a remote of mine")
    git(repo, "push", "-q", "origin", "hostile")

    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(tmp_path / "cache-victim"))
    git(tmp_path, "clone", "-q", str(origin), "victim")
    victim = tmp_path / "victim"
    run(victim, "install")
    git(victim, "checkout", "-q", "hostile")
    # what the older version's post-checkout fetch recorded in this clone
    write(victim / ".git" / "gitstore" / "trust.yaml", older_trust({"team": team, "evil": evil}))

    write(victim / "secret.txt", "not for evil\n")
    run(victim, "track", "secret.txt")
    git(victim, "commit", "-qm", "my data")
    pushed = git(victim, "push", "origin", "hostile", check=False)
    secret = hash_bytes(b"not for evil\n")
    assert secret not in objects_in(evil), "the upgraded clone uploaded its data to 'evil'"
    assert pushed.returncode != 0 and "evil" in pushed.stderr, pushed.stderr
    assert "Traceback" not in pushed.stderr
    # trusting it on purpose with this version still works
    run(victim, "remote", "trust", "evil")
    git(victim, "push", "-q", "origin", "hostile")
    assert secret in objects_in(evil)


def test_an_older_trust_record_is_kept_where_nothing_can_check_it_and_names_a_change(
    repo: Path, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clone with no upstream default branch to ask keeps the older record as it was
    (as a new one would be trusted on first use); one the config changed since is named."""
    team, moved = tmp_path / "team", tmp_path / "moved"
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(tmp_path / "cache"))
    run(repo, "init")
    run(repo, "remote", "add", "team", str(team), "--default")
    write(repo / "d.txt", "d\n")
    run(repo, "track", "d.txt")
    git(repo, "commit", "-qm", "data")
    trust = repo / ".git" / "gitstore" / "trust.yaml"
    write(trust, older_trust({"team": team}))
    run(repo, "push")  # no git remote: nothing to ask
    assert hash_bytes(b"d\n") in objects_in(team)
    assert "gitstore: 2" in trust.read_text() and "unchecked" not in trust.read_text()

    write(trust, older_trust({"team": moved}))
    write(repo / "e.txt", "e\n")
    run(repo, "track", "e.txt")
    refused = run(repo, "push", ok=False)
    assert refused.returncode != 0
    assert "remote 'team' was changed by a commit" in refused.stderr, refused.stderr
    assert f"{moved!s}" in refused.stderr and "Traceback" not in refused.stderr


def test_a_repository_moved_away_leaves_the_older_marker_of_the_one_now_at_its_path(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A moved repository removes its own path-only marker, never the one that the
    repository made at its old path since then needs for an older gc."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(cache))
    first, moved = tmp_path / "p", tmp_path / "q"
    git(tmp_path, "init", "-q", str(first))
    write(first / "a.bin", b"first")
    run(first, "track", "a.bin")
    first.rename(moved)
    git(tmp_path, "init", "-q", str(first))  # another repository at the old path
    write(first / "b.bin", b"second")
    run(first, "track", "b.bin")
    run(moved, "status")  # the moved one registers at its new path
    older = registered_for_an_older_gc(cache)
    assert (first / ".git").resolve() in older and (moved / ".git").resolve() in older
    run(moved, "gc", "--grace", "0")  # and this version's gc is not stopped by either
