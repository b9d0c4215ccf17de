"""Remotes: from a name in config to a Store, trust, config editing.

:func:`open_remote` resolves a remote name (None: the default remote) through
the merged :class:`~gitstore.config.Config` to a store from
:func:`gitstore.stores.registry.open_store`, network stores wrapped in a
:class:`RetryingStore` whose bounds come from ``GITSTORE_RETRY_ATTEMPTS`` and
``GITSTORE_RETRY_DEADLINE``. :func:`fetch_order` is DESIGN.md's order: the
default remote, then the clone's remotes, then the committed ones.

Trust: a remote defined in the committed ``.gitstore/config.yaml`` comes from
whoever wrote the branch. Its ``url``, ``endpoint_url``, ``region``,
``profile`` and ``anonymous`` are recorded in ``.git/gitstore/trust.yaml``
when this clone first uses it, if the upstream's default branch
(``refs/remotes/<git remote>/HEAD``, what ``git clone`` checks out) defines it
the same way, or, in a clone with no such branch to ask, on first use. A
remote that the default branch defines otherwise, or not at all, can be read
(every object is verified) but receives no data and is not recorded, until
``gitstore remote trust NAME``; the same holds for one a later commit
changed. Remotes from the clone's or the user's file are trusted as written.

The editing helpers (``remote add/remove/default``, ``config get/set/unset/
list``) rewrite one layer's YAML file with fsync and rename; a change to the
committed file is staged with git, to be committed with the user's next commit.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from . import config as cfg
from .errors import ConfigError, GitstoreError, ReadOnlyStoreError
from .stores.base import Store
from .stores.local import LocalStore

if TYPE_CHECKING:
    from .api import Context

NO_REMOTE_HINT = (
    "run `gitstore remote add NAME URL --default` (a teammate's remote comes with the code"
    " once their .gitstore/config.yaml is committed and pushed)"
)
_NAME = cfg.REMOTE_NAME
BOOL_KEYS = {"hooks.refresh", "hooks.fetch"}
SIMPLE_KEYS = (
    "default_remote",
    "cache.dir",
    "cache.link",
    "hooks.refresh",
    "hooks.fetch",
    "transfer.jobs",
)


# -- resolving a remote -------------------------------------------------------
PUSH_ELSEWHERE = (
    "push to a writable folder or s3:// remote: `gitstore push --remote NAME`; for `git push`,"
    " make it the default (`gitstore remote default NAME`) or map the git remote to it"
    " (`gitstore config set remote.GIT_REMOTE NAME`)"
)


def fetch_order(ctx: Context) -> list[str]:
    """Remote names fetch tries, in order (DESIGN.md "Configuration")."""
    use_upstream(ctx)
    return list(ctx.config.remote_order)


def use_upstream(ctx: Context) -> None:
    """When no file names a remote, take those of the upstream's default branch (once).

    A commit from before the team committed its remote (last March's data,
    checked out with git) has none in its ``.gitstore/config.yaml``, and its
    data could not be fetched, nor a branch made from it pushed. The default
    branch's remotes are the team's decision (see Trust above): they are used
    as defined there, as layer ``upstream``. Asked only where a remote is
    needed, so that no other command pays for reading the default branch.
    """
    if ctx.config.remotes or ctx.upstream_asked or ctx.repo.root is None:
        return
    ctx.upstream_asked = True
    head = ctx.repo.upstream_head()
    if head is None:
        return
    where = Path(f"{head[0]}/HEAD:{cfg.COMMITTED_FILE}")
    base = cfg.folder_anchor(ctx.repo.root, ctx.repo.common_dir)
    try:
        text = ctx.repo.read_path(ctx.repo.resolve(head[1]), cfg.COMMITTED_FILE)
        if text is not None:
            ctx.config = cfg.with_upstream(ctx.config, text, where, base)
    except GitstoreError:  # unreadable (a partial clone offline) or invalid: none, as before
        return


def remote_config(ctx: Context, name: str | None) -> cfg.RemoteConfig:
    """The RemoteConfig called ``name`` (None: the default); ConfigError if there is none."""
    use_upstream(ctx)
    remotes = ctx.config.remotes
    if name is None:
        name = ctx.config.default_remote
        if name is None:
            if len(remotes) == 1:
                return next(iter(remotes.values()))
            if not remotes:
                raise ConfigError("no remote is configured", hint=NO_REMOTE_HINT)
            raise ConfigError(
                f"no default remote among {', '.join(sorted(remotes))}",
                hint="use --remote NAME, or run `gitstore remote default NAME`",
            )
        if name not in remotes:
            if os.environ.get("GITSTORE_REMOTE") == name:  # it overrides every file
                raise ConfigError(
                    f"GITSTORE_REMOTE={name!r} names no configured remote",
                    hint="run `gitstore remote list`, then set GITSTORE_REMOTE to one of them or unset it",
                )
            raise ConfigError(
                f"the default remote '{name}' is not configured",
                hint="run `gitstore remote list`, then `gitstore remote default NAME`",
            )
    rc = remotes.get(name)
    if rc is None:
        known = ", ".join(sorted(remotes)) or "none"
        raise ConfigError(
            f"unknown remote '{name}' (configured: {known})",
            hint="run `gitstore remote list`, or " + NO_REMOTE_HINT,
        )
    return rc


def _env_number(key: str, default: float) -> float:
    raw = os.environ.get(key)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{key} must be a number, not '{raw}'") from None
    if value <= 0:
        raise ConfigError(f"{key} must be positive, not '{raw}'")
    return value


def store_for(rc: cfg.RemoteConfig, jobs: int = 8) -> Store:
    """The store a RemoteConfig names; network stores retry within bounds."""
    from .stores.registry import check_remote_url, is_relative_folder, open_store
    from .stores.retry import RetryingStore, Throttle

    check_remote_url(rc.url)
    url = rc.url
    if rc.base is not None and is_relative_folder(url):
        url = os.path.join(rc.base, url)  # not the current folder's: the same from anywhere
    store = open_store(
        url,
        endpoint_url=rc.endpoint_url,
        region=rc.region,
        profile=rc.profile,
        anonymous=rc.anonymous,
        read_only=rc.read_only,
        retry=False,
    )
    if rc.url.lower().startswith(("s3:", "http:", "https:")):
        attempts = int(_env_number("GITSTORE_RETRY_ATTEMPTS", 5))
        deadline = _env_number("GITSTORE_RETRY_DEADLINE", 60.0)
        if hasattr(store, "deadline"):
            # the store's own bounds fit within it: S3's timeouts, HTTP's time per object
            store.deadline = deadline
        store = RetryingStore(store, attempts=attempts, deadline=deadline, throttle=Throttle(jobs))
    return store


def open_remote(
    ctx: Context, name: str | None = None, *, for_write: bool = False
) -> tuple[str, Store]:
    """(name, store) of a remote; None is the default. Applies the trust check."""
    rc = remote_config(ctx, name)
    check_trust(ctx, rc, for_write=for_write)
    if for_write and rc.read_only:
        raise ReadOnlyStoreError(
            f"remote '{rc.name}' ({rc.url}) is read-only",
            hint=PUSH_ELSEWHERE,
        )
    store = store_for(rc, ctx.config.jobs)
    if for_write and store.read_only:
        raise ReadOnlyStoreError(
            f"remote '{rc.name}' ({rc.url}) is read-only: HTTP remotes can only be read",
            hint=PUSH_ELSEWHERE,
        )
    return rc.name, store


def is_read_only(rc: cfg.RemoteConfig) -> bool:
    """A remote that refuses pushes: marked ``read_only``, or an http(s):// one."""
    return rc.read_only or rc.url.lower().startswith(("http:", "https:"))


