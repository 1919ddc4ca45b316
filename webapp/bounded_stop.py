"""A stop that cannot hang: once a process is asked to stop, it ends within a bound.

``make run`` promises that nothing outlives it, even when the launcher is killed outright (its
children then get SIGTERM from the kernel, and nobody follows with SIGKILL); Heroku sends SIGKILL
30 s after SIGTERM without a word about what held the process. Both a bot process and the sandbox
were seen, in rare test runs, to outlive a killed launcher by more than a minute, for causes not
yet known: so past the bound the process prints every thread's stack (what held it) and exits.
"""

import faulthandler
import os
import threading
import time
from typing import TextIO


def exit_if_stop_hangs(stopping: threading.Event, seconds: float, name: str,
                       out: TextIO) -> threading.Thread:
    """Once ``stopping`` is set, give the process ``seconds`` to end; past them, write every
    thread's stack to ``out`` and exit with status 0 (the stop was asked for)."""

    def watch() -> None:
        stopping.wait()
        time.sleep(seconds)
        try:
            print(f"{name} did not stop in time; exiting anyway. Its threads:", file=out,
                  flush=True)
            faulthandler.dump_traceback(out, all_threads=True)
        except (OSError, ValueError):
            # The launcher that read this output is gone (a broken pipe, a closed stream): the
            # report must not keep the process from exiting.
            pass
        os._exit(0)

    # A daemon: a process that ends in time ends with it, at any point of its exit.
    watchdog = threading.Thread(target=watch, name="stop-watchdog", daemon=True)
    watchdog.start()
    return watchdog
