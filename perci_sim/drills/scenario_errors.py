"""Where a scenario file is wrong: YAML node marks by path, and schema errors as
``file:line:col: /pointer: what is expected`` (:class:`ScenarioError`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import yaml
from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]

__all__ = ["Marks", "ScenarioError", "pointer", "schema_problem"]


class ScenarioError(ValueError):
    """A scenario file that cannot be used; ``problems`` are ``file:line:col: message``."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid scenario:\n  " + "\n  ".join(self.problems))


class Marks:
    """Line and column (1-based) of every node of a composed YAML document, by path."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.root = root

    def _node(self, path: Iterable[object]) -> tuple[yaml.Node | None, yaml.Node | None]:
        node = self.root
        key_node: yaml.Node | None = None
        for part in path:
            if isinstance(node, yaml.MappingNode):
                found = next(
                    ((k, v) for k, v in node.value if getattr(k, "value", None) == str(part)),
                    None,
                )
                if found is None:
                    return node, key_node
                key_node, node = found
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if part >= len(node.value):
                    return node, key_node
                key_node, node = None, node.value[part]
            else:
                return node, key_node
        return node, key_node

    def at(self, path: Iterable[object], *, key: str | None = None) -> tuple[int, int]:
        """``(line, column)`` of the node at ``path`` (of its member ``key`` when given)."""
        node, _ = self._node(path)
        if key is not None and isinstance(node, yaml.MappingNode):
            for k, _v in node.value:
                if getattr(k, "value", None) == key:
                    return k.start_mark.line + 1, k.start_mark.column + 1
        if node is None:
            return 1, 1
        return node.start_mark.line + 1, node.start_mark.column + 1


def pointer(path: Iterable[object]) -> str:
    return "".join(f"/{p}" for p in path) or "/"


_EXTRA = re.compile(r"\('([^']+)' was unexpected\)|'([^']+)' (?:was|were) unexpected")


def schema_problem(error: ValidationError, marks: Marks, source: str) -> str:
    path = list(error.absolute_path)
    key: str | None = None
    validator = error.validator
    if validator == "additionalProperties":
        match = _EXTRA.search(error.message)
        key = (match.group(1) or match.group(2)) if match else None
        where = pointer([*path, key]) if key else pointer(path)
        message = f"{where}: unexpected member {key!r}" if key else f"{where}: {error.message}"
        if isinstance(error.schema, Mapping) and isinstance(error.schema.get("properties"), dict):
            allowed = ", ".join(sorted(error.schema["properties"]))
            message += f"; expected one of: {allowed}"
    elif validator == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else "?"
        message = f"{pointer(path)}: missing required member {missing!r}"
    elif validator in ("oneOf", "anyOf") and isinstance(error.schema, Mapping):
        described = error.schema.get("description")
        message = f"{pointer(path)}: expected {described or 'a different value'}"
        message += f", got {error.instance!r}"
    elif validator == "enum":
        options = ", ".join(repr(v) for v in error.validator_value)
        message = f"{pointer(path)}: expected one of {options}, got {error.instance!r}"
    elif validator == "pattern":
        described = error.schema.get("description") if isinstance(error.schema, Mapping) else None
        expected = described or f"a string matching {error.validator_value}"
        message = f"{pointer(path)}: expected {expected}, got {error.instance!r}"
    elif validator == "type":
        message = f"{pointer(path)}: expected {error.validator_value}, got {error.instance!r}"
    else:
        message = f"{pointer(path)}: {error.message}"
    line, col = marks.at(path, key=key)
    return f"{source}:{line}:{col}: {message}"
