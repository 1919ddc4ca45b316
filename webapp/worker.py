"""The RQ worker process (``python -m webapp.worker``) and the app context jobs run in."""

import contextlib
import os

from flask import Flask

_app: Flask | None = None


def job_app() -> Flask:
    """One app per worker process, built on first use."""
    global _app
    if _app is None:
        from webapp import create_app

        _app = create_app(migrations=False)
    return _app


@contextlib.contextmanager
def app_context():
    """One unit of work: a fresh app context and session, removed afterwards."""
    from webapp.extensions import db

    app = job_app()
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()


def main(argv: list[str] | None = None) -> None:
    """Run the worker; ``--burst`` stops once the queue is empty (tests and one-off runs)."""
    import argparse

    from rq.worker import SimpleWorker

    from webapp.queues import QUEUE_NAME, redis_from_url
    from webapp.webhook import UPDATES_QUEUE

    parser = argparse.ArgumentParser(prog="python -m webapp.worker")
    parser.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    args = parser.parse_args(argv)
    url = os.environ.get("REDIS_URL")
    if not url:
        raise SystemExit("REDIS_URL is not set")
    # SimpleWorker runs jobs in this process: the app and its connection pool are built once
    # instead of forked into every job (TECH-NOTES: never carry connections across a fork).
    # Updates first: a person waits for each, while sweeps and deliveries can take a moment.
    worker = SimpleWorker([UPDATES_QUEUE, QUEUE_NAME], connection=redis_from_url(url))
    worker.work(burst=args.burst, with_scheduler=not args.burst)


if __name__ == "__main__":
    main()
