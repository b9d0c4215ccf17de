"""Layered YAML configuration, typed.

Three files share one shape: the repository's committed
``.gitstore/config.yaml``, the user's ``$XDG_CONFIG_HOME/gitstore/config.yaml``
and the clone's ``.git/gitstore/config.yaml``. Precedence, highest first:
flags, environment, the clone's file, the user's file, the committed file. A
remote of the same name in a higher layer replaces the lower one whole.
``cache.*`` is never honoured from the committed file (a branch must not move
anyone's cache); secrets are refused in every file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from .errors import ConfigError

LINK_MODES = ("reflink", "hardlink", "symlink", "copy")
DEFAULT_LINK = ("reflink", "copy")
REMOTE_KEYS = ("url", "endpoint_url", "region", "profile", "anonymous", "read_only")
REMOTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TRUSTED_REMOTE_KEYS = ("url", "endpoint_url", "region", "profile", "anonymous")
SECRET_WORDS = ("secret", "password", "token", "access_key", "credential", "session_key")
LAYERS = ("committed", "user", "local")
COMMITTED_ALLOWED = ("gitstore", "default_remote", "remotes", "hooks", "transfer", "remote")


class RemoteConfig(NamedTuple):
    """A remote as configured (named tuples, not dataclasses: see :class:`gitstore.manifest.Entry`)."""

    name: str
    url: str
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    anonymous: bool = False
    read_only: bool = False
    layer: str = "committed"  # which file it came from
    # what a relative folder URL is relative to: the repository's top for the
    # committed and local files, the user config file's folder for that one
    base: Path | None = None

    def trust_key(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in TRUSTED_REMOTE_KEYS}


class Config(NamedTuple):
    """The merged configuration, frozen; its mappings are never changed (the empty defaults are shared)."""

    cache_dir: Path
    link: tuple[str, ...] = DEFAULT_LINK
    remotes: Mapping[str, RemoteConfig] = {}
    remote_order: tuple[str, ...] = ()  # fetch order: default, clone's, committed
    default_remote: str | None = None
    hooks_refresh: bool = True
    hooks_fetch: bool = True
    jobs: int = 8
    git_remote_map: Mapping[str, str] = {}
    notes: tuple[str, ...] = ()


def _xdg(variable: str, default: str) -> Path:
    # the XDG spec: a relative path in these variables is invalid and ignored
    # (else each folder a command runs from would get a cache of its own)
    value = os.environ.get(variable)
    return Path(value) if value and os.path.isabs(value) else Path.home() / default


def xdg_cache_home() -> Path:
    return _xdg("XDG_CACHE_HOME", ".cache")


def xdg_config_home() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config")


def user_config_path() -> Path:
    return xdg_config_home() / "gitstore" / "config.yaml"


COMMITTED_FILE = ".gitstore/config.yaml"  # the committed file, as a path in a commit's tree


def committed_config_path(root: Path) -> Path:
    return root / COMMITTED_FILE


def local_config_path(common_dir: Path) -> Path:
    return common_dir / "gitstore" / "config.yaml"


class ParsedMemo:
    """Config files already parsed, keyed by path and exact bytes: most commands never import yaml.

    Importing and running the YAML loader costs 15-25 ms, paid by every
    command and by every git hook, although the files rarely change. The
    memo lives in the clone's state folder; an entry is used only when the
    file's bytes are exactly those parsed, so it can never be stale. It is
    only a cache: a corrupt or missing memo means parsing again.
    """

    FILE = "config-parsed"
    MAGIC = "gitstore-config-parsed-1"

    def __init__(self, path: Path | None):
        self.path = path
        self.entries: dict[str, tuple[bytes, Any]] = {}
        self.changed = False
        if path is None:
            return
        from .stores.local import read_tagged_map

        self.entries = read_tagged_map(path, self.MAGIC) or {}

    def get(self, path: Path, text: bytes) -> tuple[bool, Any]:
        entry = self.entries.get(str(path))
        if entry is not None and entry[0] == text:
            return True, entry[1]
        return False, None

    def put(self, path: Path, text: bytes, data: Any) -> None:
        import marshal

        try:
            if marshal.loads(marshal.dumps(data)) != data:
                return
        except ValueError:  # a timestamp or another type marshal does not keep
            return
        self.entries[str(path)] = (text, data)
        self.changed = True

    def save(self) -> None:
        if not self.changed or self.path is None:
            return
        import marshal

        from .stores.local import fsync_write

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fsync_write(self.path, marshal.dumps((self.MAGIC, self.entries)))
        except OSError:
            pass  # a read-only clone parses again next time
        self.changed = False


def read_layer(path: Path | None, memo: ParsedMemo | None = None) -> dict[str, Any]:
    """One config file as a dict; {} when absent; ConfigError naming it when bad."""
    if path is None:
        return {}
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    found, data = memo.get(path, text) if memo is not None else (False, None)
    if not found:
        data = _parse_yaml(path, text)
        if memo is not None:
            memo.put(path, text, data)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of settings")
    _refuse_secrets(data, path)
    return data


def _sparse_patterns(root: Path, common_dir: Path) -> bool:
    """Whether the work tree at ``root`` has sparse-checkout patterns (its own)."""
    from .gitrepo import own_git_dir, sparse_patterns_file

    git_dir = own_git_dir(root, common_dir)
    return git_dir is not None and sparse_patterns_file(git_dir).exists()


def _left_out_by_sparse_checkout(root: Path, common_dir: Path) -> dict[str, Any]:
    """The committed file from git's index, when a sparse checkout left it out of the work tree.

    Its remotes are the team's: a clone that checks out only some folders
    must still push to and pull from them.
    """
    path = committed_config_path(root)
    if path.exists() or not _sparse_patterns(root, common_dir):
        return {}
    import subprocess

    try:
        proc = subprocess.run(
            ["git", "show", ":.gitstore/config.yaml"], cwd=root, capture_output=True, check=False
        )
    except OSError:
        return {}
    if proc.returncode != 0 or not proc.stdout:
        return {}
    data = _parse_yaml(path, proc.stdout)
    if not isinstance(data, dict):
        raise ConfigError(f"{path} (in git's index) must hold a mapping of settings")
    _refuse_secrets(data, path)
    return data


def _parse_yaml(path: Path, text: bytes) -> Any:
    import yaml  # only when a config file is new or changed: keeps start-up light

    from .manifest import strict_yaml

    try:
        return strict_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    except ValueError as exc:  # a key twice: the generic loader kept the last, silently
        raise ConfigError(f"{path}: {exc}") from None


def _refuse_secrets(data: Any, path: Path, trail: str = "") -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            name = f"{trail}.{key}" if trail else str(key)
            named = trail in ("remotes", "remote")  # a remote's name, not a setting
            if not named and any(word in str(key).lower() for word in SECRET_WORDS):
                raise ConfigError(
                    f"{path}: '{name}' looks like a secret; credentials never go in gitstore config",
                    hint="use the AWS chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or ~/.aws/credentials",
                )
            _refuse_secrets(value, path, name)


def _remote_from(
    name: str, raw: Any, layer: str, path: Path | None, base: Path | None = None
) -> RemoteConfig:
    if isinstance(raw, str):
        raw = {"url": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("url"), str) or not raw["url"]:
        raise ConfigError(f"{path}: remote '{name}' needs a url")
    unknown = set(raw) - set(REMOTE_KEYS)
    if unknown:
        raise ConfigError(f"{path}: remote '{name}' has unknown keys: {', '.join(sorted(unknown))}")
    if not REMOTE_NAME.match(name):
        raise ConfigError(
            f"{path}: '{name}' is not a valid remote name",
            hint="use letters, digits, '.', '_' and '-', starting with a letter or digit",
        )
    texts = {}
    for key in ("endpoint_url", "region", "profile"):
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{path}: remote '{name}': {key} must be a string, not {value!r}")
        texts[key] = value or None  # '' is unset, as it always was
    return RemoteConfig(
        name=name,
        url=raw["url"],
        endpoint_url=texts["endpoint_url"],
        region=texts["region"],
        profile=texts["profile"],
        anonymous=_bool(raw.get("anonymous", False), f"remote '{name}': anonymous", path),
        read_only=_bool(raw.get("read_only", False), f"remote '{name}': read_only", path),
        layer=layer,
        base=base,
    )


def _bool(value: Any, what: str, path: Path | None) -> bool:
    if isinstance(value, bool):
        return value
    where = f"{path}: " if path is not None else ""
    raise ConfigError(f"{where}{what} must be true or false, not {value!r}")


def _check_section(section: str, values: Mapping[str, Any], path: Path | None) -> None:
    """The types of one file's ``hooks``, ``transfer`` and ``cache`` settings, naming the file."""
    for key, value in values.items():
        what = f"{section}.{key}"
        if section == "hooks" and key in ("refresh", "fetch"):
            _bool(value, what, path)
        elif what == "transfer.jobs" and not (
            (isinstance(value, int) and not isinstance(value, bool) and value >= 1)
            or (isinstance(value, str) and value.isdigit() and int(value) >= 1)
        ):
            raise ConfigError(f"{path}: transfer.jobs must be a positive integer, not {value!r}")
        elif what == "cache.link":
            if not isinstance(value, (str, list)):
                raise ConfigError(f"{path}: cache.link must be a list of link modes, not {value!r}")
            try:
                parse_link(value)
            except ConfigError as exc:
                raise ConfigError(f"{path}: cache.link: {exc.message}") from None
        elif what == "cache.dir" and not isinstance(value, str):
            raise ConfigError(f"{path}: cache.dir must be a folder path, not {value!r}")


