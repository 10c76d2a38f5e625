"""The base of every config section, and the one-line error a pydantic ValidationError becomes.

A :class:`Section` is a frozen pydantic model that refuses unknown keys and converts no type silently
(``strict``: an integer key takes no ``1.5``, ``"5"`` or ``true``; a number key takes integers). Two YAML
conveniences are allowed on purpose: :data:`Float` takes what YAML 1.1 leaves as a string (``1e-5``), and
:data:`Items` takes a list or a comma-separated string (``--set annotate.stages=cuts,motion``). A partial
section keeps that field's own defaults for the keys it does not set (``annotate.ray.ocr.num_cpus=0.5`` keeps
ocr's batch_size 16, not StageResources' 1).

Rules between keys are ``model_validator`` s that ``raise fail(key, message)``; :func:`validate` turns any
validation failure into one :class:`~curation.core.errors.ConfigError` line naming the dotted key.
"""
from __future__ import annotations

import types
import typing
from dataclasses import dataclass, fields
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import annotated_types
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from curation.core.errors import ConfigError

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def _number(value: Any) -> Any:
    # YAML 1.1 reads 1e-3 (no dot) as a string; accept what Python reads as a number.
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return value


def _items(value: Any) -> Any:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    return tuple(value) if isinstance(value, list) else value


Float = Annotated[float, BeforeValidator(_number)]
"""A number (an integer becomes a float; a string Python reads as a number is one; ``true`` is not)."""
Items = Annotated[tuple[T, ...], BeforeValidator(_items)]
# A model's numeric precision (auto: bf16 on GPU, fp32 on CPU) and device (auto: CUDA when the worker has a GPU).
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Device = Literal["auto", "cpu", "cuda"]
"""A list of T, stored as a tuple; a string is split at commas."""


class Section(BaseModel):
    """A frozen config section: unknown keys and wrong types are errors; a partial sub-section keeps that
    field's own defaults; a key listed in ``renamed`` is an error naming its new name."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    # Keys this section had before: {old name: new name}.
    renamed: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _partial_keeps_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for old, new in cls.renamed.items():
            if old in data:
                raise PydanticCustomError("renamed", "{key}: renamed to {new}", {"key": old, "new": new})
        merged = dict(data)
        for name, info in cls.model_fields.items():
            value = data.get(name)
            if isinstance(value, dict):
                default = info.get_default(call_default_factory=True)
                if isinstance(default, BaseModel):
                    merged[name] = {**default.model_dump(), **value}
        return merged


def fail(key: str, message: str) -> PydanticCustomError:
    """The error a rule between keys raises: ``key`` is relative to the section ("" = the section itself)."""
    return PydanticCustomError("config", "{key}: {message}", {"key": key, "message": message})


def validate(model: type[M], data: Any, prefix: str = "") -> M:
    """``model`` built from ``data``; any failure is one ConfigError line ``prefix.dotted.key: message``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe(exc, model, prefix)) from None


def describe(exc: ValidationError, model: type[BaseModel], prefix: str = "") -> str:
    """The first error of ``exc`` (raised validating ``model``) as ``dotted.key: message``."""
    error = exc.errors(include_url=False)[0]
    loc = tuple(error["loc"])
    ctx = error.get("ctx") or {}
    if error["type"] == "renamed":
        return f"{_dotted(prefix, loc + (ctx['key'],))}: renamed to {_dotted(prefix, loc + (ctx['new'],))}"
    if error["type"] == "config":
        loc += tuple(part for part in ctx["key"].split(".") if part)
    owner, info = _locate(model, loc)
    return f"{_dotted(prefix, loc) or 'config'}: {_message(error, owner, info)}"


def _dotted(prefix: str, loc: tuple) -> str:
    key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
    return (prefix + key) if prefix else key.lstrip(".")


