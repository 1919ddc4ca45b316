"""Typed access to Bot API request parameters, and the API error type."""

from __future__ import annotations

import base64
import contextlib
import json


class ApiError(Exception):
    """An error answer: {"ok": false, "error_code": ..., "description": ..., "parameters": ...}."""

    def __init__(self, error_code: int, description: str, parameters: dict | None = None):
        super().__init__(f"{error_code} {description}")
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict:
        out = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.parameters:
            out["parameters"] = dict(self.parameters)
        return out


def bad_request(text: str) -> ApiError:
    return ApiError(400, f"Bad Request: {text}")


def decode_params(raw: dict) -> dict:
    """Params for the call log: JSON-looking strings (objects/arrays) decoded."""
    out = {}
    for key, value in raw.items():
        if isinstance(value, str) and value[:1] in ("{", "["):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        out[key] = value
    return out


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", "", "none", "null"}


class Params:
    """Parameters arrive as strings (query/form/multipart) or typed values (JSON body)."""

    def __init__(self, raw: dict):
        self.raw = raw

    def __contains__(self, name):
        return name in self.raw and self.raw[name] is not None

    def str(self, name, default=None, required=False):
        value = self.raw.get(name)
        if value is None:
            if required:
                raise bad_request(f"{name} is empty")
            return default
        if isinstance(value, (dict, list)):
            return json.dumps(value)
        return str(value)

    def int(self, name, default=None, required=False):
        value = self.raw.get(name)
        if value is None or value == "":
            if required:
                raise bad_request(f"{name} is empty")
            return default
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        try:
            text = str(value).strip()
            return int(float(text)) if "." in text else int(text)
        except ValueError:
            raise bad_request(f"invalid {name} specified") from None

    def bool(self, name, default=False):
        value = self.raw.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)):
            return bool(value)
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise bad_request(f"invalid {name} specified")

    def json(self, name, default=None):
        value = self.raw.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, (dict, list)):
            return value
        try:
            return json.loads(value)
        except (ValueError, TypeError):
            raise bad_request(f"can't parse {name} JSON object") from None

    def chat_id(self, name="chat_id"):
        """int chat id, or '@username' string."""
        value = self.raw.get(name)
        if value is None or value == "":
            raise bad_request(f"{name} is empty")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        if text.startswith("@"):
            return text
        try:
            return int(text)
        except ValueError:
            raise bad_request("chat not found") from None


def strip_private(obj):
    """Deep copy without the emulator's private keys (those starting with '_')."""
    if isinstance(obj, dict):
        return {k: strip_private(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, list):
        return [strip_private(v) for v in obj]
    return obj


def jsonable(obj):
    """Deep copy with bytes turned into base64 text (for the HTTP control interface)."""
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (bytes, bytearray)):
        return base64.b64encode(bytes(obj)).decode("ascii")
    return obj


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2