def committed_remotes_in(text: bytes, where: Path, base: Path | None) -> dict[str, RemoteConfig]:
    """The remotes a committed config file's bytes define (as of some commit: ``where``
    names it in errors); ConfigError when they do not parse."""
    data = _parse_yaml(where, text)
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must hold a mapping of settings")
    return {
        str(name): _remote_from(str(name), raw, "committed", where, base)
        for name, raw in _mapping(data, "remotes", where).items()
    }


def with_upstream(config: Config, text: bytes, where: Path, base: Path | None) -> Config:
    """``config``, which names no remote, with the remotes of the committed file ``text``.

    That file is the upstream's default branch's (``where`` names it): its
    remotes come in as layer ``upstream``, its ``default_remote`` and its
    git-remote mapping with them, unless this clone's or the user's own
    settings (or ``GITSTORE_REMOTE``) say otherwise. ConfigError when the
    file does not parse.
    """
    data = _parse_yaml(where, text)
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must hold a mapping of settings")
    remotes = {
        str(name): _remote_from(str(name), raw, "upstream", where, base)
        for name, raw in _mapping(data, "remotes", where).items()
    }
    if not remotes:
        return config
    default = config.default_remote or data.get("default_remote")
    if not isinstance(default, str) or default not in remotes:
        default = config.default_remote
    order = [default] if default in remotes else []
    order += [n for n in remotes if n not in order]
    mapping = {str(k): v for k, v in _mapping(data, "remote", where).items() if isinstance(v, str)}
    return config._replace(
        remotes=remotes,
        remote_order=tuple(order),
        default_remote=default,
        git_remote_map={**mapping, **config.git_remote_map},
    )


