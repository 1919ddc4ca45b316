"""HTTP front end of the emulator: request parsing and routing (standard library only)."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

_BOT_PATH = re.compile(r"^/bot([^/]+)/([^/]*)$")
_FILE_PATH = re.compile(r"^/file/bot([^/]+)/(.+)$")
_CONTROL_PATH = re.compile(r"^/_emulator/([A-Za-z_]+)/?$")
# nginx's default large_client_header_buffers (8k) bounds the request line.
MAX_REQUEST_LINE = 8192
_REQUEST_URI_TOO_LARGE = (b"<html>\r\n<head><title>414 Request-URI Too Large</title></head>\r\n"
                          b"<body>\r\n<center><h1>414 Request-URI Too Large</h1></center>\r\n"
                          b"<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n")
_DISPOSITION_PARAM = re.compile(r';\s*([\w*.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def _parse_disposition(value: str) -> dict:
    out = {}
    tail = ";" + value.split(";", 1)[1] if ";" in value else ""
    for key, raw in _DISPOSITION_PARAM.findall(tail):
        raw = raw.strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        key = key.lower()
        if key.endswith("*"):  # RFC 5987: utf-8''percent-encoded
            _, _, encoded = raw.partition("''")
            out[key[:-1]] = unquote(encoded or raw)
        elif key not in out:
            out[key] = raw
    return out


def parse_multipart(body: bytes, content_type: str):
    """Return (fields, files, file_names) from a multipart/form-data body."""
    fields: dict = {}
    files: dict = {}
    file_names: dict = {}
    m = re.search(r'boundary="?([^";]+)"?', content_type, re.I)
    if not m:
        return fields, files, file_names
    delimiter = b"--" + m.group(1).strip().encode("latin-1")
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        if part.startswith(b"\r\n"):
            part = part[2:]
        head, sep, data = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        if data.endswith(b"\r\n"):
            data = data[:-2]
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, val = line.partition(":")
            headers[name.strip().lower()] = val.strip()
        disp = _parse_disposition(headers.get("content-disposition", ""))
        name = disp.get("name")
        if name is None:
            continue
        if "filename" in disp:
            files[name] = data
            file_names[name] = disp["filename"]
        else:
            fields[name] = data.decode("utf-8", "replace")
    return fields, files, file_names


def parse_request(query: str, content_type: str, body: bytes):
    """Merge query string, urlencoded/JSON/multipart body into (params, files, file_names)."""
    params: dict = dict(parse_qsl(query, keep_blank_values=True))
    files: dict = {}
    file_names: dict = {}
    ctype = (content_type or "").lower()
    if body:
        if ctype.startswith("multipart/form-data"):
            fields, files, file_names = parse_multipart(body, content_type)
            params.update(fields)
        elif ctype.startswith("application/json"):
            decoded = json.loads(body.decode("utf-8"))
            if not isinstance(decoded, dict):
                raise ValueError("JSON body must be an object")
            params.update(decoded)
        else:  # application/x-www-form-urlencoded or unspecified
            params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return params, files, file_names


def _json_bytes(payload) -> bytes:
    return json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "TelegramBotApiEmulator/1.0"

    def log_message(self, format, *args):  # noqa: A002 - silence default stderr logging
        pass

    def setup(self):
        super().setup()
        with contextlib.suppress(OSError):  # no Nagle/delayed-ACK stalls on keep-alive
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def do_GET(self):  # noqa: N802
        self._dispatch()

    def do_POST(self):  # noqa: N802
        self._dispatch()

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self._headers_buffer.append(b"\r\n" + body)  # headers and body in one write
        self.flush_headers()

    def _dispatch(self):
        emu = self.server.emulator
        body = self._read_body()
        if emu.strict and len(self.requestline) > MAX_REQUEST_LINE:
            # Telegram's nginx front refuses long URLs before the Bot API sees them.
            self.close_connection = True
            self._send(414, _REQUEST_URI_TOO_LARGE, "text/html")
            return
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        try:
            params, files, file_names = parse_request(
                parts.query, self.headers.get("Content-Type", ""), body
            )
        except (ValueError, UnicodeDecodeError) as exc:
            self._send(400, _json_bytes({"ok": False, "error_code": 400,
                                         "description": f"Bad Request: {exc}"}))
            return
        m = _BOT_PATH.match(path)
        if m:
            status, payload, disconnect = emu._handle_api(
                m.group(1), m.group(2), params, files, file_names
            )
            if disconnect:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            if isinstance(payload, str):
                self._send(status, payload.encode(), "text/html")
                return
            self._send(status, _json_bytes(payload))
            return
        m = _FILE_PATH.match(path)
        if m:
            data = emu._download(m.group(1), m.group(2))
            if data is None:
                self._send(404, _json_bytes({"ok": False, "error_code": 404,
                                             "description": "Not Found"}))
            else:
                self._send(200, data, "application/octet-stream")
            return
        m = _CONTROL_PATH.match(path)
        if m:
            status, payload = emu._handle_control(m.group(1), params, files)
            self._send(status, _json_bytes(payload))
            return
        self._send(404, _json_bytes({"ok": False, "error_code": 404, "description": "Not Found"}))


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address, emulator):
        self.emulator = emulator
        self._connections: set = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn, add: bool):
        with self._conn_lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_all_connections(self):
        with self._conn_lock:
            conns = list(self._connections)
            self._connections.clear()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
