"""Schema migrations: `mss init` and `mss db upgrade` run Alembic to head here.

Ref: docs/architecture.md "Storage" (Alembic is the only way the schema changes).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

import migrations
from imap_store.store.db import async_url


def alembic_config(url: str, base_dir: Path) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    cfg.attributes["url"] = async_url(url, base_dir)
    return cfg


def upgrade_to_head(url: str, base_dir: Path) -> None:
    """Migrate the database at `url` to the newest revision (blocking)."""
    cfg = alembic_config(url, base_dir)
    if cfg.attributes["url"].get_backend_name() == "sqlite":
        Path(cfg.attributes["url"].database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(cfg, "head")


async def upgrade_to_head_async(url: str, base_dir: Path) -> None:
    await asyncio.to_thread(upgrade_to_head, url, base_dir)


def current_heads(url: str, base_dir: Path) -> list[str]:
    from alembic.script import ScriptDirectory
    return list(ScriptDirectory.from_config(alembic_config(url, base_dir)).get_heads())