def writable_remote(ctx: Context, besides: str) -> str | None:
    """The remote to push to instead of read-only ``besides``: the default if it takes
    pushes, else the first that does in fetch order (then the user's file's), or None."""
    use_upstream(ctx)
    remotes = ctx.config.remotes
    order = [ctx.config.default_remote or "", *ctx.config.remote_order, *sorted(remotes)]
    for name in order:
        rc = remotes.get(name)
        if rc is not None and name != besides and not is_read_only(rc):
            return name
    return None


def not_pushed_advice(ctx: Context, name: str, n: int) -> str:
    """What `remote status NAME` says of the ``n`` objects the cache has and NAME lacks.

    A read-only remote refuses the push that "run `gitstore push`" suggests
    (QA pass 15, finding 5): name a writable remote instead, or how to add one.
    """
    from .progress import count

    objects = count(n, "object")
    rc = remote_config(ctx, name)
    if is_read_only(rc):
        where = writable_remote(ctx, rc.name)
        if where is None:
            return (
                f"{objects} not on this read-only remote, which refuses pushes, and no remote"
                " here takes them: add one with `gitstore remote add NAME URL`, then"
                " `gitstore push --remote NAME`"
            )
        return (
            f"{objects} not on this read-only remote, which refuses pushes: push"
            f" {'it' if n == 1 else 'them'} to the writable remote '{where}' with `gitstore push --remote {where}`"
        )
    try:
        default = remote_config(ctx, None).name
    except ConfigError:
        default = None
    command = "gitstore push" if default == rc.name else f"gitstore push --remote {rc.name}"
    return f"{objects} not pushed yet; run `{command}`"


