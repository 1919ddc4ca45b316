"""The HTTP under pyTelegramBotAPI: every Bot API request of the process goes through ``send``.

A Bot API call is a small JSON POST, and requests spends more CPU around one than the request
itself takes: it merges settings, cookies and hooks, re-parses the URL and builds a full
response. So a JSON call goes straight to urllib3 (which requests sends through anyway), with
requests' own timeouts, no retries and its exceptions, so ``webapp.telegram.call`` tells a
connection that never opened from an answer that was lost exactly as before. Uploads (multipart)
and a deployment that needs the environment's proxy or netrc settings keep the requests session.

One pool per thread, as requests' sessions were: a poller's long poll never waits for a
connection another thread holds.
"""

import json
import os
import threading
import urllib.request

import requests
import urllib3
from requests.adapters import DEFAULT_CA_BUNDLE_PATH
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    ResponseError,
)
from urllib3.exceptions import HTTPError as Urllib3HTTPError
from urllib3.exceptions import ProxyError as Urllib3ProxyError
from urllib3.exceptions import SSLError as Urllib3SSLError

_local = threading.local()
_NETRC_FILES = ("~/.netrc", "~/_netrc")
# What requests' HTTPAdapter asks of urllib3: no retry of its own, a read error raised as is.
_NO_RETRIES = urllib3.Retry(0, read=False)
_JSON = {"Content-Type": "application/json", "Accept": "*/*", "User-Agent": "Admit"}


def environment_settings() -> tuple[bool, str | bool]:
    """Whether requests must read the environment per call (a proxy or a netrc file is set),
    and the CA bundle to verify with."""
    netrc = os.environ.get("NETRC") or any(
        os.path.exists(os.path.expanduser(name)) for name in _NETRC_FILES
    )
    if urllib.request.getproxies() or netrc:
        return True, True
    return False, os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


def new_session() -> requests.Session:
    """An HTTP session that reads the environment's settings once, not on every call.

    requests looks up proxies (a scan of every environment variable), a CA bundle and netrc
    credentials again for each request: about a tenth of the bot's CPU per update. Without a
    proxy or a netrc file in the environment there is nothing to find, so the session stops
    looking; with one, it keeps looking per call, so ``NO_PROXY`` and the rest apply as ever.
    """
    session = requests.Session()
    trust_env, verify = environment_settings()
    if not trust_env:
        session.trust_env = False
        session.verify = verify
    return session


class Answer:
    """The Bot API's answer: what pyTelegramBotAPI and ``webapp.telegram`` read of a
    ``requests.Response``."""

    def __init__(self, status_code: int, reason: str | None, content: bytes):
        self.status_code = status_code
        self.reason = reason
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.content)


def send(method, url, params=None, files=None, timeout=None, proxies=None):
    """One Bot API request (pyTelegramBotAPI's ``CUSTOM_REQUEST_SENDER``): the parameters in
    a JSON body, never in the URL; files as multipart."""
    pool = _thread_pool()
    if files or proxies or pool is None:
        session = _thread_session()
        if files:
            return session.post(url, data=params, files=files, timeout=timeout, proxies=proxies)
        return session.post(url, json=params or {}, timeout=timeout, proxies=proxies)
    return post_json(pool, url, json.dumps(params or {}).encode(), timeout)


def _thread_pool() -> urllib3.PoolManager | None:
    """This thread's pool for JSON calls, or None where the environment's proxy or netrc
    settings apply (requests reads them)."""
    if not hasattr(_local, "pool"):
        trust_env, verify = environment_settings()
        # Without a proxy, ``verify`` is the CA bundle's path or True: never off.
        _local.pool = None if trust_env else urllib3.PoolManager(
            ca_certs=verify if isinstance(verify, str) else DEFAULT_CA_BUNDLE_PATH,
            cert_reqs="CERT_REQUIRED",
        )
    return _local.pool


def _thread_session() -> requests.Session:
    # Only uploads and proxied deployments need one: a requests session in each of a fleet's
    # 1,000 polling threads was 6 MiB that plain JSON calls never used.
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = new_session()
    return session


def post_json(pool: urllib3.PoolManager, url: str, body: bytes, timeout) -> Answer:
    """POST ``body`` to ``url``; failures raised as the requests exceptions requests' own
    HTTPAdapter raises for them (the same mapping, for the same urllib3 errors)."""
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    try:
        answer = pool.urlopen(
            "POST",
            url,
            body=body,
            headers=_JSON,
            redirect=False,
            assert_same_host=False,
            retries=_NO_RETRIES,
            timeout=urllib3.Timeout(connect=connect, read=read),
        )
    except (ProtocolError, OSError) as err:
        raise requests.ConnectionError(err) from err
    except MaxRetryError as e:
        if isinstance(e.reason, ConnectTimeoutError) and not isinstance(
            e.reason, NewConnectionError
        ):
            raise requests.ConnectTimeout(e) from e
        if isinstance(e.reason, ResponseError):
            raise requests.exceptions.RetryError(e) from e
        if isinstance(e.reason, Urllib3ProxyError):
            raise requests.exceptions.ProxyError(e) from e
        if isinstance(e.reason, Urllib3SSLError):
            raise requests.exceptions.SSLError(e) from e
        raise requests.ConnectionError(e) from e
    except ClosedPoolError as e:
        raise requests.ConnectionError(e) from e
    except Urllib3SSLError as e:
        raise requests.exceptions.SSLError(e) from e
    except ReadTimeoutError as e:
        raise requests.ReadTimeout(e) from e
    except Urllib3HTTPError as e:
        # A body cut short and the like: the answer was lost on the way (requests' ChunkedEncoding
        # and ContentDecoding errors are ConnectionErrors too).
        raise requests.ConnectionError(e) from e
    return Answer(answer.status, answer.reason, answer.data)
