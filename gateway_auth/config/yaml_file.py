"""YAML files that operators write (the rules file, the providers file): read as plain data
with the line of every node, so that every problem, PyYAML's or pydantic's, is reported at the
line it is about (``rules.yaml:14: ...``) rather than as a path into a data structure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ValidationError

from gateway_auth.validation import scope_problem

Loc = tuple[int | str, ...]
MAX_BYTES = 1 << 20  # these files are a few kilobytes; far more is a mistake
MAX_NODES = 50_000  # values, lists and mappings after aliases are expanded


def _scope(value: str) -> str:
    problem = scope_problem(value)
    if problem is not None:
        raise ValueError(f"{value!r}: {problem}")
    return value


# A scope name in either file, checked as everywhere else (``validation.scope_problem``).
Scope = Annotated[str, AfterValidator(_scope)]


class YamlFileError(Exception):
    """A file that cannot be used: every problem, each with its line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems)
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(self.problems)


@dataclass(frozen=True, slots=True)
class Lines:
    """The line (1-based) of every node of the document, by its path."""

    by_loc: dict[Loc, int]

    def of(self, loc: Loc) -> int:
        while loc not in self.by_loc and loc:
            loc = loc[:-1]
        return self.by_loc.get(loc, 1)


@dataclass(frozen=True, slots=True)
class Document:
    """A file read as plain data: the data, each node's line, and what could not be read."""

    data: Any
    lines: Lines
    problems: list[tuple[int, str]]


def read_file(path: Path, error: type[YamlFileError] = YamlFileError) -> bytes:
    """The file's bytes; ``error`` when it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise error([f"{path}: cannot be read ({exc.strerror})"]) from None


def read_document(
    data: bytes | str,
    source: str,
    *,
    kind: str,
    needs: str,
    error: type[YamlFileError] = YamlFileError,
) -> Document:
    """``data`` as plain data: ``source`` names it in problems, ``kind`` is what it is (a
    rules file), ``needs`` what an empty one lacks; ``error`` for a file that is not YAML."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) > MAX_BYTES:
        raise error([f"{source}: {len(raw)} bytes: a {kind} has at most 1 MiB"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise error([f"{source}: is not UTF-8 text"]) from None
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise error([f"{source}:1: empty: a {kind} needs {needs}"])
        reader = _Reader(loader)
        document = reader.plain(root, ())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        reason = getattr(exc, "problem", None) or str(exc)
        raise error([f"{source}:{line}: not valid YAML: {reason}"]) from None
    except RecursionError:
        raise error([f"{source}: nested too deeply to be a {kind}"]) from None
    except _TooLarge:
        raise error(
            [f"{source}: more than {MAX_NODES} values once its aliases are expanded"]
        ) from None
    return Document(document, reader.lines, reader.problems)


M = TypeVar("M", bound=BaseModel)


def validated(
    model: type[M],
    document: Document,
    source: str,
    error: type[YamlFileError],
    problem: Callable[[Any], tuple[int, str]],
) -> M:
    """``document`` as ``model``; ``error`` listing every problem, the document's own and
    each pydantic error in the words of ``problem``, in the order of the file."""
    try:
        return model.model_validate(document.data)
    except ValidationError as exc:
        found = document.problems + [problem(item) for item in exc.errors()]
        raise error(by_line(found, source)) from None


def by_line(problems: list[tuple[int, str]], source: str) -> list[str]:
    """``source:line: problem``, in the order of the file."""
    return [f"{source}:{line}: {text}" for line, text in sorted(problems, key=lambda p: p[0])]


def field_path(loc: Loc) -> str:
    """A pydantic location as people write it: ``scopes[0]``, ``policy.allowed_groups``."""
    field = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    return field.lstrip(".")


def message(error: Any, *, mapping: str, file: str) -> str:
    """A pydantic error in words; ``mapping`` says what a mapping there holds, ``file`` what
    kind of file knows no such setting."""
    kind, text = error["type"], str(error["msg"])
    if kind == "extra_forbidden":
        return f"not a setting a {file} knows (a typo?)"
    if kind == "missing":
        return "required"
    if kind == "literal_error":
        return text.replace("Input should be", "one of")
    if kind in ("model_type", "dict_type"):
        return f"a mapping ({mapping})"
    return text.removeprefix("Value error, ")


class _TooLarge(Exception):
    """More nodes than MAX_NODES (aliases can multiply a small file)."""


class _Reader:
    """The document as plain data (scalars typed as SafeLoader types them), noting each
    node's line; a key given twice in one mapping is a problem (YAML would keep the last
    quietly), and so is a value no such file has (a tag, a merge key)."""

    def __init__(self, loader: yaml.SafeLoader) -> None:
        self.loader = loader
        self.lines = Lines({})
        self.problems: list[tuple[int, str]] = []
        self.nodes = 0

    def plain(self, node: yaml.Node, loc: Loc) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooLarge
        self.lines.by_loc[loc] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.scalar(key_node)
                line = key_node.start_mark.line + 1
                if key is _UNREADABLE:
                    continue
                if not isinstance(key, str | int):
                    self.problems.append((line, f"{key!r}: not a key"))
                    continue
                if key in result:
                    self.problems.append((line, f"{key} is given twice"))
                result[key] = self.plain(value_node, (*loc, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.plain(item, (*loc, index)) for index, item in enumerate(node.value)]
        return self.scalar(node)

    def scalar(self, node: yaml.Node) -> Any:
        line = node.start_mark.line + 1
        if not isinstance(node, yaml.ScalarNode):
            self.problems.append((line, "a list or mapping cannot be a key"))
            return _UNREADABLE
        if node.tag == "tag:yaml.org,2002:merge":
            self.problems.append((line, "<<: merge keys are not supported: write the keys out"))
            return _UNREADABLE
        try:
            return self.loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, AttributeError, OverflowError):
            self.problems.append((line, f"{node.value!r}: cannot be read as {node.tag}"))
            return _UNREADABLE


_UNREADABLE = object()  # a value the problems already name
