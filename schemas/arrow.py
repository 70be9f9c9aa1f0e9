"""Arrow schemas derived from the pydantic row models, never inferred from data.

    arrow_schema(Span)          -> pa.Schema with the table's columns in field order
    to_arrow([span, ...], Span) -> pa.Table conforming to that schema
"""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from datetime import datetime
from enum import Enum
from functools import cache

import pyarrow as pa
from pydantic import BaseModel

_SCALARS: dict[type, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    datetime: pa.timestamp("us", tz="UTC"),
    dict: pa.string(),  # JSON text
}


def _arrow_type(annotation: object) -> tuple[pa.DataType, bool]:
    """Map a field annotation to (arrow type, nullable)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"unsupported union {annotation!r}")
        return _arrow_type(args[0])[0], True
    if origin is list:
        (inner,) = typing.get_args(annotation)
        return pa.list_(_arrow_type(inner)[0]), False
    if origin is dict:
        return pa.string(), False
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return pa.string(), False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):  # nested model -> struct
        return pa.struct(list(arrow_schema(annotation))), False
    if dataclasses.is_dataclass(annotation):  # nested dataclass (schemas.export.PlanSpan) -> struct
        hints = typing.get_type_hints(annotation)
        return pa.struct([pa.field(f.name, *_arrow_type(hints[f.name])) for f in dataclasses.fields(annotation)]), False
    if annotation in _SCALARS:
        return _SCALARS[annotation], False
    raise TypeError(f"no Arrow type for {annotation!r}")


@cache
def arrow_schema(model: type[BaseModel]) -> pa.Schema:
    hints = typing.get_type_hints(model)
    fields = []
    for name in model.model_fields:
        dtype, nullable = _arrow_type(hints[name])
        fields.append(pa.field(name, dtype, nullable=nullable))
    return pa.schema(fields, metadata={"model": model.__name__})


def _column_value(value: object) -> object:
    if isinstance(value, BaseModel):
        return {name: _column_value(getattr(value, name)) for name in type(value).model_fields}
    if dataclasses.is_dataclass(value):
        return {f.name: _column_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list):
        return [_column_value(v) for v in value]
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if isinstance(value, Enum):
        return value.value
    return value


def to_arrow(rows: typing.Iterable[BaseModel], model: type[BaseModel]) -> pa.Table:
    schema = arrow_schema(model)
    columns: dict[str, list] = {name: [] for name in schema.names}
    for row in rows:
        for name in schema.names:
            columns[name].append(_column_value(getattr(row, name)))
    return pa.table(columns, schema=schema)
