"""A PostgreSQL batch's coalesced row inserts as one statement: arrays in, ``unnest`` out.

On PostgreSQL every statement of a batch is a round trip, and a round trip costs far more than
the rows it carries (measured here with uvloop and asyncpg: ~60 µs of client CPU and ~45 µs of
the server's per round trip, against ~15 µs per message-log row). A batch used one
``executemany`` per table (message log, meter readings, status history, connectors) between
BEGIN and COMMIT: six round trips for ten messages. Here the inserts of a batch become one
statement — each table's rows as one array per column, expanded by ``unnest`` in a
data-modifying CTE — so they cost one round trip, one plan execution per table instead of one per
row, and a batch holding nothing else needs no BEGIN/COMMIT at all (one statement is atomic).

Only what keeps the per-row semantics of ``executemany`` is combined:
- plain inserts and ``INSERT … ON CONFLICT DO NOTHING`` (a row duplicating an earlier row of the
  same statement is skipped, as it was when it came second);
- ``ON CONFLICT DO UPDATE`` only when no two rows share a conflict key (one command may not
  update a row twice; rows in order would have);
- one target per table in the batch (the CTEs of one statement do not see each other's rows).
Everything else (updates, a repeated key, a statement with its own values or RETURNING) stays
an ``executemany``, in the batch's order, as before."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Executable, Table, bindparam, cast, func, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY, asyncpg
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.postgresql.dml import Insert, OnConflictDoNothing, OnConflictDoUpdate

from watthub.storage.fast_rows import by_keys
from watthub.storage.fast_rows_pg import pg_executemany_tuples

_DIALECT = asyncpg.dialect()

Processor = Callable[[Any], Any]
# (target, columns, rows as tuples of columns)
Group = tuple[Table | Executable, tuple[str, ...], list[tuple[Any, ...]]]


def table_of(target: Table | Executable) -> Table | None:
    """The table a combinable target inserts into (None: the target is not combinable)."""
    if isinstance(target, Table):
        return target
    if not isinstance(target, Insert) or not isinstance(target.table, Table):
        return None
    if target._values or target._multi_values or target._returning or target.select is not None:
        return None
    if target._post_values_clause is not None and not isinstance(
        target._post_values_clause, OnConflictDoNothing | OnConflictDoUpdate
    ):
        return None
    return target.table


def _conflict_key(target: Table | Executable) -> tuple[str, ...] | None:
    """The conflict columns of an ``ON CONFLICT DO UPDATE`` target (``()``: none to check;
    None: a conflict target this module cannot check, e.g. a named constraint)."""
    clause = getattr(target, "_post_values_clause", None)
    if not isinstance(clause, OnConflictDoUpdate):
        return ()
    if clause.constraint_target is not None or not clause.inferred_target_elements:
        return None
    names = []
    for element in clause.inferred_target_elements:
        name = element if isinstance(element, str) else getattr(element, "key", None)
        if not isinstance(name, str):
            return None  # an expression index
        names.append(name)
    return tuple(names)


def combinable(groups: Sequence[Group]) -> list[bool]:
    """Which groups go into the one statement (see the module's rules)."""
    tables: dict[str, int] = {}
    for target, _columns, _rows in groups:
        table = table_of(target)
        # Any target of a table, combinable or not (an UPDATE of ``stations`` as well).
        name = table.name if table is not None else _touched(target)
        if name is not None:
            tables[name] = tables.get(name, 0) + 1
    out = []
    for target, columns, rows in groups:
        table = table_of(target)
        ok = table is not None and tables[table.name] == 1
        if ok:
            key = _conflict_key(target)
            if key is None or any(k not in columns for k in key):
                ok = False
            elif key:
                index = [columns.index(k) for k in key]
                ok = len({tuple(row[i] for i in index) for row in rows}) == len(rows)
        out.append(ok)
    return out


def _touched(target: Table | Executable) -> str | None:
    table = getattr(target, "table", None)
    return table.name if isinstance(table, Table) else None


def statement(groups: Sequence[Group]) -> tuple[str, list[list[Any]]]:
    """(SQL, one array argument per column of every group) for combinable ``groups``."""
    sql, processors = _compiled(tuple((target, columns) for target, columns, _rows in groups))
    args: list[list[Any]] = []
    for (_target, _columns, rows), convert in zip(groups, processors, strict=True):
        arrays = [list(values) for values in zip(*rows, strict=True)]
        for i, process in convert:
            arrays[i] = [process(v) for v in arrays[i]]
        args.extend(arrays)
    return sql, args


@lru_cache(maxsize=256)
def _compiled(
    shape: tuple[tuple[Table | Executable, tuple[str, ...]], ...],
) -> tuple[str, tuple[tuple[tuple[int, Processor], ...], ...]]:
    ctes = []
    processors = []
    for n, (target, columns) in enumerate(shape):
        table = table_of(target)
        assert table is not None
        arrays = [
            cast(bindparam(f"p{n}_{i}"), ARRAY(table.c[c].type)) for i, c in enumerate(columns)
        ]
        rows = func.unnest(*arrays).table_valued(*columns).render_derived(name=f"v{n}")
        base = pg_insert(table) if isinstance(target, Table) else target
        insert = base.from_select(list(columns), select(*[rows.c[c] for c in columns]))
        ctes.append(insert.cte(f"w{n}"))
        processors.append(_processors(table, columns))
    compiled = select(literal_column("1")).add_cte(*ctes).compile(dialect=_DIALECT)
    # Parameters come in the order of the CTEs and their columns (p0_0, p0_1, …, p1_0, …).
    expected = [f"p{n}_{i}" for n, (_t, columns) in enumerate(shape) for i in range(len(columns))]
    assert list(compiled.positiontup or ()) == expected, compiled.positiontup
    return compiled.string, tuple(processors)


def _processors(table: Table, columns: tuple[str, ...]) -> tuple[tuple[int, Processor], ...]:
    """The values that convert on their way in (JSON is serialised, …), per column position,
    as SQLAlchemy would convert them in an ``executemany``."""
    compiled = (
        table.insert()
        .values({c: bindparam(c) for c in columns})
        .compile(dialect=_DIALECT, column_keys=list(columns))
    )
    found = compiled._bind_processors
    return tuple((i, found[c]) for i, c in enumerate(columns) if c in found)


@dataclass(slots=True)
class Plan:
    """A batch's rows: ``joined`` go as one statement, ``rest`` as one ``executemany`` each."""

    joined: list[Group]
    rest: list[Group]


def plan(
    by_target: Iterable[tuple[tuple[Table | Executable, tuple[str, ...] | None], list[Any]]],
) -> Plan:
    """The writer's coalesced rows (dicts, or tuples of known columns), in their order."""
    groups: list[Group] = []
    for (target, columns), rows in by_target:
        if columns is not None:
            groups.append((target, columns, rows))
            continue
        for keys, group in by_keys(rows).items():
            groups.append((target, keys, [tuple(row[k] for k in keys) for row in group]))
    flags = combinable(groups)
    return Plan(
        [g for g, ok in zip(groups, flags, strict=True) if ok],
        [g for g, ok in zip(groups, flags, strict=True) if not ok],
    )


async def write(pg: Any, rows: Plan) -> None:
    """Write ``rows`` on ``pg`` (a ``pg_batch.PgBatchConnection``). The joined groups touch
    tables no other group of the batch touches, so they may go first."""
    if rows.joined:
        sql, args = statement(rows.joined)
        await pg.execute_raw(sql, tuple(args))
    for group in rows.rest:
        await pg.executemany(*pg_executemany_tuples(*group))
