"""Errors of the storage layer: each says what is wrong with the database and what to do.

The CLI prints them as one line (no traceback) and exits 1.
"""

from __future__ import annotations


class StorageError(Exception):
    """A database problem a person can act on."""


class DatabaseUnavailable(StorageError):
    """The database cannot be opened or reached (missing folder, server down)."""


class DatabaseCorrupt(StorageError):
    """The file is not a readable database."""


class DatabaseReadOnly(StorageError):
    """The database (or its folder) cannot be written."""


class DatabaseLocked(StorageError):
    """Another process held a write lock for longer than the busy timeout."""


class DatabaseFull(StorageError):
    """The disk holding the database is full."""


class SchemaTooNew(StorageError):
    """The database was migrated by a newer newswatch."""
