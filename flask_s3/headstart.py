"""A head start for ``plan SPEC`` and ``apply SPEC``: the spec read and the lock-free look sent
before the command line (click) is imported.

The look's listing is the store's work: at 40 ms RTT a 2,000-key no-op waited about 0.2 s on
it, and it was sent 0.3 s after the process began, once click, our command line, the spec and
the store were imported and read. The listing needs the spec alone. Sent first (the interpreter,
the spec, the store: about a third of that), the store lists on the other core while this
process imports click and the app; the process's own work is the same, only in another order.

The command line is still click's to parse: this reads the arguments only to the extent of
finding the SPEC of ``plan`` or ``apply`` among options it knows (``tests/test_headstart.py``
holds its table to the commands' own), and does nothing for anything else (``--plan``, whose
saved plan is checked before anything is sent; ``--help``; an option it does not know). What it
starts is claimed by ``cli.take_snapshot`` for the same SPEC; a spec that does not load here is
simply loaded again there, where its error is told as ever.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .remote.early import EarlyLook
    from .s3.store import Store
    from .spec import Spec

# Options of the two commands that take a value, and flags. `--plan` is left out on purpose:
# with it nothing is started.
VALUED = {"apply": {"--app", "--lock-timeout"}, "plan": {"--app", "--format", "--out"}}
FLAGS = {
    "apply": {"--force-refresh", "--wait", "--verify"},
    "plan": {"--detailed-exitcode", "--force-refresh", "--strict"},
}
# How long the main thread lets the look go out before it imports the rest: opening the store
# takes a few tens of milliseconds of CPU; a credential provider that takes longer (an instance
# metadata lookup off EC2 times out after seconds) is not waited for: the look then goes out
# beside the imports, as it did before, and the run is at most this much later than then.
WAIT = 0.1

Started = tuple["Spec", "EarlyLook", Callable[[], "Store"]]
_started: dict[str, Started] = {}


def spec_argument(argv: Sequence[str]) -> str | None:
    """The SPEC of a ``plan``/``apply`` command line made only of options known here, or None."""
    if not argv or argv[0] not in VALUED:
        return None
    command, rest = argv[0], list(argv[1:])
    positional: list[str] = []
    index = 0
    while index < len(rest):
        arg = rest[index]
        if arg == "--":
            positional += rest[index + 1 :]
            break
        if arg.startswith("-") and arg != "-":
            name, equals, _value = arg.partition("=")
            if name in VALUED[command]:
                index += 1 if equals else 2
                continue
            if name in FLAGS[command] and not equals:
                index += 1
                continue
            return None  # --plan, --help, or an option this does not know: click decides
        positional.append(arg)
        index += 1
    return positional[0] if len(positional) == 1 else None


def begin(argv: Sequence[str]) -> None:
    """Read the spec and send the lock-free look, when ``argv`` is a plan or apply of a SPEC.

    Never raises: anything that goes wrong here is met again, and told, by the command."""
    spec_path = spec_argument(argv)
    if spec_path is None:
        return
    try:
        from .deployer.memory import fewer_arenas, fewer_collections
        from .spec import load_spec

        fewer_arenas()  # before the first thread
        fewer_collections()
        spec = load_spec(spec_path)
        from .remote.early import EarlyLook
        from .s3.reach import opening

        look = EarlyLook(spec)
        sent = threading.Event()

        def start(store: Store) -> bool:
            try:
                return look.start(store)
            finally:
                sent.set()

        future = opening(spec, start)
        future.add_done_callback(lambda _done: sent.set())  # opening failed: nothing to wait for
    except Exception:  # the command loads the spec again and says what is wrong
        return
    _started[spec_path] = (spec, look, future.result)
    sent.wait(WAIT)  # the look's requests leave before this thread takes the CPU back


def claim(spec_path: str) -> Started | None:
    """What ``begin`` started for ``spec_path`` (once), or None."""
    started = _started.pop(spec_path, None)
    _started.clear()  # started for another SPEC than the command's: not used
    return started