def _message(error: dict, owner: type[BaseModel] | None, info: Any) -> str:
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    hidden = owner is not None and owner.model_config.get("hide_input_in_errors", False)
    got = type(value).__name__ if hidden else repr(value)
    if kind == "config":
        return ctx["message"]
    if kind == "extra_forbidden":
        return f"unknown key (known: {sorted(owner.model_fields) if owner else '?'})"
    if kind == "missing":
        return "is required"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected an integer, got {got}"
    if kind in ("float_type", "float_parsing", "finite_number"):
        return f"expected a number, got {got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {got}"
    if kind == "string_type":
        return f"expected a string, got {got}"
    if kind in ("tuple_type", "list_type"):
        return f"expected a list, got {type(value).__name__}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping, got {type(value).__name__}"
    if kind == "literal_error":
        choices = _literal_choices(info)
        return f"{got} is not one of {choices if choices else ctx.get('expected')}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return _bounds(info, ctx)
    message = error["msg"]
    for lead in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(lead)
    return message


def _strip(hint: Any) -> Any:
    """``hint`` without Annotated and without ``| None``."""
    while True:
        origin = typing.get_origin(hint)
        if origin is Annotated:
            hint = typing.get_args(hint)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            if len(args) != 1:
                return hint
            hint = args[0]
        else:
            return hint


def _locate(model: type[BaseModel], loc: tuple) -> tuple[type[BaseModel] | None, Any]:
    """The model class the last key of ``loc`` belongs to, and that key's FieldInfo (None if it is unknown or
    ``loc`` ends in a list index)."""
    owner: type[BaseModel] | None = model
    hint: Any = model
    info = None
    for part in loc:
        hint = _strip(hint)
        if isinstance(part, int):
            args = typing.get_args(hint) if typing.get_origin(hint) is tuple else ()
            hint, info = (args[0] if args else None), None
            continue
        if not (isinstance(hint, type) and issubclass(hint, BaseModel)):
            return owner, None
        owner = hint
        info = owner.model_fields.get(part)
        if info is None:
            return owner, None
        hint = info.annotation
    return owner, info


def _literal_choices(info: Any) -> list | None:
    if info is None:
        return None
    hint = _strip(info.annotation)
    return list(typing.get_args(hint)) if typing.get_origin(hint) is Literal else None


def _bounds(info: Any, ctx: dict) -> str:
    """``must be in [a, b)`` / ``must be >= a`` from the field's constraints (its unit appended)."""
    lower = upper = None
    for item in (info.metadata if info is not None else []):
        if isinstance(item, annotated_types.Ge):
            lower = f"[{item.ge}"
        elif isinstance(item, annotated_types.Gt):
            lower = f"({item.gt}"
        elif isinstance(item, annotated_types.Le):
            upper = f"{item.le}]"
        elif isinstance(item, annotated_types.Lt):
            upper = f"{item.lt})"
    if lower is None and upper is None:  # not found: pydantic's own bound
        (op, bound), = ((k, v) for k, v in ctx.items() if k in ("gt", "ge", "lt", "le"))
        lower, upper = ({"ge": f"[{bound}", "gt": f"({bound}"}.get(op), {"le": f"{bound}]", "lt": f"{bound})"}.get(op))
    extra = info.json_schema_extra if info is not None and isinstance(info.json_schema_extra, dict) else {}
    unit = f" {extra['unit']}" if extra.get("unit") else ""
    if lower and upper:
        return f"must be in {lower}, {upper}{unit}"
    if lower:
        return f"must be {'>=' if lower[0] == '[' else '>'} {lower[1:]}{unit}"
    return f"must be {'<=' if upper[-1] == ']' else '<'} {upper[:-1]}{unit}"


def to_dict(config: BaseModel) -> dict:
    """Plain-dict form (tuples become lists) for JSON/YAML output and job records."""
    def convert(value: Any) -> Any:
        if isinstance(value, (tuple, list)):
            return [convert(v) for v in value]
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        return value
    return convert(config.model_dump())


J = TypeVar("J", bound="JobSections")


@dataclass(frozen=True)
class JobSections:
    """The config sections one job reads, and no other: a job never receives the whole file. A subclass lists
    them as fields named like the config file's top-level sections; :meth:`of` takes them from the whole
    config (which only ``curation.cli`` and ``curation.testing`` read)."""

    @classmethod
    def of(cls: type[J], config: Any) -> J:
        """This job's sections of the whole config (:class:`curation.config.Config`)."""
        return cls(**{f.name: getattr(config, f.name) for f in fields(cls)})
