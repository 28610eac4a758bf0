"""Alembic environment: runs migrations with the async engine of the configured URL.

The URL comes from `config.attributes["url"]` (set by `server.migrate`), never
from alembic.ini, so one code path serves `mss init`, `mss db upgrade` and tests.

Ref: Alembic cookbook "Using Asyncio with Alembic".
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from directory import models as _directory_models  # noqa: F401  (registers the directory tables)
from imap_store.store.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: Any) -> None:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


def run() -> None:
    url = context.config.attributes["url"]
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_async(url))


run()
