"""Build a Plan: desired (bundle) vs live (database) vs state.

Set algebra in the manner of Alembic's autogenerate: desired − live are
creates, the intersection is compared field by field, and — with ``--prune``
only — managed (state) − desired are deletes. Every check that can fail runs
here, before anything is written: references, cycles, protection, prune
safety; an invalid bundle plans nothing at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from decisionform.bundle import secrets
from decisionform.bundle.compare import changed_paths
from decisionform.bundle.kinds import KIND_BY_NAME, kind_names, resolve_kind
from decisionform.bundle.model import Bundle, Resource, canonical_json, json_digest, split_address
from decisionform.bundle.references import Reference, Universe, check_references, references
from decisionform.bundle.suggest import did_you_mean
from decisionform.errors import (
    Issue,
    PruneRefused,
    SchemaError,
    UnresolvedReference,
    UsageError,
    quote_address,
)
from decisionform.planner.graph import ORDERING_REFS, ResourceGraph
from decisionform.planner.plan import Change, Plan, PlanOptions, new_plan_id, utcnow
from decisionform.state.model import State


def normalize_kinds(kinds: Iterable[str]) -> list[str]:
    """``--kinds Offer,Chanel`` → canonical kind names, or a did-you-mean error."""
    out: list[str] = []
    for raw in kinds:
        for word in (w.strip() for w in raw.split(",")):
            if not word:
                continue
            kind = resolve_kind(word)
            if kind is None:
                hint = did_you_mean(word, kind_names())
                tail = f"; did you mean {hint!r}?" if hint else ""
                raise UsageError(f"unknown kind {word!r} in --kinds{tail} (kinds: {', '.join(kind_names())})")
            if kind.name not in out:
                out.append(kind.name)
    return out


def normalize_targets(targets: Iterable[str]) -> list[str]:
    out = []
    for target in targets:
        kind_text, sep, name = target.partition(".")
        kind = resolve_kind(kind_text)
        if not sep or not name or kind is None:
            hint = did_you_mean(kind_text, kind_names()) if not kind else None
            tail = f"; did you mean {hint!r}?" if hint else ""
            raise UsageError(f"invalid --target {target!r}: write Kind.Name, e.g. \"Offer.Gold Card\"{tail}")
        out.append(f"{kind.name}.{name}")
    return out


@dataclass
class PlanContext:
    tenant: str
    database: str
    state_backend: str
    sealing_key: str  # keys the hashes of secrets (bundle/secrets.py)


class _Builder:
    def __init__(self, bundle: Bundle, live: Any, state: State, options: PlanOptions, key: str) -> None:
        self.bundle, self.live, self.state, self.options = bundle, live, state, options
        self.key = key
        self.desired = {r.address: r for r in bundle.resources}
        self._live_forms: dict[str, tuple[Any, Any, str, bytes]] = {}
        self.refs = _References()

    def in_scope(self, addr: str) -> bool:
        kind, _ = split_address(addr)
        o = self.options
        return (not o.kinds or kind in o.kinds) and (not o.targets or addr in o.targets)

    def build(self, ctx: PlanContext) -> Plan:
        if self.options.prune and not self.bundle.resources and not self.options.allow_empty:
            raise PruneRefused(
                f"{self.bundle.source} has no resources: with --prune that would delete every managed "
                "resource. If that is really what you want, pass --allow-empty")
        self._check_targets()
        scoped = {a: r for a, r in self.desired.items() if self.in_scope(a)}
        deletes, forget = self._deletes()
        universe_resources = {a: row.resource for a, row in self.live.rows.items() if a not in deletes}
        universe_resources.update(scoped)
        universe = Universe(universe_resources.values())
        self._check_references(scoped, universe, deletes)
        graph = self._graph(universe_resources, scoped, deletes)
        changes = [self._compare(scoped[a]) for a in graph.creation_order(scoped)]
        for addr in reversed(graph.creation_order(deletes)):
            row = self.live.rows[addr]
            changes.append(Change(row.kind, row.name, "delete", before=self._hashed(row), after=None,
                                  id=row.id, version=row.version, live_digest=self.live_digest(row)))
        adopt = [c.address for c in changes if c.op == "unchanged" and self._state_lags(c)]
        plan = Plan(plan_id=new_plan_id(), created_at=utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
                    tenant=ctx.tenant, database=ctx.database, state_backend=ctx.state_backend,
                    state_lineage=self.state.lineage, state_serial=self.state.serial,
                    options=self.options, changes=changes, state_forget=forget, state_adopt=adopt)
        plan.specs_validated = True  # the bundle was validated when it loaded
        return plan

    def _check_targets(self) -> None:
        """A --target that names nothing is a typo, not "no changes"."""
        known = set(self.desired) | set(self.state.resources) | set(self.live.rows)
        for target in self.options.targets:
            if target not in known:
                hint = did_you_mean(target, known)
                tail = f"; did you mean {hint!r}?" if hint else ""
                raise UsageError(f"--target {target!r} is in neither the bundle, the state nor the database{tail}")

    def _compare(self, desired: Resource) -> Change:
        """Compare effective values (``${env:…}`` resolved, ``(sensitive)`` kept from live);
        keep secrets out of the Change: ``before`` holds hashes, ``after`` the bundle's form."""
        kind, name = desired.kind, desired.name
        row = self.live.rows.get(desired.address)
        if row is not None and row.resource is not None and row.resource._body_json is desired._body_json \
                and desired._body_json is not None and not desired.kind_def.secret_fields:
            # read_live matched this row to exactly this resource (the same canonical JSON, one
            # bytes object): nothing to compare, and one body serves as before and after
            body = desired.body()
            digest = json_digest(desired._body_json)
            self._live_forms[desired.address] = (body, body, digest, desired._body_json)
            return Change(kind, name, "unchanged", before=body, after=body, changed=[], id=row.id,
                          version=row.version, live_digest=digest)
        live_body, hashed, live_digest, live_json = self._live_form(row) if row is not None else (None,) * 4
        after = effective = body = desired.body()
        env_hashes: dict[str, str] = {}
        if desired.kind_def.secret_fields:  # only these kinds can hold secrets, (sensitive) or ${env:…}
            after = secrets.keep_live(kind, name, after, live_body)
            effective = secrets.resolve_env(kind, name, after)
            env_hashes = {".".join(path): secrets.hash_value(secrets.value_at(effective, path), self.key)
                          for path in secrets.env_refs(kind, after)}
        if row is None:
            return Change(kind, name, "create", before=None, after=after, env_hashes=env_hashes)
        desired_json = desired.body_json() if effective is body else canonical_json(effective)
        if hashed is live_body and desired_json == live_json:
            paths = []  # no secrets: the JSON the live digest was made of says "same" (most rows)
        else:
            paths = changed_paths(live_body, effective)
        return Change(kind, name, "update" if paths else "unchanged", before=hashed, after=after,
                      changed=paths, id=row.id, version=row.version, live_digest=live_digest,
                      env_hashes=env_hashes)

    def _live_form(self, row: Any) -> tuple[Any, Any, str, bytes]:
        """A live row's body, that body with secrets hashed, its digest and its sorted JSON; made once."""
        found = self._live_forms.get(row.resource.address)
        if found is None:
            body = row.resource.body()
            hashed = secrets.hashed(row.kind, body, self.key)
            data = row.resource.body_json() if hashed is body else canonical_json(hashed)
            found = self._live_forms[row.resource.address] = (body, hashed, json_digest(data), data)
        return found

    def _hashed(self, row: Any) -> Any:
        return self._live_form(row)[1]

    def live_digest(self, row: Any) -> str:
        return self._live_form(row)[2]

    def _state_lags(self, change: Change) -> bool:
        entry = self.state.resources.get(change.address)
        row = self.live.rows[change.address]
        return entry is None or entry.id != row.id or entry.digest != self.live_digest(row)

    def _deletes(self) -> tuple[dict[str, Resource], list[str]]:
        """Managed resources the bundle dropped (prune only), and managed ones already gone."""
        deletes: dict[str, Resource] = {}
        forget: list[str] = []
        if not self.options.prune:
            return deletes, forget
        protected = []
        for addr, entry in self.state.resources.items():
            if addr in self.desired or not self.in_scope(addr):
                continue
            row = self.live.rows.get(addr)
            if row is None:
                forget.append(addr)
                continue
            if entry.protected or row.resource.protected:
                protected.append(quote_address(*split_address(addr)))
                continue
            deletes[addr] = row.resource
        if protected:
            raise PruneRefused(
                "refusing to delete protected resources (annotation decisionform/prevent-destroy: \"true\"); "
                "remove the protection in its own apply first", protected)
        return deletes, forget

    def _check_references(self, scoped: dict[str, Resource], universe: Universe,
                          deletes: dict[str, Resource]) -> None:
        # A reference to a resource this plan would prune still resolves: the
        # referrer check below refuses the prune and names the referrer.
        resolvable = Universe([*(r for k in universe.by_kind.values() for r in k.values()),
                               *deletes.values()]) if deletes else universe
        issues = check_references(scoped.values(), resolvable)
        if issues:
            raise UnresolvedReference(issues)
        issues = _unique_across(universe, scoped, deletes)
        if issues:
            raise SchemaError(issues)
        if deletes:
            self._check_referrers(universe, deletes)

    def _check_referrers(self, universe: Universe, deletes: dict[str, Resource]) -> None:
        reasons = []
        for kind in universe.by_kind.values():
            for resource in kind.values():
                for ref in self.refs(resource):
                    target = ref.target_address() or _placement_channel(ref.target)
                    if target in deletes:
                        where = "in the bundle" if resource.address in self.desired else "in the database"
                        reasons.append(f"{quote_address(*split_address(target))} is still referenced by "
                                       f"{resource.quoted} ({where}) at {ref.field}")
        if reasons:
            raise PruneRefused("cannot prune resources that are still referenced; remove the references first",
                               reasons)

    def _graph(self, universe: dict[str, Resource], scoped: dict[str, Resource],
               deletes: dict[str, Resource]) -> ResourceGraph:
        return _ordered_graph((*universe.values(), *deletes.values()), self.refs, relevant=set(scoped))


