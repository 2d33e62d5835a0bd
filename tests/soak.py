"""A randomized soak of `flask-s3 apply`: faults, kills and concurrent applies must converge.

Two apps share one SeaweedFS bucket under two prefixes: ``a`` (fingerprinted, ``keep: 2``,
gzip) and ``b`` (plain names, a file over the multipart threshold, a Cache-Control that
changes now and then). Every round changes the trees at random (3-30 changes: new, changed,
removed and renamed files, nested folders, odd names) and then does one of:

- an apply through a loopback fault proxy that breaks 0-50 % of the requests (connection
  resets before and after the write, 500, 503 SlowDown, answers cut mid-body, delays);
- an apply killed at a random moment by SIGKILL, SIGINT or SIGTERM;
- two applies of different trees of one app at once, each through its own proxy.

Then a clean apply, and the invariants, read from the bucket directly:

- bucket == tree: every file's bytes (gzip undone) and Cache-Control, nothing extra under the
  static roots but the kept deploy and objects flask-s3 did not write; the next plan is a no-op;
- nothing outside the roots touched (objects planted there keep their bytes);
- clean failures: no traceback, exit codes 0 / 1 / 130 / 143 (-9 for SIGKILL);
- every deploy ``keep`` promises still fully fetchable after each apply, and the current one
  during each single apply (a miss is a "broken-page observation");
- never two writers: the writes of two concurrent applies never interleave.

    python tests/soak.py --rounds 200 --seed 7          (make soak ROUNDS=200)

It starts its own SeaweedFS unless given ``--endpoint`` (with credentials in the environment).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from faultproxy import FaultProxy
from lockcheck import lock_is_free

FAULTS = ("reset", "reset-after", "500", "503", "cut", "delay")
FOLDERS = ["", "css", "js", "img/icons", "deep/er/still", "odd dir", "ünï"]
NAMES = [
    "app",
    "a b",
    "plus+sign",
    "semi;colon",
    "paren(1)",
    "tilde~x",
    "eq=1",
    "comma,1",
    "日本",
    "café",
    "dash-_",
    "UPPER",
]
EXTS = [".css", ".js", ".txt", ".svg", ".json"]
IMMUTABLE = "public, max-age=31536000, immutable"
APP = "from flask import Flask\n\n\ndef create_app():\n    return Flask(__name__)\n"
BIG = "big/blob.bin"
MULTIPART = 5 * 1024 * 1024
FOREIGN_OUTSIDE = ["index.html", "uploads/avatar.png", "a/other/file.txt", "b-old/x.css"]
FOREIGN_INSIDE = ["a/static/uploads/user.png", "b/static/theirs.txt"]


@dataclass
class Figures:
    rounds: int = 0
    applies: int = 0
    requests: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    kills: Counter[str] = field(default_factory=Counter)
    exits: Counter[int] = field(default_factory=Counter)
    pairs: int = 0
    broken_pages: int = 0
    page_checks: int = 0
    violations: list[str] = field(default_factory=list)

    def report(self, seconds: float) -> str:
        lines = [
            f"rounds: {self.rounds} in {seconds:.0f} s, CLI applies: {self.applies}",
            f"requests through the fault proxies: {self.requests}",
            f"faults: {sum(self.faults.values())} " + json.dumps(dict(sorted(self.faults.items()))),
            f"kills: {sum(self.kills.values())} " + json.dumps(dict(sorted(self.kills.items()))),
            "exit codes: " + json.dumps({str(k): v for k, v in sorted(self.exits.items())}),
            f"concurrent pairs: {self.pairs}",
            f"page fetches during applies: {self.page_checks}, "
            f"broken-page observations: {self.broken_pages}",
            f"violations: {len(self.violations)}",
        ]
        lines += [f"  {v}" for v in self.violations[:50]]
        return "\n".join(lines)


@dataclass
class App:
    name: str  # also the prefix
    root: Path
    tree: dict[str, bytes]
    fingerprint: bool
    cache_control: str = "max-age=300"
    deploys: list[dict[str, str]] = field(default_factory=list)  # distinct, oldest first


class Soak:
    def __init__(self, endpoint: str, env: dict[str, str], work: Path, seed: int) -> None:
        self.rng = random.Random(seed)
        self.endpoint = endpoint
        self.upstream = int(endpoint.rsplit(":", 1)[1])
        self.env = env
        self.work = work
        self.bucket = f"soak-{secrets.token_hex(6)}"
        self.fig = Figures()
        self.counter = 0
        self.client = make_client(endpoint, env)
        self.client.create_bucket(Bucket=self.bucket)
        self.foreign: dict[str, str] = {}
        for key in FOREIGN_OUTSIDE + FOREIGN_INSIDE:
            body = f"not flask-s3's: {key}".encode()
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body)
            self.foreign[key] = hashlib.md5(body).hexdigest()
        self.apps = [self.make_app("a", True), self.make_app("b", False)]

    # -- trees -----------------------------------------------------------------------------

    def make_app(self, name: str, fingerprint: bool) -> App:
        app = App(name, self.work / name, {}, fingerprint)
        for _ in range(self.rng.randint(40, 80)):
            app.tree[self.new_name(app)] = self.content()
        if not fingerprint:
            app.tree[BIG] = self.rng.randbytes(9 * 1024 * 1024)  # two parts of 8 MiB and less
        self.write_project(app, app.root, app.tree)
        return app

    def new_name(self, app: App) -> str:
        while True:
            folder = self.rng.choice(FOLDERS)
            base = self.rng.choice(NAMES) + (
                str(self.rng.randint(0, 99)) if self.rng.random() < 0.7 else ""
            )
            rel = f"{folder}/{base}{self.rng.choice(EXTS)}".lstrip("/")
            if rel not in app.tree:
                return rel

    def content(self) -> bytes:
        words = [
            self.rng.choice(["body", "{", "}", "color", "red", ";", "x", "42", "\n"])
            for _ in range(self.rng.randint(1, 400))
        ]
        return " ".join(words).encode() + secrets.token_hex(4).encode()

    def change(self, app: App, tree: dict[str, bytes], count: int) -> None:
        for _ in range(count):
            roll = self.rng.random()
            names = sorted(k for k in tree if k != BIG)
            if roll < 0.3 or not names:
                tree[self.new_name(app)] = self.content()
            elif roll < 0.65:
                tree[self.rng.choice(names)] = self.content()
            elif roll < 0.85:
                del tree[self.rng.choice(names)]
            else:
                old = self.rng.choice(names)
                tree[self.new_name(app)] = tree.pop(old)
        if BIG in tree and self.rng.random() < 0.05:
            tree[BIG] = self.rng.randbytes(9 * 1024 * 1024)

    def write_project(self, app: App, root: Path, tree: dict[str, bytes]) -> None:
        static = root / "static"
        static.mkdir(parents=True, exist_ok=True)
        (root / "soakapp.py").write_text(APP)
        assets = {
            "prune": True,
            "max_delete": 100000,
            "headers": {"Cache-Control": app.cache_control},
        }
        if app.fingerprint:
            assets["fingerprint"] = {"enabled": True, "keep": 2}
            assets["gzip"] = {"enabled": True}
        spec = {
            "version": 1,
            "app": "soakapp:create_app()",
            "bucket": {
                "name": self.bucket,
                "endpoint_url": "${SOAK_ENDPOINT}",
                "region": "us-east-1",
            },
            "urls": {"prefix": app.name},
            "assets": assets,
            "upload": {"concurrency": 4, "multipart_threshold": MULTIPART},
        }
        (root / "deploy.yaml").write_text(json.dumps(spec, indent=1))
        on_disk = {
            p.relative_to(static).as_posix(): p
            for p in static.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        }
        for rel, path in on_disk.items():
            if rel not in tree:
                path.unlink()
        for rel, data in tree.items():
            path = static / rel
            if rel in on_disk and path.read_bytes() == data:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    # -- running flask-s3 -------------------------------------------------------------------

    def start(self, root: Path, proxy: FaultProxy | None, *args: str) -> subprocess.Popen[str]:
        env = dict(self.env, SOAK_ENDPOINT=proxy.endpoint_url if proxy else self.endpoint)
        return subprocess.Popen(
            [sys.executable, "-m", "flask_s3", *args],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finish(self, child: subprocess.Popen[str], what: str, allowed: set[int]) -> int:
        try:
            out, err = child.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            child.kill()
            out, err = child.communicate()
            self.violation(f"{what}: hung for 300 s")
        code = child.returncode
        self.fig.exits[code] += 1
        if code not in allowed:
            self.violation(f"{what}: exit {code} (allowed {sorted(allowed)}): {tail(err)}")
        if "Traceback" in err or "Traceback" in out:
            self.violation(f"{what}: traceback: {tail(err)}")
        return code

    def run(
        self, root: Path, what: str, *args: str, allowed: frozenset[int] = frozenset({0})
    ) -> int:
        return self.finish(self.start(root, None, *args), what, set(allowed))

    def proxy(self, rate: float) -> FaultProxy:
        proxy = FaultProxy(self.upstream)
        proxy.delay = 0.05
        rng = random.Random(self.rng.random())
        lock = threading.Lock()

        def policy(method: str, path: str, n: int) -> str:
            with lock:
                if rng.random() >= rate:
                    return "pass"
                return rng.choice(FAULTS)

        proxy.policy = policy
        return proxy

    def close(self, proxy: FaultProxy) -> None:
        proxy.close()
        self.fig.requests += len(proxy.seen)
        for _, _, verdict in proxy.seen:
            if verdict != "pass":
                self.fig.faults[verdict] += 1

    # -- rounds -----------------------------------------------------------------------------

    def round(self) -> None:
        self.fig.rounds += 1
        kind = self.rng.choices(["faults", "kill", "pair"], weights=[5, 3, 2])[0]
        apps = self.apps if self.rng.random() < 0.3 else [self.rng.choice(self.apps)]
        for app in apps:
            self.change(app, app.tree, self.rng.randint(3, 30))
            if not app.fingerprint and self.rng.random() < 0.15:
                app.cache_control = f"max-age={self.rng.choice([60, 300, 3600])}"
            self.write_project(app, app.root, app.tree)
            if kind == "pair":
                self.pair(app)
                continue
            with self.watching(app):
                if kind == "faults":
                    self.faulty_apply(app)
                else:
                    self.killed_apply(app)
                self.clean_apply(app)
            self.check(app)

    def faulty_apply(self, app: App) -> None:
        proxy = self.proxy(self.rng.choice([0.0, 0.05, 0.1, 0.2, 0.35, 0.5]))
        try:
            self.fig.applies += 1
            child = self.start(app.root, proxy, "apply", "deploy.yaml")
            if self.finish(child, f"{app.name}: apply with faults", {0, 1}) == 0:
                self.deployed(app)
        finally:
            self.close(proxy)

    def killed_apply(self, app: App) -> None:
        proxy = self.proxy(self.rng.choice([0.0, 0.1]))
        sig = self.rng.choice([signal.SIGKILL, signal.SIGINT, signal.SIGTERM])
        try:
            self.fig.applies += 1
            child = self.start(app.root, proxy, "apply", "deploy.yaml")
            time.sleep(self.rng.uniform(0.3, 2.5))
            if child.poll() is None:
                child.send_signal(sig)
                self.fig.kills[sig.name] += 1
            allowed = {0, 1, -signal.SIGKILL if sig == signal.SIGKILL else 128 + sig}
            self.finish(child, f"{app.name}: apply sent {sig.name}", allowed)
        finally:
            self.close(proxy)

    def clean_apply(self, app: App) -> None:
        self.fig.applies += 1
        if self.run(app.root, f"{app.name}: clean apply", "apply", "deploy.yaml") == 0:
            self.deployed(app)

    def pair(self, app: App) -> None:
        """Two trees of one app applied at once: both succeed, one after the other."""
        self.fig.pairs += 1
        alt_tree = dict(app.tree)
        self.change(app, alt_tree, self.rng.randint(1, 5))
        alt_tree[f"alt-{self.fig.rounds}.txt"] = self.content()
        alt_root = self.work / f"{app.name}-alt"
        if alt_root.exists():
            shutil.rmtree(alt_root)
        self.write_project(app, alt_root, alt_tree)
        writes: dict[str, list[float]] = {"main": [], "alt": []}
        proxies = {}
        children = {}
        for which, root in self.rng.sample([("main", app.root), ("alt", alt_root)], 2):
            proxy = self.proxy(0.0)  # no faults: both must succeed, one after the other
            proxy.on_request = recorder(writes[which])
            proxies[which] = proxy
            self.fig.applies += 1
            children[which] = self.start(root, proxy, "apply", "deploy.yaml")
            time.sleep(self.rng.uniform(0, 0.4))
        codes = {
            w: self.finish(c, f"{app.name}: concurrent apply ({w})", {0})
            for w, c in children.items()
        }
        for proxy in proxies.values():
            self.close(proxy)
        spans = {w: (min(t), max(t)) for w, t in writes.items() if t}
        if len(spans) == 2:
            (first, a), (second, b) = sorted(spans.items(), key=lambda item: item[1][0])
            if b[0] < a[1]:
                self.violation(
                    f"{app.name}: two writers at once ({first} until {a[1]:.3f}, "
                    f"{second} from {b[0]:.3f})"
                )
            order = [first, second]
        else:
            order = list(spans)
        for which in order:
            if codes[which] == 0:
                self.deployed(
                    app,
                    alt_tree if which == "alt" else app.tree,
                    alt_root if which == "alt" else app.root,
                )
        self.check(
            app,
            alt_tree if order and order[-1] == "alt" else app.tree,
            alt_root if order and order[-1] == "alt" else app.root,
            plan=False,
        )
        with self.watching(app):
            self.clean_apply(app)
        self.check(app)

    # -- the invariants ---------------------------------------------------------------------

    def expected(self, app: App, tree: dict[str, bytes], root: Path) -> dict[str, str]:
        """key -> MD5 of the file's bytes, as the app's url_for would name it."""
        names: dict[str, str] = {}
        manifest = root / "static" / ".flask-s3-manifest.json"
        if app.fingerprint and manifest.exists():
            names = json.loads(manifest.read_text())["files"]
        out = {}
        for rel, data in tree.items():
            logical = f"static/{rel}"
            out[f"{app.name}/{names.get(logical, logical)}"] = hashlib.md5(data).hexdigest()
        return out

    def deployed(
        self, app: App, tree: dict[str, bytes] | None = None, root: Path | None = None
    ) -> None:
        deploy = self.expected(app, tree if tree is not None else app.tree, root or app.root)
        app.deploys = [d for d in app.deploys if d != deploy] + [deploy]

    def check(
        self,
        app: App,
        tree: dict[str, bytes] | None = None,
        root: Path | None = None,
        plan: bool = True,
    ) -> None:
        tree = tree if tree is not None else app.tree
        root = root or app.root
        want = self.expected(app, tree, root)
        stored = self.listing(f"{app.name}/static/")
        promised = app.deploys[-2:] if app.fingerprint else app.deploys[-1:]
        allowed = set(want) | {k for d in promised for k in d} | set(FOREIGN_INSIDE)
        for key in sorted(set(stored) - allowed):
            self.violation(f"{app.name}: {key!r} stored, in no kept deploy")
        for deploy in promised:
            for key, md5 in deploy.items():
                self.fetch_check(app, key, md5, "kept deploy")
        for key, md5 in want.items():
            headers = self.fetch_check(app, key, md5, "tree")
            if headers is None:
                continue
            cache = IMMUTABLE if app.fingerprint else app.cache_control
            if headers.get("cache-control") != cache:
                self.violation(
                    f"{app.name}: {key!r} Cache-Control {headers.get('cache-control')!r}, "
                    f"not {cache!r}"
                )
        everything = self.listing("")
        for key, md5 in self.foreign.items():
            if everything.get(key) != md5:
                self.violation(f"foreign object {key!r} touched")
        for key in everything:
            if (
                not key.startswith(("a/static/", "b/static/", "a/.flask-s3/", "b/.flask-s3/"))
                and key not in self.foreign
            ):
                self.violation(f"{key!r} written outside the roots")
        for lock in ("a/.flask-s3/lock.json", "b/.flask-s3/lock.json"):
            if lock in everything and not lock_is_free(self.client, self.bucket, lock):
                self.violation(f"{lock} left held after a clean apply")
        if plan:
            code = self.run(
                root,
                f"{app.name}: plan after apply",
                "plan",
                "deploy.yaml",
                "--detailed-exitcode",
                allowed=frozenset({0, 2}),
            )
            if code == 2:
                self.violation(f"{app.name}: the plan after a clean apply is not a no-op")

    def fetch_check(self, app: App, key: str, md5: str, what: str) -> dict[str, str] | None:
        status, headers, body = self.fetch(key)
        if status != 200:
            self.violation(f"{app.name}: {what} {key!r}: HTTP {status}")
            return None
        if headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        if hashlib.md5(body).hexdigest() != md5:
            self.violation(f"{app.name}: {what} {key!r}: other bytes")
            return None
        return headers

    def fetch(self, key: str) -> tuple[int, dict[str, str], bytes]:
        """What a browser would get for ``key`` (signed: the bucket is not public here)."""
        from botocore.exceptions import ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            return int(status), {}, b""
        headers = {
            k.lower(): v for k, v in answer["ResponseMetadata"].get("HTTPHeaders", {}).items()
        }
        return 200, headers, answer["Body"].read()

    def listing(self, prefix: str) -> dict[str, str]:
        found = {}
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        for page in pages:
            for obj in page.get("Contents", []):
                found[obj["Key"]] = obj["ETag"].strip('"')
        return found

    def watching(self, app: App) -> Any:
        """While an apply runs, a browser keeps loading the current deploy's pages."""
        soak = self
        current = dict(app.deploys[-1]) if app.fingerprint and app.deploys else {}

        class Watch:
            def __enter__(self) -> None:
                self.stop = threading.Event()
                self.thread = threading.Thread(target=self.look, daemon=True)
                self.thread.start()

            def look(self) -> None:
                keys = sorted(current)
                rng = random.Random(len(keys))
                while keys and not self.stop.wait(0.05):
                    key = rng.choice(keys)
                    status, headers, body = soak.fetch(key)
                    soak.fig.page_checks += 1
                    if headers.get("content-encoding") == "gzip" and status == 200:
                        body = gzip.decompress(body)
                    if status != 200 or hashlib.md5(body).hexdigest() != current[key]:
                        soak.fig.broken_pages += 1
                        soak.violation(
                            f"{app.name}: page asset {key!r} broken during an apply (HTTP {status})"
                        )

            def __exit__(self, *exc: object) -> None:
                self.stop.set()
                self.thread.join()

        return Watch()

    def violation(self, text: str) -> None:
        self.fig.violations.append(f"round {self.fig.rounds}: {text}")
        print(f"VIOLATION round {self.fig.rounds}: {text}", file=sys.stderr, flush=True)


