"""``python -m bot``: placeholder until the membership bot lands (issue 4)."""

import signal
import threading

stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
signal.signal(signal.SIGINT, lambda *_: stop.set())
print("bot: waiting (the membership bot is not built yet)", flush=True)
stop.wait()