# -- trust ---------------------------------------------------------------------
def trust_path(ctx: Context) -> Path:
    return ctx.repo.common_state_dir / "trust.yaml"


# trust.yaml written before 2026-12-04 ("gitstore: 1") recorded a remote on its first
# read (a checkout's fetch through a hostile branch's remote included): its records
# are kept as "unchecked", each trusted again only once the upstream's default branch
# vouches for it (or the clone has no such branch to ask), as a new record would be
TRUST_FORMAT = 2


def _read_trust(ctx: Context) -> dict[str, Any]:
    return _read_trust_file(ctx)[0]


def _read_trust_file(ctx: Context) -> tuple[dict[str, Any], dict[str, Any]]:
    """(remotes trusted, older records not checked yet) of this clone's trust.yaml."""
    data = cfg.read_layer(trust_path(ctx))
    remotes = data.get("remotes")
    remotes = remotes if isinstance(remotes, dict) else {}
    if data.get("gitstore") != TRUST_FORMAT:
        return {}, remotes
    unchecked = data.get("unchecked")
    return remotes, unchecked if isinstance(unchecked, dict) else {}


def _write_trust(
    ctx: Context, remotes: dict[str, Any], unchecked: dict[str, Any] | None = None
) -> None:
    if unchecked is None:
        unchecked = {k: v for k, v in _read_trust_file(ctx)[1].items() if k not in remotes}
    data: dict[str, Any] = {"gitstore": TRUST_FORMAT, "remotes": remotes}
    if unchecked:
        data["unchecked"] = unchecked
    write_yaml(trust_path(ctx), data)


def trust_state(ctx: Context, rc: cfg.RemoteConfig) -> str:
    """'trusted' (clone's or user's file, or as recorded), 'new', 'changed' or
    'unchecked' (recorded by a gitstore of before 2026-12-04, see TRUST_FORMAT)."""
    if rc.layer != "committed":
        return "trusted"
    remotes, unchecked = _read_trust_file(ctx)
    recorded = remotes.get(rc.name)
    if recorded is None:
        return "unchecked" if rc.name in unchecked else "new"
    return "trusted" if recorded == rc.trust_key() else "changed"


