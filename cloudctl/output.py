"""Rendering of command results: aligned tables for people, JSON, YAML and CSV for scripts.

A command returns a ``Listing`` (many rows) or a ``Record`` (one object).
Tables show each column's ``header`` and its ``render``ed text; JSON and YAML
carry the same rows as plain values under stable snake_case keys, so scripts
never parse human formatting; CSV has those keys as its header line.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import yaml

FORMATS = ("table", "json", "yaml", "csv")


@dataclass(frozen=True)
class Column:
    """One column: the row key it reads, its table header and an optional table renderer."""

    key: str
    header: str
    render: Callable[[Mapping[str, Any]], str] | None = None

    def text(self, row: Mapping[str, Any]) -> str:
        """Return the table text of this column for ``row``."""
        if self.render is not None:
            return self.render(row)
        return to_text(row.get(self.key))


@dataclass
class Listing:
    """Rows with the same columns; ``machine_keys`` overrides what JSON/YAML carry."""

    columns: Sequence[Column]
    rows: Sequence[Mapping[str, Any]]
    machine_keys: Sequence[str] | None = None

    def machine(self) -> list[dict[str, Any]]:
        """Return the rows as plain dicts for JSON/YAML."""
        keys = self.machine_keys or [c.key for c in self.columns]
        return [{k: row.get(k) for k in keys} for row in self.rows]


@dataclass
class Record:
    """One object shown as a two-column Field/Value table (ordered as given)."""

    fields: Mapping[str, Any] = field(default_factory=dict)

    def machine(self) -> dict[str, Any]:
        return dict(self.fields)


Result = Listing | Record | None


def to_text(value: Any) -> str:
    """Return the one-cell text of a value: '' for None, compact JSON for containers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={to_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(to_text(v) for v in value)
    return str(value)


def human_mb(mb: float | None) -> str:
    """Return a size given in MiB as a short human string (MiB, GiB or TiB)."""
    if mb is None:
        return ""
    if mb == 0:
        return "0"
    size = float(mb)
    for unit in ("MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "MiB" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover - loop always returns


def human_gb(gb: float | None) -> str:
    """Return a size given in GiB as a short human string."""
    return "" if gb is None else human_mb(float(gb) * 1024)


def _is_numeric(column: Column, rows: Sequence[Mapping[str, Any]]) -> bool:
    """Numbers (and renderings of them like '3/4') read best right-aligned."""
    if column.render is not None:
        return False
    values = [row.get(column.key) for row in rows if row.get(column.key) is not None]
    return bool(values) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def format_table(columns: Sequence[Column], rows: Sequence[Mapping[str, Any]]) -> str:
    """Return a plain, aligned table: header, a rule, then one line per row."""
    cells = [[col.text(row).replace("\n", " ") for col in columns] for row in rows]
    widths = [len(col.header) for col in columns]
    for line in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, line, strict=True)]
    right = [_is_numeric(col, rows) for col in columns]

    def fmt(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True)]
        return "  ".join(parts).rstrip()

    out = [fmt([c.header for c in columns]), "  ".join("-" * w for w in widths)]
    out.extend(fmt(line) for line in cells)
    return "\n".join(out) + "\n"


def format_record(record: Record) -> str:
    """Return a Field/Value table of one object."""
    rows = [{"field": k, "value": to_text(v)} for k, v in record.fields.items()]
    return format_table([Column("field", "Field"), Column("value", "Value")], rows)


def _yaml_safe(value: Any) -> Any:
    """Round-trip through JSON so YAML shows only plain types (no Python tags)."""
    return json.loads(json.dumps(value, default=str))


def format_csv(result: Listing | Record) -> str:
    """Return CSV: the machine keys as header, then one line per row (a record: one field per line)."""
    machine = result.machine()
    rows = machine if isinstance(machine, list) else [{"field": k, "value": v} for k, v in machine.items()]
    if isinstance(result, Listing):
        keys = list(result.machine_keys or [c.key for c in result.columns])
    else:
        keys = ["field", "value"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(keys)
    for row in rows:
        writer.writerow(["" if row.get(k) is None else _csv_cell(row.get(k)) for k in keys])
    return out.getvalue()


def _csv_cell(value: Any) -> str:
    """Numbers and strings as they are; containers as compact JSON (one cell each)."""
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=str, separators=(",", ":"))
    return str(value)


def render(result: Result, fmt: str) -> str:
    """Return the text of a result in ``fmt`` (table, json, yaml or csv); '' for no result."""
    if result is None:
        return ""
    if fmt == "csv":
        return format_csv(result)
    if fmt == "json":
        return json.dumps(result.machine(), indent=2, sort_keys=False, default=str) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump(_yaml_safe(result.machine()), sort_keys=False, default_flow_style=False)
    if isinstance(result, Record):
        return format_record(result)
    return format_table(result.columns, result.rows)


def emit(result: Result, fmt: str, stream: TextIO) -> None:
    """Write a rendered result to ``stream``."""
    text = render(result, fmt)
    if text:
        stream.write(text)
        stream.flush()
