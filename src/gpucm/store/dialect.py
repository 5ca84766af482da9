"""The few SQL spellings that differ between the store's two backends.

The store's SQL is written once, in SQLite's words where both understand them: `?`
parameters (the PostgreSQL backend numbers them), `ON CONFLICT` upserts, `CAST`,
window functions, `COLLATE NOCASE` (PostgreSQL gets a case-insensitive ICU collation
of that name) and `rowid` (PostgreSQL's offers get an identity column of that name).
What neither spelling covers is here: scalar `max(a, b)`, JSON, string aggregation and
a nearest-rank ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    """What differs in the SQL the two backends speak (SQLite, PostgreSQL)."""

    name: str

    @property
    def postgres(self) -> bool:
        return self.name == "postgresql"

    def greatest(self, a: str, b: str) -> str:
        """The larger of two values (SQLite's scalar max)."""
        return f"greatest({a}, {b})" if self.postgres else f"max({a}, {b})"

    def json_number(self, column: str, key: str) -> str:
        """A number at the top level of a JSON text column."""
        if self.postgres:
            return f"CAST(CAST({column} AS jsonb) ->> '{key}' AS DOUBLE PRECISION)"
        return f"json_extract({column}, '$.{key}')"

    def text_list(self, value: str, sep: str) -> str:
        """An aggregate: every row's value as text, joined by `sep` (an SQL expression)."""
        if self.postgres:
            return f"string_agg(CAST({value} AS TEXT), {sep})"
        return f"group_concat({value}, {sep})"

    def distinct_list(self, value: str) -> str:
        """An aggregate: the distinct values, comma-separated."""
        if self.postgres:
            return f"string_agg(DISTINCT {value}, ',')"
        return f"group_concat(DISTINCT {value})"

    def nearest_rank(self, fraction: float, n: str) -> str:
        """ceil(fraction * n), at least 1: a percentile's rank by nearest rank."""
        if self.postgres:
            return f"greatest(1, CAST(ceil({fraction} * {n}) AS INTEGER))"
        return f"max(1, CAST({fraction} * {n} + 0.9999999 AS INTEGER))"


SQLITE = Dialect("sqlite")
POSTGRES = Dialect("postgresql")
