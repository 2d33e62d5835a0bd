"""Where a Ctrl-C lands: never inside the import system's locks, and never lost."""

from __future__ import annotations

import subprocess
import sys
import textwrap

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
