"""One line of an export file read as typed fields: every failure names the line and the field,
so that ``import`` can say exactly what to mend."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from gateway_auth.errors import InvalidExport

T = TypeVar("T")


class Fields:
    """Typed access to one line's fields; every failure names the line and the field."""

    def __init__(self, line: int, values: Mapping[str, Any]) -> None:
        self.line, self.values = line, values

    def problem(self, message: str) -> InvalidExport:
        return InvalidExport(self.line, message)

    def nested(self, values: Mapping[str, Any]) -> Fields:
        return Fields(self.line, values)

    def only(self, *names: str) -> None:
        unknown = sorted(set(self.values) - set(names))
        if unknown:
            raise self.problem(f"unknown field {unknown[0]}")

    def value(self, name: str, kind: type[T]) -> T:
        value = self.values.get(name)
        # bool is an int in Python; an attempts count of true is still wrong.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.problem(f"{name} must be a {kind.__name__}")
        return value

    def optional(self, name: str, kind: type[T]) -> T | None:
        return None if self.values.get(name) is None else self.value(name, kind)

    def text(self, name: str) -> str:
        value = self.value(name, str)
        if not value:
            raise self.problem(f"{name} must not be empty")
        return value

    def each(self, name: str, kind: type[T], described: str) -> list[T]:
        values = self.value(name, list)
        if not all(isinstance(item, kind) for item in values):
            raise self.problem(f"{name} must be a list of {described}")
        return values

    def optional_moment(self, name: str) -> datetime | None:
        return None if self.values.get(name) is None else self.moment(name)

    def moment(self, name: str) -> datetime:
        raw = self.value(name, str)
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise self.problem(f"{name} must be an RFC 3339 time") from None
        if parsed.tzinfo is None:
            raise self.problem(f"{name} must carry a time zone")
        return parsed


def read_object(line: int, text: str) -> dict[str, Any]:
    """The JSON object on one line; a field named twice is refused, not silently dropped."""

    def refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        names = [name for name, _ in pairs]
        if len(names) != len(set(names)):
            raise InvalidExport(line, "a field appears twice")
        return dict(pairs)

    try:
        value = json.loads(text, object_pairs_hook=refuse_duplicates)
    except ValueError:
        raise InvalidExport(line, "not valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidExport(line, "not a JSON object")
    return value
