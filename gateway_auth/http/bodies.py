"""Request bodies: content type, size, strict parsing, and field typing, with clear errors."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl

from aiohttp import hdrs, web

from gateway_auth.errors import (
    FieldError,
    MalformedRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)

MAX_BODY_BYTES = 64 * 1024
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
# The content types a page may post to another origin without a CORS preflight.
_SIMPLE_TYPES = frozenset({FORM, "multipart/form-data", "text/plain"})
MAX_FORM_FIELDS = 50

# Fields a client may never set on itself; named, so the refusal says why.
READ_ONLY_FIELDS = {
    "id": "is assigned by the server",
    "kind": "cannot be changed by the client",
    "scopes": "are granted by an administrator",
    "suspended": "is set by an administrator",
    "suspendedAt": "is set by an administrator",
    "suspendReason": "is set by an administrator",
    "createdAt": "is set by the server",
    "updatedAt": "is set by the server",
}


@dataclass(frozen=True, slots=True)
class Body:
    """A parsed request body and whether it came from an HTML form."""

    fields: Mapping[str, object]
    is_form: bool


async def read_body(
    request: web.Request, *, allow_form: bool = False, optional: bool = False
) -> Body:
    """Parse a JSON object (or, where allowed, a urlencoded form) from the request body;
    an ``optional`` body may be left out altogether."""
    accepted = (JSON, FORM) if allow_form else (JSON,)
    declared = hdrs.CONTENT_TYPE in request.headers
    if optional and not request.body_exists:
        # What a page may post cross-site without asking first is refused or, for an empty
        # form, still a form (it must carry its form token like any other).
        if declared and request.content_type in _SIMPLE_TYPES:
            if request.content_type not in accepted:
                raise UnsupportedMediaType(accepted)
            return Body({}, is_form=True)
        return Body({}, is_form=False)
    charset = (request.charset or "utf-8").lower()
    if declared and (request.content_type not in accepted or charset not in ("utf-8", "utf8")):
        raise UnsupportedMediaType(accepted)
    try:
        raw = await request.read()  # stops reading at the app's client_max_size
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge(MAX_BODY_BYTES) from None
    except ConnectionError:  # the client went away mid-body: its fault, not a server error
        raise MalformedRequest("The connection closed before the whole body arrived.") from None
    if not raw:
        raise MalformedRequest(f"A request body ({' or '.join(accepted)}) is required.")
    if not declared:
        raise UnsupportedMediaType(accepted)
    if request.content_type == FORM:
        return Body(_parse_form(raw), is_form=True)
    return Body(_parse_json_object(raw), is_form=False)


def string_fields(
    body: Mapping[str, object],
    *,
    required: Iterable[str] = (),
    optional: Iterable[str] = (),
    nullable: Iterable[str] = (),
) -> dict[str, str | None]:
    """The named fields as strings (or None where nullable); every problem reported together."""
    required, optional, nullable = tuple(required), tuple(optional), frozenset(nullable)
    errors = [
        FieldError(name, READ_ONLY_FIELDS.get(name, "is not a known field"))
        for name in body
        if name not in required and name not in optional
    ]
    values: dict[str, str | None] = {}
    for name in (*required, *optional):
        if name not in body:
            if name in required:
                errors.append(FieldError(name, "is required"))
            continue
        value = body[name]
        if value is None and name in nullable:
            values[name] = None
        elif isinstance(value, str):
            values[name] = value
        else:
            errors.append(FieldError(name, "must be a string" + (" or null" * (name in nullable))))
    if errors:
        raise ValidationFailed(errors)
    return values


def _parse_json_object(raw: bytes) -> dict[str, object]:
    try:
        value = json.loads(
            raw.decode("utf-8"),
            object_pairs_hook=_no_duplicate_keys,
            parse_constant=_no_constants,
        )
    except UnicodeDecodeError:
        raise MalformedRequest("The body is not valid UTF-8.") from None
    except (ValueError, RecursionError) as exc:
        raise MalformedRequest(f"The body is not valid JSON: {_json_reason(exc)}.") from None
    if not isinstance(value, dict):
        raise MalformedRequest("The body must be a JSON object.")
    if b"\\u" in raw:  # only an escape can spell a lone surrogate; UTF-8 bytes cannot
        _refuse_lone_surrogates(value)
    return value


def _refuse_lone_surrogates(value: dict[str, object]) -> None:
    """JSON lets ``"\\ud800"`` through, but it is no character: it cannot be stored, hashed
    or compared, so it is refused here rather than failing somewhere deeper."""
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise MalformedRequest(
            "The body holds an unpaired surrogate escape (\\ud800 to \\udfff), "
            "which is not a character."
        ) from None


def _parse_form(raw: bytes) -> dict[str, object]:
    try:
        pairs = parse_qsl(
            raw.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except UnicodeDecodeError:
        raise MalformedRequest("The form is not valid UTF-8.") from None
    except ValueError:
        raise MalformedRequest(f"The form has more than {MAX_FORM_FIELDS} fields.") from None
    return _no_duplicate_keys(pairs)


def _no_duplicate_keys(pairs: Sequence[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise MalformedRequest(f"The field {key!r} appears more than once.")
        result[key] = value
    return result


def _no_constants(name: str) -> object:
    raise ValueError(f"{name} is not a JSON value")


def _json_reason(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)
