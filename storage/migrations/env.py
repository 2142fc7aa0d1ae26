"""Alembic environment: runs on the connection ``storage.engine`` hands over (never reads a URL)."""

from alembic import context

from newswatch.storage.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")   # SQLite cannot ALTER much
with context.begin_transaction():
    context.run_migrations()
