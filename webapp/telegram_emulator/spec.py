"""Every Bot API call checked against the published specification (``spec/api.json``).

The real server ignores parameters it does not know and reads malformed values as defaults, so a
call that names a parameter wrongly "works" there while doing something else than its author
thinks. The emulator refuses such calls and records them as violations; the test fixtures fail
the test on any. What is checked: the method exists, every parameter is one the method has, the
required ones are there, and each value has the declared type (JSON objects and arrays field by
field, as far as the specification describes them).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

SPEC_FILE = Path(__file__).resolve().parent / "spec" / "api.json"
_INTEGER = re.compile(r"^-?\d+$")
_FLOAT = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")
_BOOLEAN_TEXT = {"true", "false", "1", "0"}
# How deep objects are checked field by field; deeper values are only checked to be JSON.
_MAX_DEPTH = 6


@functools.cache
def specification() -> dict:
    return json.loads(SPEC_FILE.read_text(encoding="utf-8"))


@functools.cache
def _methods_by_lower_name() -> dict:
    return {name.lower(): method for name, method in specification()["methods"].items()}


def method_spec(method: str) -> dict | None:
    """The method's specification (Telegram's method names are case-insensitive)."""
    return _methods_by_lower_name().get(method.lower())


def check_call(method: str, params: dict, files: dict) -> list[str]:
    """What is wrong with one call, in words; empty when the specification allows it."""
    spec = method_spec(method)
    if spec is None:
        return [f"{method}: no such method in the Bot API {specification()['version']}"]
    problems = []
    fields = {f["name"]: f for f in spec.get("fields", [])}
    for name in list(params) + [n for n in files if n not in params]:
        if name not in fields:
            if name in files and _attached(name, params):
                continue  # an upload referenced as attach://<name>
            problems.append(f"{spec['name']}: unknown parameter {name!r}")
            continue
        if name in files:
            if "InputFile" not in fields[name]["types"]:
                problems.append(f"{spec['name']}.{name}: a file upload where "
                                f"{' or '.join(fields[name]['types'])} is expected")
            continue
        value = params[name]
        if value is None:
            continue
        error = _check_value(value, fields[name]["types"], from_text=isinstance(value, str))
        if error:
            problems.append(f"{spec['name']}.{name}: {error}")
    for name, field in fields.items():
        if field["required"] and params.get(name) in (None, "") and name not in files:
            problems.append(f"{spec['name']}: required parameter {name!r} is missing")
    return problems


def _attached(name: str, params: dict) -> bool:
    needle = f"attach://{name}"
    return any(isinstance(v, str) and needle in v for v in params.values())


def _check_value(value, types: list[str], from_text: bool, depth: int = 0) -> str | None:
    """None if ``value`` fits one of ``types``; otherwise why not."""
    errors = []
    for type_name in types:
        error = _check_one(value, type_name, from_text, depth)
        if error is None:
            return None
        errors.append(error)
    return errors[0] if len(errors) == 1 else " / ".join(errors)


def _check_one(value, type_name: str, from_text: bool, depth: int) -> str | None:
    if type_name.startswith("Array of "):
        inner = type_name[len("Array of "):]
        value, error = _decoded(value, from_text, list)
        if error:
            return error
        for item in value:
            error = _check_value(item, [inner], from_text=False, depth=depth + 1)
            if error:
                return f"in an array: {error}"
        return None
    if type_name == "Integer":
        if isinstance(value, bool):
            return f"{value!r} is not an Integer"
        if isinstance(value, int) or (isinstance(value, str) and _INTEGER.match(value.strip())):
            return None
        return f"{value!r} is not an Integer"
    if type_name == "Float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return None
        if isinstance(value, str) and _FLOAT.match(value.strip()):
            return None
        return f"{value!r} is not a Float"
    if type_name == "Boolean":
        if isinstance(value, bool) or (isinstance(value, str) and value.lower() in _BOOLEAN_TEXT):
            return None
        return f"{value!r} is not a Boolean (true or false)"
    if type_name == "String":
        if isinstance(value, str):
            return None
        return f"{value!r} is not a String"
    if type_name == "InputFile":
        return None if isinstance(value, str) else f"{value!r} is not a file reference"
    return _check_object(value, type_name, from_text, depth)


def _decoded(value, from_text: bool, kind: type):
    if isinstance(value, str) and from_text:
        try:
            value = json.loads(value)
        except ValueError:
            return None, f"{value[:40]!r} is not JSON"
    if not isinstance(value, kind):
        return None, f"{str(value)[:40]!r} is not a JSON {'array' if kind is list else 'object'}"
    return value, None


def _check_object(value, type_name: str, from_text: bool, depth: int) -> str | None:
    spec = specification()["types"].get(type_name)
    if spec is None:
        return f"unknown type {type_name}"
    value, error = _decoded(value, from_text, dict)
    if error:
        return error
    if depth >= _MAX_DEPTH:
        return None
    if spec.get("subtypes"):
        errors = [_check_object(value, sub, False, depth) for sub in spec["subtypes"]]
        if any(e is None for e in errors):
            return None
        return f"{type_name} fits none of its kinds ({errors[0]})"
    fields = {f["name"]: f for f in spec.get("fields", [])}
    for name, item in value.items():
        if name not in fields:
            return f"{type_name} has no field {name!r}"
        error = _check_value(item, fields[name]["types"], from_text=False, depth=depth + 1)
        if error:
            return f"{type_name}.{name}: {error}"
    for name, field in fields.items():
        if field["required"] and name not in value:
            return f"{type_name} lacks its required field {name!r}"
    if "type" in fields and "type" in value:
        # Subtypes like BotCommandScopeChat say "Scope type, must be chat".
        wanted = re.search(r"must be (\w+)", " ".join(_description(fields["type"])))
        if wanted and value["type"] != wanted.group(1):
            return f"{type_name}.type must be {wanted.group(1)!r}"
    return None


def _description(field: dict) -> list[str]:
    text = field.get("description", "")
    return text if isinstance(text, list) else [text]
