"""Where state lives: the database (default) or a JSON file (``--state PATH``).

Both follow one contract so the executor does not care which it has:
``load`` reads, ``stage`` prepares the new state inside the apply's
transaction, ``finish`` runs after the commit and ``abort`` after a rollback.
The database backend writes in the same transaction as the changes; the file
backend writes a temporary file before the commit (so an unwritable path
fails before any row is written) and renames it into place after.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from decisionform.errors import StalePlanError, StateError
from decisionform.providers.driver import Reader, as_reader
from decisionform.state.model import State

if TYPE_CHECKING:
    from sqlalchemy import Connection


class StateBackend(Protocol):
    kind: str  # "db" or "file"

    def describe(self) -> str: ...
    def load(self, conn: Connection | Reader | None, known: State | None = None) -> State: ...
    def stage(self, conn: Connection, new: State, expected_serial: int) -> None: ...
    def finish(self) -> None: ...
    def abort(self) -> None: ...


class DatabaseState:
    """State in ``gitops_state``, one row per tenant, written in the apply's transaction."""

    kind = "db"

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id

    @property
    def table(self) -> Any:
        from decisionform.providers.schema import gitops_state  # the write side only: SQLAlchemy

        return gitops_state

    def describe(self) -> str:
        return "database state"

    def load(self, conn: Connection | Reader | None, known: State | None = None) -> State:
        """The tenant's state; ``known``, a state this process read earlier, when the row still
        has its lineage and serial (every write moves the serial): the document, which holds
        every resource's body (megabytes at 10k resources), is then not read and decoded again."""
        assert conn is not None
        reader = as_reader(conn)
        if known is not None:
            found = reader.rows("SELECT lineage, serial FROM gitops_state WHERE tenant_id = ?", (self.tenant_id,))
            if (tuple(found[0]) if found else (None, 0)) == (known.lineage, known.serial):
                return known
        rows = reader.rows("SELECT lineage, serial, document, applied_plan_ids FROM gitops_state "
                           "WHERE tenant_id = ?", (self.tenant_id,))
        if not rows:
            return State()
        lineage, serial, document, applied = rows[0]
        doc = {"format_version": 1, "lineage": lineage, "serial": serial,
               "resources": reader.decode_json(document) or {},
               "applied_plan_ids": reader.decode_json(applied) or []}
        return State.from_document(doc, "database state")

    def stage(self, conn: Connection, new: State, expected_serial: int) -> None:
        doc = new.to_document()
        from sqlalchemy import insert, update

        values = {"lineage": doc["lineage"], "serial": doc["serial"], "document": doc["resources"],
                  "applied_plan_ids": doc["applied_plan_ids"], "updated_at": datetime.now(UTC)}
        t = self.table
        if expected_serial == 0 and not self._exists(conn):
            conn.execute(insert(t).values(tenant_id=self.tenant_id, **values))
            return
        result = conn.execute(update(t).where(t.c.tenant_id == self.tenant_id, t.c.serial == expected_serial)
                              .values(**values))
        if result.rowcount != 1:
            raise StalePlanError([f"the state serial moved (expected {expected_serial})"])

    def _exists(self, conn: Connection) -> bool:
        return bool(as_reader(conn).rows("SELECT tenant_id FROM gitops_state WHERE tenant_id = ?", (self.tenant_id,)))

    def finish(self) -> None:
        return None

    def abort(self) -> None:
        return None


class FileState:
    """State in a JSON file; replaced atomically (temp file + rename) after the commit."""

    kind = "file"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._tmp: str | None = None

    def describe(self) -> str:
        return f"state file {self.path}"

    def load(self, conn: Connection | Reader | None = None, known: State | None = None) -> State:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return State()
        except OSError as exc:
            raise StateError(f"cannot read state file {self.path}: {exc.strerror or exc}") from exc
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise StateError(f"state file {self.path} is not valid JSON: {exc}") from exc
        return State.from_document(doc, f"state file {self.path}")

    def stage(self, conn: Connection | None, new: State, expected_serial: int) -> None:
        current = self.load()
        if current.serial != expected_serial:
            raise StalePlanError([f"the state serial moved ({expected_serial} → {current.serial}) in {self.path}"])
        data = orjson.dumps(new.to_document(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
        try:
            fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent or Path("."))
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            self.abort()
            raise StateError(f"cannot write state file {self.path}: {exc.strerror or exc}") from exc

    def finish(self) -> None:
        if self._tmp is None:
            return
        try:
            os.replace(self._tmp, self.path)
        except OSError as exc:
            raise StateError(
                f"the changes were committed but state file {self.path} could not be written "
                f"({exc.strerror or exc}); the next plan will find the rows by name") from exc
        finally:
            self._tmp = None

    def abort(self) -> None:
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
            self._tmp = None

    def write_now(self, new: State) -> None:
        """Write outside an apply (state push / rm, refresh --update-state)."""
        self.stage(None, new, self.load().serial)
        self.finish()
