"""Change and Plan objects, their JSON document and the plan file.

A ``Plan`` is frozen once built: ``apply`` consumes only it (never the
bundle), and ``show`` renders the same object, so what was reviewed is what
runs. The plan file is versioned JSON with a sha256 over its body; a file
that was edited, truncated or written by another format version is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tempfile
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

import orjson

from decisionform.bundle.model import address
from decisionform.bundle.secrets import redact_change, seal
from decisionform.errors import PlanFileError

PLAN_FILE_FORMAT = "decisionform-plan/1"
DOCUMENT_VERSION = "1.1"  # 1.1 added "state"
Op = Literal["create", "update", "delete", "unchanged"]


def new_plan_id() -> str:
    return "pln_" + secrets.token_hex(10)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Change:
    kind: str
    name: str
    op: Op
    before: dict[str, Any] | None  # canonical body {metadata, spec} as live at plan time
    after: dict[str, Any] | None  # canonical body wanted
    changed: list[str] = field(default_factory=list)
    id: str | None = None  # live row id (update, delete, unchanged)
    version: int | None = None  # live row version at plan time
    live_digest: str | None = None  # digest of the live body (secrets hashed) at plan time
    env_hashes: dict[str, str] = field(default_factory=dict)  # secret path -> hash of its ${env:…} value

    @property
    def address(self) -> str:
        return address(self.kind, self.name)

    @property
    def is_change(self) -> bool:
        return self.op != "unchanged"


@dataclass
class PlanOptions:
    prune: bool = False
    allow_empty: bool = False
    kinds: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)

    @property
    def narrowed(self) -> bool:
        return bool(self.kinds or self.targets)

    def as_document(self) -> dict[str, Any]:
        return {"prune": self.prune, "allowEmpty": self.allow_empty, "kinds": self.kinds, "targets": self.targets}


@dataclass
class Plan:
    plan_id: str
    created_at: str
    tenant: str
    database: str
    state_backend: str  # "db" or "file"
    state_lineage: str | None
    state_serial: int
    options: PlanOptions
    changes: list[Change]  # execution order; unchanged entries last
    state_forget: list[str] = field(default_factory=list)  # managed addresses already gone
    state_adopt: list[str] = field(default_factory=list)  # unchanged addresses missing from state
    # Set when read from a file (not part of the stored body): what apply authenticates.
    file_checksum: str | None = field(default=None, compare=False)
    file_signature: str | None = field(default=None, compare=False)
    # True only on a plan that build_plan made, in this process, from a bundle it validated;
    # never stored or read back, so a plan file's specs are always checked again by apply.
    specs_validated: ClassVar[bool] = False

    @property
    def has_changes(self) -> bool:
        return any(c.is_change for c in self.changes)

    @property
    def writes_state(self) -> bool:
        return self.has_changes or bool(self.state_forget or self.state_adopt)

    def summary(self) -> dict[str, int]:
        counts = {"created": 0, "updated": 0, "deleted": 0, "unchanged": 0}
        names = {"create": "created", "update": "updated", "delete": "deleted", "unchanged": "unchanged"}
        for c in self.changes:
            counts[names[c.op]] += 1
        return counts

    def to_document(self, *, dry_run: bool = True) -> dict[str, Any]:
        """The JSON of DESIGN §6 (redacted): one shape for CLI and API users."""
        return {
            "formatVersion": DOCUMENT_VERSION,
            "planId": self.plan_id,
            "tenant": self.tenant,
            "database": self.database,
            "createdAt": self.created_at,
            "options": self.options.as_document(),
            "dryRun": dry_run,
            "diffs": [diff_entry(c) for c in self.changes],
            "summary": self.summary(),
            # No row changes, but apply records these in state (a later --prune may then delete
            # an adopted one), so the reviewed plan must name them.
            "state": {"adopt": list(self.state_adopt), "forget": list(self.state_forget)},
        }


def diff_entry(change: Change) -> dict[str, Any]:
    before, after = redact_change(change.kind, change.before, change.after, change.changed)
    return {"kind": change.kind, "name": change.name, "op": change.op,
            "changedFields": list(change.changed), "before": before, "after": after}


# ------------------------------------------------------------------ plan file
_PLAN_FIELDS = tuple(f.name for f in fields(Plan) if f.name not in ("options", "changes", "file_checksum",
                                                                    "file_signature"))
_CHANGE_FIELDS = tuple(f.name for f in fields(Change))


def _body(plan: Plan, sealing_key: str) -> dict[str, Any]:
    """The plan as stored: literal secrets in ``after`` are sealed with the tenant's key.

    Built field by field, not by ``dataclasses.asdict``: that deep-copies every body of every
    change (seconds at 10,000 resources) only for orjson to read it once. Nothing here is
    changed in place (``seal`` returns a copy where it seals anything)."""
    body: dict[str, Any] = {name: getattr(plan, name) for name in _PLAN_FIELDS}
    body["options"] = asdict(plan.options)
    changes = []
    for change in plan.changes:
        entry = {name: getattr(change, name) for name in _CHANGE_FIELDS}
        entry["after"] = seal(change.kind, change.after, sealing_key)
        changes.append(entry)
    body["changes"] = changes
    return body


def _checksum(body_bytes: bytes) -> str:
    return "sha256:" + hashlib.sha256(body_bytes).hexdigest()


def plan_signature(checksum: str, sealing_key: str) -> str:
    """HMAC of the checksum with the tenant's key: only this database could have written the plan,
    so apply runs exactly what was reviewed (an edited file with a recomputed sha256 is refused)."""
    return "hmac-sha256:" + hmac.new(sealing_key.encode(), checksum.encode(), hashlib.sha256).hexdigest()


def write_plan_file(plan: Plan, path: str | os.PathLike[str], sealing_key: str) -> None:
    body_bytes = orjson.dumps(_body(plan, sealing_key), option=orjson.OPT_SORT_KEYS)
    checksum = _checksum(body_bytes)
    doc = b'{"format":"' + PLAN_FILE_FORMAT.encode() + b'","checksum":"' + checksum.encode() \
        + b'","signature":"' + plan_signature(checksum, sealing_key).encode() \
        + b'","plan":' + body_bytes + b"}\n"
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".plan-", dir=target.parent or Path("."))
        with os.fdopen(fd, "wb") as fh:
            fh.write(doc)
        os.replace(tmp, target)
    except OSError as exc:
        raise PlanFileError(f"cannot write plan file {os.fspath(path)}: {exc.strerror or exc}") from exc


def read_plan_file(path: str | os.PathLike[str]) -> Plan:
    name = os.fspath(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise PlanFileError(f"cannot read plan file {name}: {exc.strerror or exc}") from exc
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise PlanFileError(f"{name} is not a decisionform plan file (not JSON: {exc})") from exc
    if not isinstance(doc, dict) or "plan" not in doc:
        raise PlanFileError(f"{name} is not a decisionform plan file")
    if doc.get("format") != PLAN_FILE_FORMAT:
        raise PlanFileError(f"{name} has plan format {doc.get('format')!r}; this version reads {PLAN_FILE_FORMAT}")
    body_bytes = orjson.dumps(doc["plan"], option=orjson.OPT_SORT_KEYS)
    if doc.get("checksum") != _checksum(body_bytes):
        raise PlanFileError(f"{name} failed its integrity check (sha256): it was modified or truncated")
    plan = plan_from_body(doc["plan"], name)
    plan.file_checksum, plan.file_signature = str(doc["checksum"]), str(doc.get("signature", ""))
    return plan


def plan_from_body(body: dict[str, Any], name: str = "plan") -> Plan:
    try:
        options = PlanOptions(**body.pop("options"))
        changes = [Change(**c) for c in body.pop("changes")]
        return Plan(options=options, changes=changes, **body)
    except (TypeError, KeyError) as exc:
        raise PlanFileError(f"{name} is damaged: {exc}") from exc