def not_trusted(ctx: Context, rc: cfg.RemoteConfig) -> bool:
    """Whether :func:`check_trust` would refuse ``rc`` a push now (nothing recorded):
    a committed remote a commit changed, or one a branch added that the upstream's
    default branch does not define so."""
    state = trust_state(ctx, rc)
    if state == "trusted":
        return False
    if state == "changed":
        return True
    upstream = _upstream_keys(ctx, rc)
    if upstream is not None:
        return rc.trust_key() not in upstream
    remotes, unchecked = _read_trust_file(ctx)
    if state == "unchecked":
        return bool(unchecked[rc.name] != rc.trust_key())
    return bool(remotes)  # no upstream to ask: trusted on first use only in a fresh clone


def check_trust(ctx: Context, rc: cfg.RemoteConfig, *, for_write: bool = False) -> None:
    """Record a committed remote the upstream's default branch vouches for; refuse others.

    ``for_write``: the remote is to receive data. A branch that adds a remote
    and makes it the default (or maps a git remote to it), or points an
    existing one elsewhere, would otherwise redirect this clone's pushes to it
    — a fresh clone's too, and after any read (a checkout's fetch) through it.
    Reads are allowed (objects are verified) but record nothing.
    """
    state = trust_state(ctx, rc)
    if state == "trusted":
        return
    upstream = _upstream_keys(ctx, rc)
    remotes, unchecked = _read_trust_file(ctx)
    if state == "unchecked":
        if unchecked[rc.name] != rc.trust_key():
            state = "changed"  # since the older gitstore recorded it
        elif upstream is None:  # nothing to ask: trusted as it was
            remotes[rc.name] = unchecked.pop(rc.name)
            _write_trust(ctx, remotes, unchecked)
            return
        else:  # the upstream's default branch decides, as for a remote never seen
            unchecked.pop(rc.name)
            state = "new"
    vouched = rc.trust_key() in upstream if upstream is not None else not remotes
    if vouched and (state == "new" or upstream is not None):
        remotes[rc.name] = rc.trust_key()
        _write_trust(ctx, remotes, unchecked)
        return
    if state == "changed":
        recorded = remotes.get(rc.name) or unchecked[rc.name]
        current = rc.trust_key()
        changes = [
            f"{k} {recorded.get(k)!r} -> {current[k]!r}"
            for k in cfg.TRUSTED_REMOTE_KEYS
            if recorded.get(k) != current[k]
        ]
        raise ConfigError(
            f"remote '{rc.name}' was changed by a commit ({'; '.join(changes)}) and is not trusted yet",
            hint=f"check .gitstore/config.yaml, then run `gitstore remote trust {rc.name}`",
        )
    if for_write:
        where = (
            "the upstream's default branch defines it otherwise or not at all"
            if upstream is not None
            else "this clone has not used it before"
        )
        raise ConfigError(
            f"remote '{rc.name}' ({rc.url}) was added by a commit and would receive this"
            f" push; {where}, so it is not trusted yet",
            hint=f"check .gitstore/config.yaml, then run `gitstore remote trust {rc.name}`",
        )


def _upstream_keys(ctx: Context, rc: cfg.RemoteConfig) -> list[dict[str, Any]] | None:
    """How the upstream's default branch defines remote ``rc.name`` (its trust key, or []
    when it does not or cannot be read); None when this clone has no such branch."""
    head = ctx.repo.upstream_head()
    if head is None:
        return None
    # there is a default branch: from here on, what cannot be read of it vouches for
    # nothing (a partial clone lacking its config blob, offline, fell back to trust
    # on first use, and so trusted a hostile branch's remote)
    try:
        text = ctx.repo.read_path(ctx.repo.resolve(head[1]), cfg.COMMITTED_FILE)
        if text is None:
            return []
        where = Path(f"{head[0]}/HEAD:{cfg.COMMITTED_FILE}")
        defined = cfg.committed_remotes_in(text, where, rc.base).get(rc.name)
    except GitstoreError:  # ConfigError included
        return []
    return [] if defined is None else [defined.trust_key()]


