"""What every ringfort command shares: the global options, the settings, the open database.

Commands run one coroutine on an open :class:`~ringfort.services.database.Database`
through :func:`run_with_database`, which also turns the services' errors into
an ``error:`` line and an exit code instead of a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import typer

from ringfort.cli.output import EXIT_FAILURE, EXIT_USER_ERROR, fail
from ringfort.errors import ConflictError, NotFoundError, RingfortError, ValidationError
from ringfort.services.database import Database
from ringfort.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True)
class CliState:
    """The global options as given; settings are built from them on demand."""

    data_dir: Path | None = None
    database_url: str | None = None

    def settings(self, **more: Any) -> Settings:
        """Settings from the environment, overridden by the global options and ``more``.

        Nested values (``sip={"listen": ...}``) are merged with the
        environment's, not put in its place.
        """
        values: dict[str, Any] = {}
        if self.data_dir is not None:
            values["data_dir"] = self.data_dir
        if self.database_url is not None:
            values["database_url"] = self.database_url
        values.update(more)
        try:
            return Settings(**values)
        except pydantic.ValidationError as exc:
            raise fail(describe_settings_error(exc)) from None


def describe_settings_error(exc: pydantic.ValidationError) -> str:
    """One line per wrong setting, naming it as the environment would (``sip.listen``)."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "settings"
        problems.append(f"{where}: {error['msg']}")
    return "; ".join(problems)


def describe(exc: RingfortError) -> str:
    """The message of a service error, prefixed with the field when the message omits it."""
    message = str(exc)
    if isinstance(exc, ValidationError) and exc.field and exc.field not in message:
        message = f"{exc.field}: {message}"
    return message


def state_of(ctx: typer.Context) -> CliState:
    """The global options of this invocation."""
    state = ctx.find_object(CliState)
    return state if state is not None else CliState()


def run_with_database(
    settings: Settings, action: Callable[[Database], Awaitable[T]], *, migrate: bool = True
) -> T:
    """Open the database of ``settings`` (migrating it if needed), run ``action``, close it.

    A service's :class:`ValidationError`, :class:`ConflictError` or
    :class:`NotFoundError` exits with status 2, any other Ringfort error
    (the database cannot be opened) with status 1; both print ``error: ...``.
    """

    async def main() -> T:
        db = Database(url=settings.effective_database_url)
        await db.open(migrate_schema=migrate)
        try:
            return await action(db)
        finally:
            await db.close()

    try:
        return asyncio.run(main())
    except (ValidationError, ConflictError, NotFoundError) as exc:
        raise fail(describe(exc), code=EXIT_USER_ERROR) from None
    except RingfortError as exc:
        raise fail(describe(exc), code=EXIT_FAILURE) from None