class _References:
    """The references of each resource, found once per plan (checks, prune safety, graph)."""

    def __init__(self) -> None:
        self._found: dict[int, tuple[Resource, list[Reference]]] = {}  # holding the resource keeps its id

    def __call__(self, resource: Resource) -> list[Reference]:
        hit = self._found.get(id(resource))
        if hit is None:
            hit = self._found[id(resource)] = (resource, list(references(resource)))
        return hit[1]


def _placement_channel(target: str) -> str:
    channel, _, _ = target.rpartition("/")
    return f"Channel.{channel}"


def _unique_across(universe: Universe, scoped: dict[str, Resource],
                   deletes: dict[str, Resource]) -> list[Issue]:
    """Uniqueness that spans the bundle and the live rows it does not replace (keys, one default flow).

    A row this plan deletes still holds its unique values while the creates and
    updates run (deletes come last), so it counts for the unique fields.
    """
    issues = []
    for kind_name, resources in universe.by_kind.items():
        kind = KIND_BY_NAME[kind_name]
        checks = list(kind.unique_fields) + (["isDefault"] if kind_name == "DecisionFlow" else [])
        deleted = [r for r in deletes.values() if r.kind == kind_name]
        for fname in checks:
            owners: dict[Any, list[Resource]] = {}
            for r in (*resources.values(), *(deleted if fname != "isDefault" else ())):
                value = r.spec.get(fname)
                if value is None or value is False:
                    continue
                owners.setdefault(value, []).append(r)
            for value, rs in owners.items():
                if len(rs) < 2 or not any(r.address in scoped for r in rs):
                    continue
                mine = next(r for r in rs if r.address in scoped)
                others = ", ".join(r.quoted + (" (this plan deletes it only after writing this one: delete it "
                                               "in an apply of its own first)" if r.address in deletes else "")
                                   for r in rs if r is not mine)
                what = "only one DecisionFlow may be the default" if fname == "isDefault" else \
                    f"{fname} {value!r} must be unique"
                loc = mine.origin.locate(("spec", fname)) if mine.origin is not None else None
                issues.append(Issue(f"{what}; also used by {others}", loc, resource=mine.quoted,
                                    path=f"spec.{fname}"))
    return issues


def build_plan(bundle: Bundle, live: Any, state: State, options: PlanOptions, ctx: PlanContext) -> Plan:
    return _Builder(bundle, live, state, options, ctx.sealing_key).build(ctx)


def check_offline(bundle: Bundle) -> None:
    """What ``validate`` checks without a database: references inside the bundle, no cycle."""
    universe = Universe(bundle.resources)
    refs = _References()
    issues = check_references(bundle.resources, universe)
    if issues:
        raise UnresolvedReference(issues)
    _ordered_graph(bundle.resources, refs)


def _ordered_graph(resources: Iterable[Resource], refs: _References,
                   relevant: set[str] | None = None) -> ResourceGraph:
    """Every resource, with the references that order them (``ORDERING_REFS``), checked acyclic."""
    graph = ResourceGraph()
    for resource in resources:
        graph.add(resource.address)
        ordering = ORDERING_REFS.get(resource.kind)
        if ordering:  # most kinds reference only earlier kinds: nothing to look up
            for ref in refs(resource):
                if ref.ref in ordering:
                    graph.add_reference(ref)
    graph.check_acyclic(relevant=relevant)
    return graph