def trust_remote(ctx: Context, name: str) -> cfg.RemoteConfig:
    """Trust the committed remote ``name`` as it is now configured."""
    rc = remote_config(ctx, name)
    if rc.layer == "committed":
        remotes = _read_trust(ctx)
        remotes[rc.name] = rc.trust_key()
        _write_trust(ctx, remotes)
    make_folder(store_for(rc, ctx.config.jobs))
    return rc


def make_folder(store: Store) -> None:
    """Create a folder remote's folder when the user names it (remote add, remote trust).

    From then on a missing folder means an unmounted or moved share, and the
    store reports it instead of reading it as empty or making it anew.
    """
    if isinstance(store, LocalStore) and not store.read_only:
        try:
            store.root.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            what = "a symlink to nothing" if os.path.islink(store.root) else "a file"
            raise ConfigError(f"the remote folder {store.url} is {what}, not a folder") from None
        except OSError as exc:
            raise ConfigError(
                f"cannot create the remote folder {store.url}: {exc.strerror}"
            ) from None


# -- config files ----------------------------------------------------------
def layer_path(ctx: Context, layer: str) -> Path:
    if layer == "committed":
        return cfg.committed_config_path(ctx.repo.require_worktree())
    if layer == "local":
        return cfg.local_config_path(ctx.repo.common_dir)
    if layer == "user":
        return cfg.user_config_path()
    raise ConfigError(f"unknown config layer '{layer}'")


def write_yaml(path: Path, data: dict[str, Any]) -> None:
    from .stores.local import fsync_write

    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fsync_write(path, text.encode())
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from exc


def _save_layer(ctx: Context, layer: str, data: dict[str, Any]) -> Path:
    path = layer_path(ctx, layer)
    data = {"gitstore": data.pop("gitstore", 1), **data}
    for section in ("remotes", "remote", "cache", "hooks", "transfer"):
        if section in data and not data[section]:
            del data[section]
    write_yaml(path, data)
    if layer == "committed":
        root = ctx.repo.require_worktree()
        ctx.repo.stage([path.relative_to(root).as_posix()])
    return path


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ConfigError(
            f"'{name}' is not a valid remote name",
            hint="use letters, digits, '.', '_' and '-', starting with a letter or digit",
        )


def remote_add(
    ctx: Context,
    name: str,
    url: str,
    *,
    layer: str = "committed",
    default: bool = False,
    read_only: bool = False,
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    anonymous: bool = False,
) -> Path:
    """Add a remote to one config file; the URL is checked, nothing is contacted.

    A relative folder is taken from the current folder, as typed, and written
    relative to the repository's top (absolute in the user's own file), which
    is what it is read against (:func:`store_for`).
    """
    from .stores.registry import check_remote_url, check_typed_url, is_relative_folder, open_store

    _check_name(name)
    check_typed_url(url)
    check_remote_url(url)
    where = url
    if is_relative_folder(url):
        where = os.path.normpath(os.path.join(ctx.cwd, url))
        root = cfg.folder_anchor(ctx.repo.root, ctx.repo.common_dir)
        url = os.path.relpath(where, root) if layer != "user" and root is not None else where
        if ":" in url.split("/", 1)[0]:  # `store:v1` would read as a URL scheme
            url = "./" + url
    store = open_store(where, endpoint_url=endpoint_url, region=region, profile=profile,
                       anonymous=anonymous, read_only=read_only, retry=False)  # fmt: skip
    make_folder(store)
    path = layer_path(ctx, layer)
    data = cfg.read_layer(path)
    remotes = data.setdefault("remotes", {}) or {}
    data["remotes"] = remotes
    if name in remotes:
        raise ConfigError(
            f"remote '{name}' already exists in {path}",
            hint=f"run `gitstore remote remove {name}` first",
        )
    entry: dict[str, Any] = {"url": url}
    for key, value in (("endpoint_url", endpoint_url), ("region", region), ("profile", profile)):
        if value:
            entry[key] = value
    if anonymous:
        entry["anonymous"] = True
    if read_only:
        entry["read_only"] = True
    remotes[name] = entry
    if default:
        data["default_remote"] = name
    path = _save_layer(ctx, layer, data)
    if layer == "committed":  # written by this user on this clone: trusted
        remotes_trust = _read_trust(ctx)
        remotes_trust[name] = cfg.RemoteConfig(name=name, url=url, endpoint_url=endpoint_url,
                                               region=region, profile=profile,
                                               anonymous=anonymous).trust_key()  # fmt: skip
        _write_trust(ctx, remotes_trust)
    return path


