"""Layered configuration: precedence, fetch order, secrets, key validation, progress bar."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from gitstore import config as cfg
from gitstore import remotes
from gitstore.errors import ConfigError
from gitstore.progress import StderrBar, human_bytes
from tests.conftest import write


@pytest.fixture
def layers(tmp_path: Path) -> tuple[Path, Path]:
    """(work tree root, git common dir), with no config files yet."""
    root, common = tmp_path / "repo", tmp_path / "repo" / ".git"
    common.mkdir(parents=True)
    return root, common


def put(root: Path, common: Path, layer: str, text: str) -> None:
    path = {
        "committed": cfg.committed_config_path(root),
        "local": cfg.local_config_path(common),
        "user": cfg.user_config_path(),
    }[layer]
    write(path, "gitstore: 1\n" + text)


def test_default_remote_precedence(layers: tuple[Path, Path]) -> None:
    root, common = layers
    put(root, common, "user", "default_remote: mine\nremotes: {mine: /u}\n")
    assert cfg.load(root, common, env={}).default_remote == "mine"
    put(root, common, "committed", "default_remote: team\nremotes: {team: /c, other: /o}\n")
    assert (
        cfg.load(root, common, env={}).default_remote == "team"
    )  # the repository's beats the user's
    put(root, common, "local", "default_remote: other\n")
    assert cfg.load(root, common, env={}).default_remote == "other"
    assert cfg.load(root, common, env={"GITSTORE_REMOTE": "mine"}).default_remote == "mine"


def test_fetch_order_and_user_remotes(layers: tuple[Path, Path]) -> None:
    root, common = layers
    put(root, common, "committed", "default_remote: b\nremotes: {a: /a, b: /b}\n")
    put(root, common, "local", "remotes: {c: /c}\n")
    put(root, common, "user", "remotes: {u: /u}\n")
    config = cfg.load(root, common, env={})
    assert config.remote_order == ("b", "c", "a")
    assert "u" in config.remotes and "u" not in config.remote_order


def test_higher_layer_replaces_a_remote_whole(layers: tuple[Path, Path]) -> None:
    root, common = layers
    put(root, common, "committed", "remotes: {t: {url: 's3://b/p', region: eu-west-1}}\n")
    put(root, common, "local", "remotes: {t: {url: /mirror}}\n")
    remote = cfg.load(root, common, env={}).remotes["t"]
    assert (remote.url, remote.region, remote.layer) == ("/mirror", None, "local")


def test_cache_dir_is_not_honoured_from_the_committed_file(layers: tuple[Path, Path]) -> None:
    root, common = layers
    put(root, common, "committed", "cache: {dir: /evil}\ntransfer: {jobs: 3}\n")
    config = cfg.load(root, common, env={})
    assert config.cache_dir != Path("/evil") and config.jobs == 3
    assert cfg.load(root, common, env={"GITSTORE_JOBS": "5"}).jobs == 5


@pytest.mark.parametrize("layer", ["committed", "local", "user"])
def test_secrets_are_refused_in_every_file(layers: tuple[Path, Path], layer: str) -> None:
    root, common = layers
    put(root, common, layer, "remotes: {t: {url: /x, aws_secret_access_key: abc}}\n")
    with pytest.raises(ConfigError, match="looks like a secret") as info:
        cfg.load(root, common, env={})
    assert info.value.hint and "AWS" in info.value.hint


def test_a_remote_named_like_a_secret_is_a_name(layers: tuple[Path, Path]) -> None:
    """QA pass 7: `remote add tokenstore DIR` was taken, then every command refused the file."""
    root, common = layers
    put(root, common, "local", "remotes: {tokenstore: /x}\nremote: {origin: tokenstore}\n")
    assert cfg.load(root, common, env={}).remotes["tokenstore"].url == "/x"
    assert remotes._split_key("remotes.tokenstore.url") == ["remotes", "tokenstore", "url"]
    with pytest.raises(ConfigError, match="looks like a secret"):
        remotes._split_key("remotes.tokenstore.secret_key")


def test_key_validation() -> None:
    assert remotes._split_key("remotes.team.endpoint_url") == ["remotes", "team", "endpoint_url"]
    assert remotes._split_key("transfer.jobs") == ["transfer", "jobs"]
    with pytest.raises(ConfigError, match="looks like a secret"):
        remotes._split_key("remotes.team.password")
    with pytest.raises(ConfigError, match="unknown config key"):
        remotes._split_key("remotes.team.colour")
    with pytest.raises(ConfigError, match="must be true or false"):
        remotes._typed("hooks.fetch", ["hooks", "fetch"], "maybe")
    with pytest.raises(ConfigError, match="positive integer"):
        remotes._typed("transfer.jobs", ["transfer", "jobs"], "0")
    with pytest.raises(ConfigError, match="malformed remote URL"):
        remotes._typed("remotes.t.url", ["remotes", "t", "url"], "gs:/x")
    if os.name != "nt":  # a Windows drive elsewhere: a folder "c:" made in the work tree
        for url in ("c:/foo", "C:\\data"):
            with pytest.raises(ConfigError, match="unknown scheme"):
                remotes._typed("remotes.t.url", ["remotes", "t", "url"], url)
    assert remotes._typed("cache.link", ["cache", "link"], "hardlink,copy") == ["hardlink", "copy"]


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_and_after_a_delay() -> None:
    quiet = io.StringIO()
    bar = StderrBar(quiet, delay=0)
    bar.start("push", 2, 2048)
    bar.advance(1024)
    bar.done()
    assert quiet.getvalue() == ""

    tty = FakeTTY()
    bar = StderrBar(tty, delay=0, interval=0)
    bar.start("push", 2, 2048)
    bar.advance(1024)
    bar.done()
    assert "push: 1/2 objects" in tty.getvalue() and "1.0 KiB/2.0 KiB" in tty.getvalue()
    assert "ETA" in tty.getvalue()

    slow = FakeTTY()
    bar = StderrBar(slow, delay=60)
    bar.start("fetch", 1)
    bar.advance(10)
    bar.done()
    assert slow.getvalue() == ""
    assert human_bytes(5 << 20) == "5.0 MiB"


def test_parsed_memo_answers_for_unchanged_bytes_only(layers: tuple[Path, Path]) -> None:
    import subprocess
    import sys

    root, common = layers
    put(root, common, "committed", "default_remote: team\nremotes: {team: /c}\n")
    put(root, common, "local", "hooks: {fetch: false}\nwhen: 2024-01-01 10:00:00\n")
    assert cfg.load(root, common, env={}).default_remote == "team"
    memo = common / "gitstore" / cfg.ParsedMemo.FILE
    assert memo.exists()
    probe = (
        "import sys; from pathlib import Path; from gitstore import config as cfg;"
        f"c = cfg.load(Path({str(root)!r}), Path({str(common)!r}), env={{}});"
        "print(c.default_remote, c.hooks_fetch, 'yaml' in sys.modules)"
    )
    run = lambda: subprocess.run(  # noqa: E731
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    # the local file holds a timestamp, which marshal cannot keep: parsed every time
    assert run() == ["team", "False", "True"]
    put(root, common, "local", "hooks: {fetch: false}\n")
    assert run() == ["team", "False", "True"]  # changed: parsed, then remembered
    assert run() == ["team", "False", "False"]  # nothing changed: no yaml at all
    # same size, same second: only the bytes tell the change apart
    path = cfg.committed_config_path(root)
    st = path.stat()
    path.write_text(path.read_text().replace("team", "tean").replace("{tean: /c}", "{tean: /d}"))
    import os

    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert run()[0] == "tean"
    memo.write_bytes(b"garbage")  # only a cache
    assert run() == ["tean", "False", "True"]
    put(root, common, "committed", "remotes: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        cfg.load(root, common, env={})


def test_counted_nouns_agree_with_their_number() -> None:
    from gitstore.progress import count, objects

    assert objects(1) == "1 object" and objects(0) == "0 objects"
    assert count(1, "file", "is") == "1 file is"
    assert count(3, "file", "is") == "3 files are"
    assert count(1, "object", "was") == "1 object was"
    assert count(2, "object", "was") == "2 objects were"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("remotes: [team]\n", "'remotes' must be a mapping"),
        ("remote: [team]\n", "'remote' must be a mapping"),
        ("remote: {origin: [a]}\n", "remote.origin must name a gitstore remote"),
        ("remotes: {t: /x}\ndefault_remote: [t]\n", "default_remote must name a remote"),
        ("remotes: {t: {url: 's3://b/x', endpoint_url: 9000}}\n", "endpoint_url must be a string"),
        ("remotes: {t: {url: 's3://b/x', region: 5}}\n", "region must be a string"),
        ("remotes: {t: {url: 's3://b/x', profile: [a]}}\n", "profile must be a string"),
        ("remotes: {t: {url: /x, read_only: 'no'}}\n", "read_only must be true or false, not 'no'"),
        ("remotes: {t: {url: /x, anonymous: 3}}\n", "anonymous must be true or false"),
        ("remotes: {'bad name': /x}\n", "'bad name' is not a valid remote name"),
        ("cache: {link: 5}\n", "cache.link must be a list of link modes"),
        ("cache: {dir: 5}\n", "cache.dir must be a folder path"),
        ("hooks: {fetch: nope}\n", "hooks.fetch must be true or false, not 'nope'"),
        ("transfer: {jobs: 2.9}\n", "transfer.jobs must be a positive integer, not 2.9"),
        ("transfer: {jobs: true}\n", "transfer.jobs must be a positive integer, not True"),
        ("cache: {link: [copy, nope]}\n", "unknown link mode 'nope'"),
    ],
)
def test_settings_of_the_wrong_type_are_one_error_naming_the_file(
    layers: tuple[Path, Path], text: str, said: str
) -> None:
    """QA pass 7: tracebacks (from every command and hook), or 'no' taken as true."""
    root, common = layers
    put(root, common, "local", text)
    with pytest.raises(ConfigError) as caught:
        cfg.load(root, common, env={})
    assert said in caught.value.message
    assert caught.value.message.startswith(f"{cfg.local_config_path(common)}: ")


def test_empty_and_digit_string_settings_keep_their_old_meaning(layers: tuple[Path, Path]) -> None:
    """An empty region is unset and jobs: "4" is 4, as before the type checks (QA pass 7)."""
    root, common = layers
    put(root, common, "local", "remotes: {t: {url: /x, region: ''}}\ntransfer: {jobs: '4'}\n")
    loaded = cfg.load(root, common, env={})
    assert loaded.remotes["t"].region is None and loaded.jobs == 4


def test_a_quoted_config_version_is_not_taken_for_a_newer_one(layers: tuple[Path, Path]) -> None:
    root, common = layers
    write(cfg.local_config_path(common), 'gitstore: "1"\n')
    with pytest.raises(ConfigError, match="must be the number 1"):
        cfg.load(root, common, env={})


@pytest.mark.parametrize("layer", ["committed", "local", "user"])
def test_a_key_written_twice_is_an_error_naming_the_file_and_line(
    layers: tuple[Path, Path], layer: str
) -> None:
    """A hand edit that repeats a key: YAML's loader kept the last one silently."""
    root, common = layers
    put(root, common, layer, "remotes:\n  team:\n    url: /a\n    url: /b\n")
    with pytest.raises(ConfigError) as caught:
        cfg.load(root, common, env={})
    assert caught.value.message.endswith("line 5 has the key 'url' twice in one mapping")
    assert "config.yaml" in caught.value.message
