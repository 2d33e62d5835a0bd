"""Deterministic synthetic static trees for the benchmark.

`webapp`: 2,000 files, about 100 MB, log-normal sizes from 1 KiB to 2 MiB across js, css, svg,
png, jpg, woff2, json and html. `small`: 20,000 files of 1-8 KiB. Same seed, same bytes, same
mtimes on every run. Folder names never prefix a sibling file's name (SeaweedFS lists such
keys out of S3 byte order).
"""

from __future__ import annotations

import math
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

FIXED_MTIME = 1_735_689_600  # 2025-01-01T00:00:00Z
CHANGED_MTIME = FIXED_MTIME + 86_400
KINDS = ["js", "css", "svg", "png", "jpg", "woff2", "json", "html"]


@dataclass(frozen=True)
class TreeSpec:
    name: str
    files: int
    min_size: int
    max_size: int
    lognormal: bool


TREES = {
    "webapp": TreeSpec("webapp", 2000, 1024, 2 * 1024 * 1024, True),
    "small": TreeSpec("small", 20_000, 1024, 8 * 1024, False),
}
QUICK = {
    "webapp": TreeSpec("webapp", 200, 1024, 2 * 1024 * 1024, True),
    "small": TreeSpec("small", 2000, 1024, 8 * 1024, False),
}

APP = """from flask import Flask


def create_app():
    return Flask(__name__, static_folder="static")
"""


def _size(rng: random.Random, spec: TreeSpec) -> int:
    if not spec.lognormal:
        return rng.randint(spec.min_size, spec.max_size)
    # median ~24 KiB, long tail to 2 MiB: ~100 MB over 2,000 files
    value = int(math.exp(rng.gauss(math.log(24 * 1024), 1.25)))
    return max(spec.min_size, min(spec.max_size, value))


def _body(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size)


def file_list(spec: TreeSpec, seed: int = 20261125) -> list[tuple[str, int, int]]:
    """(relative path, size, per-file seed) for every file of the tree."""
    rng = random.Random(f"{seed}-{spec.name}")
    out = []
    for i in range(spec.files):
        kind = KINDS[i % len(KINDS)] if spec.lognormal else rng.choice(KINDS[:3])
        folder = f"{kind}/g{(i // 100):03d}"
        out.append((f"{folder}/asset-{i:05d}.{kind}", _size(rng, spec), rng.randrange(1 << 30)))
    return out


def build(spec: TreeSpec, root: Path) -> Path:
    """Write the tree under ``root/NAME`` (skipped when already complete); return the app dir."""
    app_dir = root / spec.name
    marker = app_dir / ".complete"
    static = app_dir / "static"
    if marker.exists() and marker.read_text() == repr(spec):
        return app_dir
    # another shape of the same name (--quick vs full) must not leave its extra files behind
    shutil.rmtree(static, ignore_errors=True)
    for rel, size, seed in file_list(spec):
        path = static / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_body(random.Random(seed), size))
        os.utime(path, (FIXED_MTIME, FIXED_MTIME))
    (app_dir / "benchapp.py").write_text(APP)
    marker.write_text(repr(spec))
    return app_dir


def scale_spec(files: int) -> TreeSpec:
    """The small-file shape (1-8 KiB) at any file count, for the scale profile."""
    return TreeSpec(f"scale-{files}", files, 1024, 8 * 1024, False)


def chosen(tree: str, files: int = 0, quick: bool = False) -> TreeSpec:
    """The shape a bench command asked for: a scale tree of ``files``, else the named one."""
    if files:
        return scale_spec(files)
    return (QUICK if quick else TREES)[tree]


def build_large(root: Path, size: int) -> Path:
    """An app whose static folder holds one seeded file of ``size`` bytes (written in chunks)."""
    app_dir = root / f"large-{size}"
    marker = app_dir / ".complete"
    if marker.exists() and marker.read_text() == str(size):
        return app_dir
    path = app_dir / "static" / "video" / "big.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"large-{size}")
    with open(path, "wb") as out:
        left = size
        while left:
            step = min(left, 16 * 1024 * 1024)
            out.write(rng.randbytes(step))
            left -= step
    os.utime(path, (FIXED_MTIME, FIXED_MTIME))
    (app_dir / "benchapp.py").write_text(APP)
    marker.write_text(str(size))
    return app_dir


def changed_files(spec: TreeSpec, share: float = 0.01) -> list[tuple[str, int, int]]:
    """The same seeded 1% of files every run."""
    files = file_list(spec)
    rng = random.Random(f"change-{spec.name}")
    return rng.sample(files, max(1, int(len(files) * share)))


def apply_change(app_dir: Path, files: list[tuple[str, int, int]]) -> None:
    """New content, a new size and a new mtime, so every kind of tool sees the change."""
    for rel, size, seed in files:
        path = app_dir / "static" / rel
        path.write_bytes(_body(random.Random(seed + 1), size + 17))
        os.utime(path, (CHANGED_MTIME, CHANGED_MTIME))


def undo_change(app_dir: Path, files: list[tuple[str, int, int]]) -> None:
    for rel, size, seed in files:
        path = app_dir / "static" / rel
        path.write_bytes(_body(random.Random(seed), size))
        os.utime(path, (FIXED_MTIME, FIXED_MTIME))