def remote_remove(ctx: Context, name: str) -> Path:
    """Remove the remote from the file its effective definition comes from."""
    rc = remote_config(ctx, name)
    if rc.layer == "upstream":
        raise ConfigError(
            f"remote '{name}' is not in this commit's config: it is the upstream's default"
            " branch's, used because no file here names a remote",
            hint="remove it on the default branch, or check that branch out",
        )
    data = cfg.read_layer(layer_path(ctx, rc.layer))
    (data.get("remotes") or {}).pop(name, None)
    if data.get("default_remote") == name:
        del data["default_remote"]
    return _save_layer(ctx, rc.layer, data)


def _require_committed_remote(ctx: Context, name: str, key: str) -> None:
    """ConfigError unless the committed file defines remote ``name`` (for ``key`` there).

    The committed file travels to every clone: a default or a git-remote
    mapping there that names a remote only this clone (or this user) has
    would send this clone's pushes to a private store while teammates fall
    back to another remote and miss the data.
    """
    committed = cfg.read_layer(layer_path(ctx, "committed")).get("remotes")
    if isinstance(committed, dict) and name in committed:
        return
    rc = ctx.config.remotes.get(name)
    where = {"local": "only in this clone's config", "user": "only in your user config"}
    raise ConfigError(
        f"cannot set {key} to '{name}' in the committed .gitstore/config.yaml: remote"
        f" '{name}' is {where.get(rc.layer if rc else '', 'not defined there')},"
        " so teammates would not have it",
        hint=f"add --local to keep the setting on this clone, or add remote '{name}'"
        " without --local (`gitstore remote add NAME URL`) so that it is committed",
    )


def remote_default(ctx: Context, name: str, layer: str = "committed") -> Path:
    remote_config(ctx, name)  # must exist somewhere
    if layer == "committed":
        _require_committed_remote(ctx, name, "default_remote")
    data = cfg.read_layer(layer_path(ctx, layer))
    data["default_remote"] = name
    return _save_layer(ctx, layer, data)


def _split_key(key: str) -> list[str]:
    parts = key.split(".")
    # the name in remotes.NAME.KEY and remote.NAME is a remote's, not a setting
    named = parts[1:2] if parts[0] in ("remotes", "remote") else []
    setting = ".".join(p for i, p in enumerate(parts) if not (named and i == 1))
    if any(word in setting.lower() for word in cfg.SECRET_WORDS):
        raise ConfigError(
            f"'{key}' looks like a secret; credentials never go in gitstore config",
            hint="use the AWS chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or ~/.aws/credentials",
        )
    parts = key.split(".")
    if key in SIMPLE_KEYS:
        return parts
    if len(parts) == 3 and parts[0] == "remotes" and parts[2] in cfg.REMOTE_KEYS:
        _check_name(parts[1])
        return parts
    if len(parts) == 2 and parts[0] == "remote" and parts[1]:
        return parts
    keys = (
        ", ".join(SIMPLE_KEYS)
        + ", remotes.NAME.{"
        + ",".join(cfg.REMOTE_KEYS)
        + "}, remote.GITREMOTE"
    )
    raise ConfigError(f"unknown config key '{key}'", hint=f"known keys: {keys}")


