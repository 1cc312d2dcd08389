"""An FAQ entry as an HTML form and back, field by field from faq_data/schema.json (plain Python).

Nothing here knows the entry's fields by heart: each property of the schema's
entry becomes a form field of its kind (a line, a text, one item a line, a
checkbox, links as "标题 | 网址" lines, anything else as JSON), so a field the
schema gains (e.g. ``examples``) is editable without a change here, and a field
the form does not show is kept as it was.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from bot.faq import SCHEMA_PATH

LABELS = {
    "id": "编号", "category": "分类", "question": "标准问法", "keywords": "关键词",
    "similar_questions": "相似问法", "examples": "用户例句", "answer": "回复内容", "links": "链接",
    "enabled": "启用", "fraud_warning": "附加防诈骗提醒",
}
HINTS = {
    "keywords": "每行一个，写这个主题特有的词",
    "similar_questions": "每行一句用户的其他问法",
    "examples": "每行一句用户真实说过的话",
    "links": "每行一个：标题 | 网址",
    "answer": "可以用 {hotline}、{website} 等占位符",
}
#: Where "add as an example" puts a user's text: the first of these the schema has.
EXAMPLE_FIELDS = ("examples", "similar_questions")


class FormError(ValueError):
    """A field could not be read (e.g. JSON that does not parse)."""


@dataclass(frozen=True)
class Field:
    name: str
    kind: str          # line | text | lines | links | bool | json
    label: str
    required: bool
    default: object = None
    hint: str = ""


@lru_cache(maxsize=1)
def _schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _entry_schema() -> dict:
    return _schema()["$defs"]["entry"]


def _kind(spec: dict) -> str:
    defs = _schema().get("$defs", {})
    own_pattern = "pattern" in spec
    if "$ref" in spec:
        spec = {**defs.get(spec["$ref"].rsplit("/", 1)[-1], {}), **{k: v for k, v in spec.items() if k != "$ref"}}
    kind = spec.get("type")
    if kind == "string":
        return "line" if own_pattern or spec.get("maxLength", 1000) <= 80 else "text"
    if kind == "boolean":
        return "bool"
    if kind == "array":
        items = spec.get("items", {})
        if "$ref" in items or items.get("type") == "string":
            return "lines"
        props = set(items.get("properties", {}))
        if props == {"title", "url"}:
            return "links"
    return "json"


def fields() -> list[Field]:
    schema = _entry_schema()
    required = set(schema.get("required", ()))
    return [Field(name, _kind(spec), LABELS.get(name, name), name in required, spec.get("default"),
                  HINTS.get(name, spec.get("description", "") if name not in LABELS else ""))
            for name, spec in schema.get("properties", {}).items()]


def example_field() -> str:
    names = {f.name for f in fields()}
    return next(name for name in EXAMPLE_FIELDS if name in names)


def shown_value(field: Field, entry: dict) -> object:
    """The field's value as the form shows it."""
    value = entry.get(field.name, field.default)
    if field.kind == "lines":
        return "\n".join(value or ())
    if field.kind == "links":
        return "\n".join(f"{link.get('title', '')} | {link.get('url', '')}" for link in value or ())
    if field.kind == "bool":
        return bool(value)
    if field.kind == "json":
        return "" if value is None else json.dumps(value, ensure_ascii=False, indent=2)
    return value or ""


def entry_from_form(form, base: dict | None) -> dict:
    """The entry as edited: `base` (the entry as read; None for a new one) with each form field applied."""
    entry = dict(base or {})
    for field in fields():
        if field.name == "id" and base is not None:
            continue
        raw = form.get(f"f_{field.name}")
        if field.kind == "bool":
            value = raw is not None
            if field.name not in entry and value == field.default:
                continue
            entry[field.name] = value
            continue
        raw = (raw or "").replace("\r\n", "\n").replace("\r", "\n")
        if field.kind == "lines":
            value = [line.strip() for line in raw.split("\n") if line.strip()]
        elif field.kind == "links":
            value = []
            for line in filter(None, (line.strip() for line in raw.split("\n"))):
                title, _, url = line.partition("|")
                value.append({"title": title.strip(), "url": url.strip()})
        elif field.kind == "json":
            try:
                value = json.loads(raw) if raw.strip() else None
            except json.JSONDecodeError as exc:
                raise FormError(f"{field.label}：不是有效的 JSON（{exc.msg}，第 {exc.lineno} 行）") from exc
        else:
            value = raw.strip() if field.kind == "line" else raw.rstrip()
        if value in ("", [], None) and not field.required:
            entry.pop(field.name, None)
        else:
            entry[field.name] = value
    return entry


def with_example(entry: dict, text: str) -> dict:
    """The entry with `text` added to its examples (unchanged if it is there already)."""
    name = example_field()
    current = list(entry.get(name, ()))
    if text in current:
        return dict(entry)
    return {**entry, name: [*current, text]}