def recorder(times: list[float]) -> Any:
    def record(head: bytes, body: bytes) -> None:
        method, path = head.split(b" ", 2)[:2]
        if method in (b"PUT", b"POST", b"DELETE") and b"lock.json" not in path:
            times.append(time.monotonic())
        time.sleep(0.02)  # slower requests: the two applies overlap for longer

    return record


def tail(text: str) -> str:
    return " | ".join(text.strip().splitlines()[-4:])[:600]


def make_client(endpoint: str, env: dict[str, str]) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        config=Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def child_env(access_key: str, secret_key: str, work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FLASK_", "S3_"))}
    env.update(
        AWS_ACCESS_KEY_ID=access_key,
        AWS_SECRET_ACCESS_KEY=secret_key,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(work / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(work / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        FLASK_S3_CACHE_DIR=str(work / "cache"),
        PYTHONPATH=os.pathsep.join(
            [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")]
        ),
    )
    return env


def soak(
    endpoint: str, env: dict[str, str], work: Path, rounds: int, seed: int, seconds: float
) -> Figures:
    """Run up to ``rounds`` rounds (stopping after ``seconds``); the figures."""
    runner = Soak(endpoint, env, work, seed)
    for app in runner.apps:
        runner.clean_apply(app)
        runner.check(app)
    started = time.monotonic()
    while runner.fig.rounds < rounds and time.monotonic() - started < seconds:
        runner.round()
        if runner.fig.rounds % 10 == 0:
            print(
                f"round {runner.fig.rounds}: {time.monotonic() - started:.0f} s, "
                f"{len(runner.fig.violations)} violations",
                file=sys.stderr,
                flush=True,
            )
    return runner.fig


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=float("inf"), help="stop after this long")
    parser.add_argument("--endpoint", help="an S3 endpoint to use instead of a fresh SeaweedFS")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="flask-s3-soak-") as tmp:
        work = Path(tmp)
        if args.endpoint:
            env = child_env(
                os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"], work
            )
            figures = soak(args.endpoint, env, work, args.rounds, args.seed, args.seconds)
        else:
            from flask_s3.tools.seaweedfs import LocalS3

            server = LocalS3(
                work / "weed",
                access_key="SOAK" + secrets.token_hex(6).upper(),
                secret_key=secrets.token_urlsafe(30),
            )
            server.start()
            try:
                env = child_env(server.access_key or "", server.secret_key or "", work)
                figures = soak(server.endpoint_url, env, work, args.rounds, args.seed, args.seconds)
            finally:
                server.stop()
    print(f"soak (seed {args.seed})")
    print(figures.report(time.monotonic() - started))
    return 1 if figures.violations else 0


if __name__ == "__main__":
    sys.exit(main())
