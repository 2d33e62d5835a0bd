"""Where a Ctrl-C lands: never inside the import system's locks, and never lost."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# A stand-in for CPython's module-lock weakref callback (importlib._bootstrap._get_module_lock's
# ``cb``): it takes a lock and only then enters its ``try``. The signal arrives between the two,
# as it did in the soak (the process then hung for 300 s with the import lock held).
SCRIPT = textwrap.dedent(
    """
    import signal, threading, time, weakref
    from flask_s3.deployer.interrupt import Interrupted, handlers

    lock = threading.Lock()
    callback = '''
    def cb(ref):
        lock.acquire()
        signal.raise_signal(signal.SIGINT)
        try:
            pass
        finally:
            lock.release()
    '''
    space = {"lock": lock, "signal": signal}
    exec(compile(callback, "<frozen importlib._bootstrap>", "exec"), space)

    class Thing:
        pass

    with handlers():
        try:
            thing = Thing()
            ref = weakref.ref(thing, space["cb"])
            del thing  # the callback runs here, and the signal lands inside it
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                pass
            print("not stopped")
        except Interrupted:
            print("stopped")
    print("lock free" if lock.acquire(timeout=1) else "lock held")
    """
)


def test_a_stop_inside_the_import_lock_waits_until_it_is_released():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["stopped", "lock free"], (done.stdout, done.stderr)
    assert "Exception ignored" not in done.stderr


def test_a_stop_swallowed_by_a_callback_is_raised_again():
    # Any weakref callback (here not the import system's): Python swallows what it raises.
    script = SCRIPT.replace('"<frozen importlib._bootstrap>"', '"<callback>"')
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.split("\n")[:1] == ["stopped"], (done.stdout, done.stderr)
    assert "Exception ignored" not in done.stderr


def test_a_stop_elsewhere_is_raised_at_once():
    script = textwrap.dedent(
        """
        import signal
        from flask_s3.deployer.interrupt import Interrupted, handlers

        with handlers():
            try:
                signal.raise_signal(signal.SIGINT)  # raised right here, not from the timer
                print("not stopped")
            except Interrupted:
                print("stopped")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.split() == ["stopped"], (done.stdout, done.stderr)


def test_a_stop_inside_set_name_is_raised_after_the_class_is_made():
    # Python 3.10/3.11 turn anything raised under __set_name__ (a dataclass field with a
    # default_factory has one) into RuntimeError: the soak met a Ctrl-C there as a traceback.
    script = textwrap.dedent(
        """
        import signal
        from flask_s3.deployer.interrupt import Interrupted, handlers

        class Named:
            def __set_name__(self, owner, name):
                self.name = deeper()

        def deeper():
            signal.raise_signal(signal.SIGINT)
            return "field"

        with handlers():
            try:
                class Owner:
                    field = Named()
                print("made", Owner.field.name)
                while True:
                    pass
            except Interrupted:
                print("stopped")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.split("\n")[:2] == ["made field", "stopped"], (done.stdout, done.stderr)
    assert "RuntimeError" not in done.stderr


# The console script's first instruction installs a clean stop: a Ctrl-C while Python imports
# click, Flask and our modules (the first fifth of a second) says so and exits 130, where it
# used to print a KeyboardInterrupt traceback (exit 1) or click's "Aborted!". Python reports
# each import as it ends (PYTHONPROFILEIMPORTTIME), so the signal is sent at known points.
APP = textwrap.dedent(
    """
    from flask import Flask

    def create_app():
        return Flask(__name__)
    """
)


@pytest.mark.parametrize("after", ["click.core", "flask_s3.cli", "jinja2", "flask.app"])
def test_a_stop_while_the_console_script_imports_is_clean(tmp_path: Path, after: str) -> None:
    script = Path(sys.executable).parent / "flask-s3"
    assert script.exists(), "the console script is installed with the package"
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "x.txt").write_text("x")
    (tmp_path / "stopapp.py").write_text(APP)
    with socket.create_server(("127.0.0.1", 0)) as silent:  # connects, never answers
        port = silent.getsockname()[1]
        (tmp_path / "deploy.yaml").write_text(
            'version: 1\napp: "stopapp:create_app()"\n'
            "bucket: {name: stop-bucket, region: us-east-1, "
            f'endpoint_url: "http://127.0.0.1:{port}"}}\n'
        )
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "AKIDSTOP",
            "AWS_SECRET_ACCESS_KEY": "s",
            "PYTHONPROFILEIMPORTTIME": "1",
        }
        child = subprocess.Popen(
            [str(script), "apply", "deploy.yaml"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stderr is not None
        seen = []
        for line in child.stderr:
            seen.append(line)
            if line.rstrip().endswith(f"| {after}") or line.rstrip().endswith(f" {after}"):
                break
        child.send_signal(signal.SIGINT)
        _, rest = child.communicate(timeout=30)
    err = "".join(seen) + rest
    assert any(after in line for line in seen), f"{after} was never imported"
    assert child.returncode == 130, (child.returncode, rest)
    assert "Interrupted before anything was written to S3." in rest
    assert "Traceback" not in err and "Aborted" not in err, rest
