"""Gemma 4's tool declarations and values (the schema half of Ollama's ``gemma4.go``).

Gemma 4 writes JSON-like values in its own notation: strings between ``<|"|>``
delimiters, object keys bare (or delimited, inside a schema's free-form values), integral
numbers without a fraction. A tool is declared as
``<|tool>declaration:name{description:…,parameters:{properties:{…},required:[…],type:…}}<tool|>``;
property types are upper-cased, and a property's own schema (enum, items, nested
properties, nullable) follows the chat template's rules, its keys sorted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from builder.templates.renderers.values import Struct, go_sprint

Q = '<|"|>'
"""Gemma 4's string delimiter."""

_STANDARD_KEYS = frozenset({"description", "type", "properties", "required", "nullable"})


def _number(value: int | float) -> str:
    return str(int(value)) if isinstance(value, int) or value.is_integer() else go_sprint(value)


def value_text(value: Any) -> str:
    """A call argument or tool result (``formatArgValue``): object keys bare."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return Q + value + Q
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{key}:{value_text(value[key])}" for key in sorted(value)) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(value_text(item) for item in value) + "]"
    return go_sprint(value)


def schema_value(value: Any) -> str:
    """A free-form schema value (``formatSchemaValue``): object keys delimited."""
    if isinstance(value, Mapping):
        pairs = (f"{Q}{key}{Q}:{schema_value(value[key])}" for key in sorted(value))
        return "{" + ",".join(pairs) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(schema_value(item) for item in value) + "]"
    return value_text(value)


def _quoted_list(names: list[str]) -> str:
    return "[" + ",".join(Q + name + Q for name in names) + "]"


def _type_names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value.upper()]
    if isinstance(value, list | tuple):
        return [item.upper() for item in value if isinstance(item, str)]
    return []


def _strings(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _type_entry(names: list[str]) -> str:
    return f"type:{Q}{names[0]}{Q}" if len(names) == 1 else f"type:{_quoted_list(names)}"


# -- a tool's properties, as the template's macros write them --------------------


def properties_text(properties: Mapping[str, Any]) -> str:
    """Properties (name to schema object) sorted by name, the schema's own keywords
    among them skipped (``writeSchemaProperties``)."""
    written = []
    for name in sorted(properties):
        prop = properties[name]
        if name in _STANDARD_KEYS or not isinstance(prop, Mapping):
            continue
        written.append(f"{name}:{{{','.join(_property_parts(prop))}}}")
    return ",".join(written)


def _property_parts(prop: Mapping[str, Any]) -> list[str]:
    parts = []
    if isinstance(prop.get("description"), str) and prop["description"]:
        parts.append(f"description:{Q}{prop['description']}{Q}")
    names = _type_names(prop.get("type"))
    kind = names[0] if names else ""
    enum = prop.get("enum")
    if kind == "STRING" and isinstance(enum, list) and enum:
        parts.append("enum:" + _quoted_list([go_sprint(item) for item in enum]))
    items = prop.get("items")
    if kind == "ARRAY" and isinstance(items, Mapping) and items:
        parts.append(f"items:{{{_items_text(items)}}}")
    if prop.get("nullable") is True:
        parts.append("nullable:true")
    if kind == "OBJECT":
        nested = prop.get("properties")
        parts.append(
            f"properties:{{{properties_text(nested if isinstance(nested, Mapping) else prop)}}}"
        )
        required = _strings(prop.get("required"))
        if required:
            parts.append("required:" + _quoted_list(required))
    if names:
        parts.append(_type_entry(names))
    return parts


def _items_text(items: Mapping[str, Any]) -> str:
    """An array's ``items`` schema, its keys sorted (``writeSchemaItemsSpec``)."""
    parts = []
    for key in sorted(items):
        value = items[key]
        if value is None:
            continue
        if key == "properties":
            nested = properties_text(value) if isinstance(value, Mapping) else ""
            parts.append(f"properties:{{{nested}}}")
        elif key == "required":
            parts.append("required:" + _quoted_list(_strings(value)))
        elif key == "type":
            names = _type_names(value)
            parts.append(_type_entry(names) if names else "")
        else:
            parts.append(f"{key}:{schema_value(value)}")
    return ",".join(parts)


# -- from api.ToolProperty -------------------------------------------------------


def _typed(prop: Struct) -> dict[str, Any]:
    """A top-level property as the template sees it (``topLevelTypedSchemaValue…``):
    a union of types becomes the text of an upper-cased Python list."""
    out: dict[str, Any] = {}
    types = list(prop.get("type") or []) or _simple_union(prop)
    if types:
        out["type"] = types[0] if len(types) == 1 else _union_text(types)
    for key in ("description", "enum", "items", "required"):
        if prop.get(key):
            out[key] = prop[key]
    if prop.get("properties") is not None:
        out["properties"] = {name: _typed(p) for name, p in prop["properties"].items()}
    return out


def _union_text(types: list[str]) -> str:
    return "[" + ", ".join(f"'{name.upper()}'" for name in types) + "]"


def _simple_union(prop: Struct) -> list[str]:
    """The types of an ``anyOf`` whose branches each give a type and nothing else."""
    types: list[str] = []
    for branch in prop.get("anyOf") or []:
        if set(branch) != {"type"} or not branch["type"]:
            return []
        types += [name for name in branch["type"] if name not in types]
    return types


def declaration(tool: Struct) -> str:
    """One tool's ``<|tool>declaration:…<tool|>``."""
    function = tool["function"]
    parameters = function["parameters"]
    description = function.get("description", "")
    text = f"<|tool>declaration:{function['name']}{{description:{Q}{description}{Q}"
    properties, kind = parameters.get("properties"), parameters.get("type", "")
    if properties is not None or kind:
        parts = []
        if properties:
            typed = {name: _typed(prop) for name, prop in properties.items()}
            parts.append(f"properties:{{{properties_text(typed)}}}")
        if parameters.get("required"):
            parts.append("required:" + _quoted_list(list(parameters["required"])))
        if kind:
            parts.append(f"type:{Q}{kind.upper()}{Q}")
        text += ",parameters:{" + ",".join(parts) + "}"
    return text + "}<tool|>"
