"""One exception hierarchy for decisionform.

Every error a user can cause is a ``DecisionformError``; the CLI prints its
message (no traceback) and exits 1, the API maps it to a 4xx status.
Anything else that escapes is a real fault (a bug or a broken database).

    DecisionformError
    ├── UsageError               bad option value, unknown kind, bad address
    ├── BundleError              the bundle cannot be used (carries .issues)
    │   ├── ParseError           syntax, duplicate key, alias budget, size, nesting, empty
    │   ├── SchemaError          a field breaks the spec (type, range, unknown field)
    │   ├── UnresolvedReference  a reference names nothing in the bundle or database
    │   └── CycleError           references form a loop (the loop is listed)
    ├── PlanError
    │   ├── PlanFileError        unreadable, tampered or wrong-version plan file
    │   ├── StalePlanError       the database or state moved since the plan
    │   ├── AlreadyAppliedError  this plan's changes were already applied
    │   └── PruneRefused         empty bundle, protected or still-referenced resource
    ├── StateError
    │   ├── LockedError          another run holds the tenant's lease
    │   └── StateConflictError   push/pull lineage or serial mismatch
    ├── TenantError              unknown tenant, or tenant already exists
    ├── AccessDenied             unknown, revoked or expired API key (HTTP 403)
    └── DatabaseError            the database refused (driver error, translated)

Each error carries where it happened: an ``Issue`` names the file location
(``file:line:column``), the resource address (``Offer "Gold"``) and the field
path (``spec.priority``), so messages read ``bundle.yaml:12:7: Offer
"Gold".spec.priority: must be <= 100``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a source file; line and column are 1-based."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.file
        if self.column is None:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"


def quote_address(kind: str, name: str) -> str:
    """The user-facing form of a resource: ``Offer "Gold Card"``."""
    return f'{kind} "{name}"'


@dataclass(frozen=True, slots=True)
class Issue:
    """One located problem: where, which resource, which field, what."""

    message: str
    location: Location | None = None
    resource: str | None = None  # quoted address, e.g. Offer "Gold Card"
    path: str | None = None  # field path, e.g. spec.priority
    extra_locations: tuple[Location, ...] = field(default_factory=tuple)

    def subject(self) -> str:
        if self.resource and self.path:
            return f"{self.resource}.{self.path}"
        return self.resource or self.path or ""

    def __str__(self) -> str:
        parts = []
        if self.location is not None:
            parts.append(str(self.location))
        subject = self.subject()
        if subject:
            parts.append(subject)
        parts.append(self.message)
        text = ": ".join(parts)
        if self.extra_locations:
            text += " (also at " + ", ".join(str(loc) for loc in self.extra_locations) + ")"
        return text

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"message": self.message}
        if self.location is not None:
            out["file"] = self.location.file
            out["line"] = self.location.line
            out["column"] = self.location.column
        if self.resource:
            out["resource"] = self.resource
        if self.path:
            out["path"] = self.path
        out["text"] = str(self)
        return out


class DecisionformError(Exception):
    """Base of every error a user can cause; ``str()`` is the full message."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> list[dict[str, object]]:
        return []


class UsageError(DecisionformError):
    code = "usage"


class BundleError(DecisionformError):
    """A bundle that cannot be used; ``issues`` lists every problem found."""

    code = "invalid_bundle"
    headline = "invalid bundle"

    def __init__(self, issues: list[Issue] | Issue | str, *, headline: str | None = None) -> None:
        if isinstance(issues, str):
            issues = [Issue(issues)]
        elif isinstance(issues, Issue):
            issues = [issues]
        self.issues: list[Issue] = list(issues)
        if headline is not None:
            self.headline = headline
        if len(self.issues) == 1:
            message = str(self.issues[0])
        else:
            lines = [f"{self.headline}: {len(self.issues)} errors"]
            lines += [f"  - {issue}" for issue in self.issues]
            message = "\n".join(lines)
        super().__init__(message)

    def details(self) -> list[dict[str, object]]:
        return [issue.as_dict() for issue in self.issues]


class ParseError(BundleError):
    code = "parse_error"
    headline = "cannot read bundle"


class SchemaError(BundleError):
    code = "schema_error"
    headline = "invalid bundle"


class UnresolvedReference(BundleError):
    code = "unresolved_reference"
    headline = "unresolved references"


class CycleError(BundleError):
    code = "reference_cycle"
    headline = "reference cycle"


class PlanError(DecisionformError):
    code = "plan_error"


class PlanFileError(PlanError):
    code = "bad_plan_file"


STALE_SHOWN = 20  # moved resources a stale-plan message lists; details() keeps them all


class StalePlanError(PlanError):
    """The rows or state a plan was made against moved; ``moved`` says how."""

    code = "stale_plan"

    def __init__(self, moved: list[str]) -> None:
        self.moved = moved
        lines = ["plan is stale: the database or state changed since the plan was made"]
        lines += [f"  - {line}" for line in moved[:STALE_SHOWN]]
        if len(moved) > STALE_SHOWN:  # a thousand moved rows would bury the one line that matters
            lines.append(f"  … and {len(moved) - STALE_SHOWN:,} more ({len(moved):,} in all)")
        lines.append("Make a new plan and review it.")
        super().__init__("\n".join(lines))

    def details(self) -> list[dict[str, object]]:
        return [{"message": line} for line in self.moved]


class AlreadyAppliedError(PlanError):
    code = "already_applied"


class PruneRefused(PlanError):
    code = "prune_refused"

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        self.reasons = reasons or []
        if self.reasons:
            message = message + "\n" + "\n".join(f"  - {r}" for r in self.reasons)
        super().__init__(message)

    def details(self) -> list[dict[str, object]]:
        return [{"message": r} for r in self.reasons]


class StateError(DecisionformError):
    code = "state_error"


class LockedError(StateError):
    code = "locked"


class StateConflictError(StateError):
    code = "state_conflict"


class TenantError(DecisionformError):
    code = "tenant_error"


class AccessDenied(DecisionformError):
    """An API key that cannot be used: unknown, revoked or expired."""

    code = "forbidden"


class DatabaseError(DecisionformError):
    """The database refused an operation; the driver's reason is passed on."""

    code = "database_error"
