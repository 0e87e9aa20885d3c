"""The council scope: the one place where a clerk's view of the data is narrowed.

Every ORM SELECT, UPDATE and DELETE issued while a clerk is being served gets extra
criteria through `with_loader_criteria`: rows of council-owned tables (models using
`CouncilOwned`) are limited to the clerk's council, the `councils` table to that one row,
and each model may add clerk-only criteria (internal ticket notes, for one). SQLAlchemy
applies the criteria to plain entity queries, column and aggregate queries, joins,
subqueries and relationship loads alike, and `ScopeAwareSession` makes `Session.get` and
lazy loads ask the database instead of trusting the identity map, so a view, an API
handler, an export or a chart cannot forget it: there is nothing to remember. Another
council's object simply does not exist, which the views turn into 404.

One form escapes it: a Core construct that names no entity, only columns in its WHERE
clause, such as `exists().where(Council.id == x)`. Build it from a select of the entity
instead, `select(Council.id).where(Council.id == x).exists()`, which is scoped.
(tests/core/test_scope.py tries every form above.)

The scope is set by the access layer (`core.access`) once the user is known, and can be set
explicitly with `council_scope()` (mail rendering for a clerk, tests). `unrestricted()`
lifts it for the rare system step taken during a clerk's request (notifying the office's
managers, say); every use is deliberate and greppable.

This module imports no model: models depend on the scope, never the other way round. The
councils table itself (`agreements.models.Council`) reaches it by registering, as the
models with clerk-only criteria do.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import ForeignKey, event
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column, with_loader_criteria


@dataclass(frozen=True)
class Scope:
    council_id: int


_scope: contextvars.ContextVar[Scope | None] = contextvars.ContextVar(
    "councildesk_scope", default=None
)

# (model class, callable taking the council id and returning the criteria lambda)
_clerk_criteria: list[tuple[type, Callable[[int], object]]] = []
# The model of the councils table, registered by it (`register_council_table`).
_council_tables: list[type] = []


class CouncilOwned:
    """Mixin for every table whose rows belong to one council."""

    @declared_attr
    def council_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("councils.id", ondelete="RESTRICT"), index=True)


def current_scope() -> Scope | None:
    return _scope.get()


def set_scope(scope: Scope | None) -> contextvars.Token:
    return _scope.set(scope)


def reset_scope(token: contextvars.Token) -> None:
    _scope.reset(token)


@contextlib.contextmanager
def council_scope(council_id: int | None) -> Iterator[None]:
    token = _scope.set(Scope(council_id) if council_id is not None else None)
    try:
        yield
    finally:
        _scope.reset(token)


@contextlib.contextmanager
def unrestricted() -> Iterator[None]:
    token = _scope.set(None)
    try:
        yield
    finally:
        _scope.reset(token)


def add_clerk_criteria(model: type, criteria: Callable[[int], object]) -> None:
    """Register criteria that apply, on top of the council filter, while a clerk is served.

    `criteria(council_id)` returns `lambda cls: <expression>`; the id reaches the lambda as
    a closure over a plain int so SQLAlchemy caches the statement and binds the value.
    Called at import time by the model modules (e.g. "comments that are not internal").
    """
    if not any(m is model for m, _ in _clerk_criteria):
        _clerk_criteria.append((model, criteria))


def register_council_table(model: type) -> None:
    """Register the model of the councils table: while a clerk is served it holds only the
    clerk's own council. Called at import time by `agreements.models`, so that the scope
    needs no import of the models (they import it)."""
    if not any(m is model for m in _council_tables):
        _council_tables.append(model)


def _criteria_options(scope: Scope) -> list:
    cid = scope.council_id
    options = [
        # include_aliases: also when the entity appears aliased (self-joins, subqueries).
        with_loader_criteria(
            CouncilOwned, lambda cls: cls.council_id == cid, include_aliases=True
        ),
    ]
    for model in _council_tables:
        options.append(with_loader_criteria(model, lambda cls: cls.id == cid, include_aliases=True))
    for model, build in _clerk_criteria:
        options.append(with_loader_criteria(model, build(cid), include_aliases=True))
    return options


def _is_scoped(cls: type) -> bool:
    return issubclass(cls, (*_council_tables, CouncilOwned)) or any(issubclass(cls, m) for m, _ in _clerk_criteria)


def _apply_scope(execute_state) -> None:
    scope = _scope.get()
    if scope is None:
        return
    # Bulk UPDATE and DELETE too: a clerk's request must not reach another council's rows
    # through `update(Model).where(...)` any more than through a SELECT.
    if not (execute_state.is_select or execute_state.is_update or execute_state.is_delete):
        return
    # Refreshing an object already loaded (expired or deferred columns) reveals nothing new.
    # Relationship loads do get the criteria, although they often inherit them from the
    # parent's query: the parent may have been loaded before the scope was set, or in
    # `unrestricted()`, and then there is nothing to inherit.
    if execute_state.is_column_load:
        return
    execute_state.statement = execute_state.statement.options(*_criteria_options(scope))


class ScopeAwareSession(FlaskSession):
    """The session class of `extensions.db`.

    `Session.get` and many-to-one lazy loads look in the identity map first, without SQL
    and so without the scope's criteria: another council's object loaded earlier in the
    same session (in `unrestricted()`, or before the scope was set) would come back from it.
    While a scope is set, council-scoped classes skip the map and ask the database through
    the criteria; a row found is still matched to the object already in the map.
    `_identity_lookup` is SQLAlchemy's override point for this (horizontal sharding uses it).
    """

    def _identity_lookup(self, mapper, primary_key_identity, *args, **kwargs):
        if _scope.get() is not None and _is_scoped(mapper.class_):
            return None
        return super()._identity_lookup(mapper, primary_key_identity, *args, **kwargs)


def install() -> None:
    """Hook the scope into every ORM session (idempotent)."""
    if not event.contains(Session, "do_orm_execute", _apply_scope):
        event.listen(Session, "do_orm_execute", _apply_scope)