def _typed(key: str, parts: list[str], value: str) -> Any:
    if key in BOOL_KEYS or parts[-1] in ("anonymous", "read_only"):
        lowered = value.lower()
        if lowered not in ("true", "false", "yes", "no", "1", "0", "on", "off"):
            raise ConfigError(f"{key} must be true or false, not '{value}'")
        return lowered in ("true", "yes", "1", "on")
    if key == "transfer.jobs":
        if not value.isdigit() or int(value) < 1:
            raise ConfigError(f"transfer.jobs must be a positive integer, not '{value}'")
        return int(value)
    if key == "cache.link":
        return list(cfg.parse_link(value))
    if parts[-1] == "url":
        from .stores.registry import check_remote_url, check_typed_url, open_store

        check_typed_url(value)
        check_remote_url(value)
        open_store(value, retry=False)
    return value


def config_set(ctx: Context, key: str, value: str, layer: str = "committed") -> Path:
    parts = _split_key(key)
    if layer == "committed" and parts[0] == "cache":
        raise ConfigError(
            f"{key} is not honoured from the committed file (a branch must not move anyone's cache)",
            hint=f"use `gitstore config set --local {key} ...` or --user",
        )
    typed = _typed(key, parts, value)
    if layer == "committed" and (key == "default_remote" or parts[0] == "remote"):
        _require_committed_remote(ctx, str(typed), key)
    data = cfg.read_layer(layer_path(ctx, layer))
    if parts[0] == "remotes" and parts[2] != "url":
        if not isinstance((data.get("remotes") or {}).get(parts[1]), dict):
            raise ConfigError(
                f"remote '{parts[1]}' is not in {layer_path(ctx, layer)}",
                hint="add it first with `gitstore remote add NAME URL`",
            )
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if isinstance(child, str) and part in (data.get("remotes") or {}):
            child = {"url": child}
        if not isinstance(child, dict):
            child = {}
        node[part] = child
        node = child
    node[parts[-1]] = typed
    return _save_layer(ctx, layer, data)


def config_unset(ctx: Context, key: str, layer: str = "committed") -> bool:
    parts = _split_key(key)
    data = cfg.read_layer(layer_path(ctx, layer))
    node: Any = data
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict) or parts[-1] not in node:
        return False
    del node[parts[-1]]
    if parts[0] == "remotes" and parts[-1] == "url":
        data["remotes"].pop(parts[1], None)
    _save_layer(ctx, layer, data)
    return True


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            name = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict):
                out.update(_flatten(v, name))
            else:
                out[name] = v
    return out


def effective_settings(ctx: Context) -> dict[str, Any]:
    """Every setting after merging the layers, as flat ``key: value`` pairs."""
    c = ctx.config
    out: dict[str, Any] = {"default_remote": c.default_remote}
    for name, rc in sorted(c.remotes.items()):
        for key in cfg.REMOTE_KEYS:
            value = getattr(rc, key)
            if value is not None:
                out[f"remotes.{name}.{key}"] = value
    for git_remote, store in sorted(c.git_remote_map.items()):
        out[f"remote.{git_remote}"] = store
    out.update({
        "cache.dir": str(c.cache_dir),
        "cache.link": list(c.link),
        "hooks.refresh": c.hooks_refresh,
        "hooks.fetch": c.hooks_fetch,
        "transfer.jobs": c.jobs,
    })  # fmt: skip
    return {k: v for k, v in out.items() if v is not None}


def config_list(ctx: Context, layer: str | None = None) -> dict[str, Any]:
    if layer is None:
        return effective_settings(ctx)
    data = cfg.read_layer(layer_path(ctx, layer))
    data.pop("gitstore", None)
    return _flatten(data)


def config_get(ctx: Context, key: str, layer: str | None = None) -> Any:
    """The value of ``key`` (merged, or from one layer's file); None when unset."""
    _split_key(key)
    return config_list(ctx, layer).get(key)


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)