def _mapping(layer: Mapping[str, Any], key: str, path: Path | None) -> Mapping[str, Any]:
    """``layer[key]`` when it is a mapping (or absent: empty); ConfigError naming the file otherwise."""
    value = layer.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: '{key}' must be a mapping of names to settings")
    return value


def folder_anchor(root: Path | None, common_dir: Path | None) -> Path | None:
    """What a relative folder remote is read against: the repository's top.

    In a linked worktree (``git worktree add``), the main work tree's top, so
    that ``../store`` is one folder from every worktree of the repository.
    """
    if root is None or common_dir is None or common_dir.name != ".git":
        return root
    main = common_dir.parent
    if main != root and (main / ".git").is_dir():
        return main
    return root


def load(
    root: Path | None,
    common_dir: Path | None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Merge the layers (see the module docstring) into one Config."""
    env = os.environ if env is None else env
    paths: dict[str, Path | None] = {
        "committed": committed_config_path(root) if root else None,
        "user": user_config_path(),
        "local": local_config_path(common_dir) if common_dir else None,
    }
    memo = ParsedMemo(common_dir / "gitstore" / ParsedMemo.FILE if common_dir else None)
    layers = {name: read_layer(p, memo) for name, p in paths.items()}
    if not layers["committed"] and root is not None and common_dir is not None:
        layers["committed"] = _left_out_by_sparse_checkout(root, common_dir)
    memo.save()
    notes: list[str] = []
    committed = layers["committed"]
    for key in committed:
        if key not in COMMITTED_ALLOWED:
            notes.append(
                f"ignoring '{key}' from {paths['committed']}: not honoured from the committed file"
            )
    for name in LAYERS:
        version = layers[name].get("gitstore", 1)
        if version != 1:
            if isinstance(version, int) and not isinstance(version, bool) and version > 1:
                raise ConfigError(f"{paths[name]} uses config version {version}; upgrade gitstore")
            raise ConfigError(f"{paths[name]}: 'gitstore' must be the number 1, not {version!r}")

    merged: dict[str, Any] = {}
    remotes: dict[str, RemoteConfig] = {}
    remote_map: dict[str, str] = {}
    anchor = folder_anchor(root, common_dir)
    for name in LAYERS:  # lowest first
        layer = layers[name]
        for rname, raw in _mapping(layer, "remotes", paths[name]).items():
            where = paths[name]
            base = where.parent if name == "user" and where is not None else anchor
            remotes[str(rname)] = _remote_from(str(rname), raw, name, where, base)
        for gname, store in _mapping(layer, "remote", paths[name]).items():
            if not isinstance(store, str):
                raise ConfigError(
                    f"{paths[name]}: remote.{gname} must name a gitstore remote, not {store!r}"
                )
            remote_map[str(gname)] = store
        for section in ("hooks", "transfer", "cache"):
            if section == "cache" and name == "committed":
                continue
            value = layer.get(section)
            if value is None:
                continue
            if not isinstance(value, dict):
                raise ConfigError(f"{paths[name]}: '{section}' must be a mapping")
            _check_section(section, value, paths[name])
            merged.setdefault(section, {}).update(value)

    for name in LAYERS:
        value = layers[name].get("default_remote")
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{paths[name]}: default_remote must name a remote, not {value!r}")
    default = layers["local"].get("default_remote") or committed.get("default_remote")
    default = default or layers["user"].get("default_remote")
    default = env.get("GITSTORE_REMOTE") or default
    repo_remotes = [n for n, r in remotes.items() if r.layer in ("local", "committed")]
    order: list[str] = []
    if default and default in remotes:
        order.append(default)
    for layer_name in ("local", "committed"):
        order += [n for n in repo_remotes if remotes[n].layer == layer_name and n not in order]

    cache = merged.get("cache", {})
    cache_dir = env.get("GITSTORE_CACHE_DIR") or cache.get("dir")
    cache_path = Path(os.path.expanduser(cache_dir)) if cache_dir else xdg_cache_home() / "gitstore"
    if not cache_path.is_absolute():
        # relative to the repository's top, wherever the command runs from
        # (else each folder would get a cache of its own)
        base = root if root is not None else common_dir
        cache_path = (base if base is not None else Path.cwd()) / cache_path
    link_env = env.get("GITSTORE_LINK")
    try:
        link = parse_link(link_env or cache.get("link") or DEFAULT_LINK)
    except ConfigError as exc:  # the files' values were checked as they were read
        raise ConfigError(f"GITSTORE_LINK={link_env!r}: {exc}") from None
    hooks = merged.get("hooks", {})
    jobs_env = env.get("GITSTORE_JOBS")
    jobs_raw = jobs_env or merged.get("transfer", {}).get("jobs", 8)
    try:
        jobs = int(jobs_raw)
        if jobs < 1:
            raise ValueError
    except (TypeError, ValueError):
        key = "GITSTORE_JOBS" if jobs_env else "transfer.jobs"
        raise ConfigError(f"{key} must be a positive integer, not {jobs_raw!r}") from None
    config = Config(
        cache_dir=cache_path,
        link=link,
        remotes=remotes,
        remote_order=tuple(order),
        default_remote=default,
        hooks_refresh=_bool(hooks.get("refresh", True), "hooks.refresh", None),
        hooks_fetch=_bool(hooks.get("fetch", True), "hooks.fetch", None),
        jobs=jobs,
        git_remote_map=remote_map,
        notes=tuple(notes),
    )
    if overrides:
        config = config._replace(**overrides)
    return config


def parse_link(value: Any) -> tuple[str, ...]:
    """``"reflink,copy"`` or ``["reflink", "copy"]`` -> a validated tuple."""
    items = value.split(",") if isinstance(value, str) else list(value)
    modes = tuple(str(m).strip() for m in items if str(m).strip())
    bad = [m for m in modes if m not in LINK_MODES]
    if bad:
        raise ConfigError(
            f"unknown link mode '{','.join(bad)}'; choose from {', '.join(LINK_MODES)}"
        )
    if not modes:
        raise ConfigError(f"no link mode given; choose from {', '.join(LINK_MODES)}")
    return modes
