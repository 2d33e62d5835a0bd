"""What flask-s3's own imports cost on the no-op path, read from ``python -X importtime``.

    python -m bench.importtime [--runs N] -- FLASK-S3 ARGS...   (run in the app's folder)

The command runs once to learn which ``flask_s3`` modules it imports (in their order). Then a
fresh interpreter imports Flask (the floor: the app imports it anyway) and those modules one by
one, under ``-X importtime``; no threads, so the times add up (a run's own threads import
beside the main thread and ``-X importtime`` then prints nonsense). Two numbers, each the sum
over modules of the smallest self time seen in ``runs`` runs (the minimum filters out a busy
machine's preemptions):

- ``own``: the ``flask_s3`` modules themselves;
- ``with_deps``: everything imported after Flask, on flask-s3's behalf (click, yaml, xml ...).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

COLLECT = """
import atexit, runpy, sys
def _save():
    with open({out!r}, "w") as f:
        f.write("\\n".join(m for m in sys.modules if m == "flask_s3" or m.startswith("flask_s3.")))
atexit.register(_save)
sys.argv = ["flask-s3", *{argv!r}]
runpy.run_module("flask_s3", run_name="__main__")
"""


def parse(text: str) -> list[tuple[int, int, str]]:
    """(depth, self us, module) of each ``import time:`` line, in the order Python printed them."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = line[len("import time:") :].split("|", 2)
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append((depth, int(self_us), name.strip()))
    return rows


def after_floor(rows: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """The rows printed after the top-level ``flask`` import finished."""
    for i, (depth, _us, name) in enumerate(rows):
        if depth == 0 and name == "flask":
            return rows[i + 1 :]
    return rows


def modules_of(argv: list[str], env: dict[str, str], cwd: str) -> list[str]:
    """The flask_s3 modules ``flask-s3 ARGV`` imports, in the order it imported them."""
    with tempfile.NamedTemporaryFile("r", suffix=".txt") as out:
        code = COLLECT.format(out=out.name, argv=argv)
        subprocess.run(
            [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, check=False
        )
        return [m for m in out.read().splitlines() if m]


def measure(argv: list[str], env: dict[str, str], cwd: str, runs: int = 5) -> dict[str, float]:
    """``own`` and ``with_deps`` in ms (see the module docstring) for ``flask-s3 ARGV``."""
    modules = modules_of(argv, env, cwd)
    code = "import flask\n" + "".join(f"import {m}\n" for m in modules)
    best: dict[str, int] = {}
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        for _depth, us, name in after_floor(parse(done.stderr)):
            best[name] = min(best.get(name, us), us)
    own = sum(us for name, us in best.items() if name == "flask_s3" or name.startswith("flask_s3."))
    return {"own": own / 1000, "with_deps": sum(best.values()) / 1000, "modules": len(modules)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    argv = args.args[1:] if args.args[:1] == ["--"] else args.args
    got = measure(argv, dict(os.environ), os.getcwd(), args.runs)
    print(f"flask_s3 own {got['own']:.1f} ms, with its dependencies {got['with_deps']:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
