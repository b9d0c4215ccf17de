"""Deterministic workloads: the same seed gives the same bytes on every machine.

Content is BLAKE3's extendable output of the seed and the workload's name
(never ``os.urandom``), so two runs, or two machines, benchmark identical
files. A generated workload is kept under ``WORKDIR/src/NAME`` with a
``NAME.spec.json`` beside it and reused while the spec is unchanged.

| name | full | --quick |
| --- | --- | --- |
| W1 | one 1 GiB file | one 8 MiB file |
| W2 | 20,000 files of 4 KiB in 100 folders | 500 files in 10 folders |
| W3 | 200 files of 5 MiB | 10 files of 1 MiB |
| W4 | 100,000 files of 1 KiB in 100 folders; 1,000 of them changed in version B | 2,000 files, 20 changed |
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import blake3

CHUNK = 8 << 20


@dataclass(frozen=True)
class Spec:
    name: str
    files: int
    size: int
    folders: int  # 0: the files sit directly in the folder (or W1: a single file)
    changed: int = 0  # W4: files whose content differs in version B
    seed: int = 1

    @property
    def total(self) -> int:
        return self.files * self.size


FULL = {
    "W1": Spec("W1", 1, 1 << 30, 0),
    "W2": Spec("W2", 20_000, 4096, 100),
    "W3": Spec("W3", 200, 5 << 20, 0),
    "W4": Spec("W4", 100_000, 1024, 100, changed=1_000),
}
QUICK = {
    "W1": Spec("W1", 1, 8 << 20, 0),
    "W2": Spec("W2", 500, 4096, 10),
    "W3": Spec("W3", 10, 1 << 20, 0),
    "W4": Spec("W4", 2_000, 1024, 10, changed=20),
}


def specs(quick: bool) -> dict[str, Spec]:
    return QUICK if quick else FULL


def stream(seed: int, label: str, length: int, offset: int = 0) -> bytes:
    """``length`` bytes of the XOF of (seed, label) starting at ``offset``."""
    key = blake3.blake3(f"gitstore-bench:{seed}:{label}".encode()).digest()
    return blake3.blake3(key).digest(length=length, seek=offset)  # type: ignore[no-any-return]


def relpaths(spec: Spec) -> list[str]:
    """The workload's files, relative to its folder, in generation order."""
    if spec.name == "W1":
        return ["big.bin"]
    if not spec.folders:
        return [f"f{i:05d}.bin" for i in range(spec.files)]
    per = spec.files // spec.folders
    return [f"d{i // per:03d}/f{i:06d}.bin" for i in range(spec.files)]


def changed_relpaths(spec: Spec) -> list[str]:
    """W4: the files that version B changes (evenly spread)."""
    paths = relpaths(spec)
    if not spec.changed:
        return []
    step = len(paths) // spec.changed
    return paths[::step][: spec.changed]


def content(spec: Spec, index: int, version: str = "a") -> bytes:
    return stream(spec.seed, f"{spec.name}:{version}:{index}", spec.size)


def _write_file(path: Path, spec: Spec, index: int, version: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        if spec.size <= CHUNK:
            f.write(content(spec, index, version))
            return
        done = 0
        while done < spec.size:
            n = min(CHUNK, spec.size - done)
            f.write(stream(spec.seed, f"{spec.name}:{version}:{index}", n, done))
            done += n


def generate(workdir: Path, spec: Spec) -> Path:
    """Create (or reuse) the workload's folder; W4 also gets ``W4-b`` (changed files only)."""
    src = workdir / "src" / spec.name
    marker = workdir / "src" / f"{spec.name}.spec.json"
    want = json.dumps(asdict(spec), sort_keys=True)
    if src.is_dir() and marker.exists() and marker.read_text() == want:
        return src
    shutil.rmtree(src, ignore_errors=True)
    shutil.rmtree(src.with_name(spec.name + "-b"), ignore_errors=True)
    marker.unlink(missing_ok=True)
    for i, rel in enumerate(relpaths(spec)):
        _write_file(src / rel, spec, i, "a")
    if spec.changed:
        index = {rel: i for i, rel in enumerate(relpaths(spec))}
        for rel in changed_relpaths(spec):
            _write_file(src.with_name(spec.name + "-b") / rel, spec, index[rel], "b")
    marker.write_text(want)
    return src
