"""Bad input: mutated bundles, random bytes, deep nesting and alias bombs, into the loader and the API.

The only allowed outcomes of an input: a valid bundle, or a ``DecisionformError`` (for bundle
errors, every issue located). Never another exception, never more than 2 s for one input, never a
memory blow-up (max RSS growth bounded). The HTTP API answers the same input with 200 or a 4xx in
the documented envelope, never a 500, and agrees with the loader (valid <=> 200; the same error
code otherwise).

Inputs: the committed seed corpus (``corpus/``, every run; the expected outcome is in the file
name, ``<what>.<code>.<ext>``), and mutations of valid bundles drawn by a seeded ``random.Random``
(fixed seed by default so a failure reproduces; a random one, printed, with DECISIONFORM_STRESS=1).
"""

from __future__ import annotations

import copy
import json
import os
import random
import resource
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from api.api_support import ApiEnv, make_client
from decisionform.bundle.dump import dump_yaml
from decisionform.bundle.load import load_bundle_text
from decisionform.bundle.source import read_bundle
from decisionform.errors import BundleError, DecisionformError
from decisionform.planner.build import check_offline
from decisionform.providers.database import Database
from support import NORTHWIND, CliEnv

CORPUS = Path(__file__).parent / "corpus"
STRESS = bool(os.environ.get("DECISIONFORM_STRESS"))
SEED = random.randrange(2**32) if STRESS else 20260407
LOADER_INPUTS = 5000 if STRESS else 500
API_INPUTS = 1000 if STRESS else 200
MAX_SECONDS = 2.0
MAX_RSS_GROWTH = 256 * 1024 * 1024  # bytes, for one input
HANG_ALARM = 20.0  # an input still running after this is interrupted (best effort) and reported


# ------------------------------------------------------------------ running one input
class Hang(Exception):
    pass


def _max_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


@contextmanager
def guarded(label: str, data: bytes) -> Iterator[None]:
    """Time, memory and hang checks around one input; the input is named in every failure."""
    def alarm(_signum: int, _frame: Any) -> None:
        raise Hang(f"{label}: still running after {HANG_ALARM} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_ALARM)
    rss, start = _max_rss(), time.perf_counter()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    elapsed, grown = time.perf_counter() - start, _max_rss() - rss
    shown = data[:200]
    assert elapsed < MAX_SECONDS, f"{label}: took {elapsed:.2f} s (input {shown!r}...)"
    assert grown < MAX_RSS_GROWTH, f"{label}: max RSS grew by {grown // 2**20} MiB (input {shown!r}...)"


def load_outcome(data: bytes, syntax: str | None, label: str) -> str:
    """``ok`` or the error code of what ``validate`` does with ``data``; fails on anything else."""
    with guarded(label, data):
        try:
            check_offline(load_bundle_text(data, filename="fuzz-input", syntax=syntax))
        except BundleError as exc:
            assert exc.issues, f"{label}: {exc.code} without issues"
            for issue in exc.issues:  # located: a file position, or (whole-input errors) the file named
                located = issue.location is not None and issue.location.file == "fuzz-input"
                assert located or str(issue).startswith("fuzz-input"), f"{label}: issue without a location: {issue}"
            return exc.code
        except DecisionformError as exc:
            return exc.code
        except Exception as exc:
            raise AssertionError(f"{label}: {type(exc).__name__}: {exc} (input {data[:300]!r})") from exc
    return "ok"


def check_api(api: ApiEnv, data: bytes, syntax: str | None, expected: str, label: str) -> None:
    """The diff route agrees with the loader; a real apply (another tenant) never answers 500."""
    ctype = {"json": "application/json", "yaml": "application/yaml", None: "application/octet-stream"}[syntax]
    with guarded(f"{label} (diff)", data):
        response = api.diff(data, ctype=ctype)
    assert response.status_code != 500, f"{label}: diff answered 500: {response.text[:500]}"
    if expected == "ok":
        assert api.ok(response)["summary"]["created"] >= 0
    else:
        assert api.error(response, 400)["code"] == expected, f"{label}: {response.text[:500]}"
    with guarded(f"{label} (apply)", data):
        response = api.apply(data, "dryRun=false", ctype=ctype, tenant="writer")
    assert response.status_code < 500, f"{label}: apply answered {response.status_code}: {response.text[:500]}"
    if response.status_code != 200:
        assert 400 <= response.status_code < 500
        api.error(response, response.status_code)


# ------------------------------------------------------------------ seeds
def northwind() -> dict[str, Any]:
    raw = read_bundle(NORTHWIND)
    return {"manifest": raw.manifest, "resources": [entry.data for entry in raw.entries]}


SMALL = {"resources": [
    {"kind": "Category", "metadata": {"name": "Cards"}, "spec": {"ordinal": 1}},
    {"kind": "Channel", "metadata": {"name": "Email"},
     "spec": {"channelType": "email", "placements": [{"name": "Hero", "maxSlots": 2}]}},
    {"kind": "Offer", "metadata": {"name": "Gold"}, "spec": {"category": "Cards", "priority": 80}},
    {"kind": "Creative", "metadata": {"name": "Gold Email"},
     "spec": {"offer": "Gold", "channel": "Email", "placement": "Hero", "templateType": "email_html"}},
    {"kind": "DecisionFlow", "metadata": {"name": "Main"},
     "spec": {"key": "main", "nodes": [{"id": "inv", "type": "inventory", "config": {"offers": ["Gold"]}}]}},
]}


# ------------------------------------------------------------------ mutations
WEIRD_SCALARS: list[Any] = [
    None, True, False, 0, -1, 101, 2**31, 2**63, 2**64, 10**30, -(10**30), 1e308, -0.0, 5e-324, 0.5, "", " ",
    "yes", "NO", "on", "null", "~", "1_000", "0x1F", "０１", "∞", "a\nb", "\u202e", "😀" * 300, "x" * 10_000, [],
    {}, [None], {"": None}, ["x"], {"x": {"y": []}},
]
NUMBER_TEXTS = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1" * 5000, "-" + "9" * 4400, "1e-999",
                "0.000000000000000000000000000001", "123456789012345678901234567890"]
BAD_UTF8 = [b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xa0\xa1", b"\xe2\x28\xa1", b"\xf0\x28\x8c\xbc", b"\xc0\xaf",
            b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80", b"\xef\xbb\xbf", b"\x00"]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value inside ``value`` (mapping keys and list indexes)."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from paths(item, (*prefix, i))


def get(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def pick_path(rnd: random.Random, doc: Any, where: Callable[[Any], bool] = lambda _v: True) -> tuple[Any, ...]:
    found = [p for p in paths(doc) if p and where(get(doc, p))]
    return rnd.choice(found) if found else ()


def set_at(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    get(doc, path[:-1])[path[-1]] = value
    return doc


def emit_json(value: Any, dup: tuple[Any, ...] | None = None, raw: dict[int, str] | None = None) -> str:
    """JSON text; the mapping at path ``dup`` gets its first key twice; ``raw`` swaps marked numbers
    for literal number text (NaN, 1e999, 5000 digits) that ``json.dumps`` cannot write."""
    text = _emit(value, (), dup)
    for marker, literal in (raw or {}).items():
        text = text.replace(str(marker), literal, 1)
    return text


def _emit(value: Any, at: tuple[Any, ...], dup: tuple[Any, ...] | None) -> str:
    if isinstance(value, dict):
        items = [f"{json.dumps(str(k), ensure_ascii=False)}: {_emit(v, (*at, k), dup)}" for k, v in value.items()]
        if at == dup and items:
            items.append(items[0])
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_emit(v, (*at, i), dup) for i, v in enumerate(value)) + "]"
    return json.dumps(value, ensure_ascii=False)


def serialise(rnd: random.Random, doc: Any) -> tuple[bytes, str]:
    if rnd.random() < 0.5:
        return emit_json(doc).encode("utf-8", "surrogatepass"), "json"
    return dump_yaml(doc).encode("utf-8", "surrogatepass"), "yaml"


def mutate(rnd: random.Random, seed: dict[str, Any]) -> tuple[str, bytes, str | None]:
    """One mutated input: (mutation, bytes, syntax)."""
    doc = copy.deepcopy(seed)
    kind = rnd.choice(["drop", "duplicate", "retype", "scalar", "number-text", "nest", "dangling", "truncate",
                       "utf8", "random-bytes", "flip", "swap-kind", "lone-surrogate"])
    if kind == "drop":
        path = pick_path(rnd, doc, lambda v: isinstance(v, dict) and bool(v))
        container = get(doc, path) if path else doc
        container.pop(rnd.choice(list(container)))
    elif kind == "duplicate":
        path = pick_path(rnd, doc, lambda v: isinstance(v, dict) and bool(v))
        return kind, emit_json(doc, dup=path).encode(), "json"
    elif kind == "retype":
        path = pick_path(rnd, doc)
        old = get(doc, path)
        doc = set_at(doc, path, rnd.choice([[old], {"v": old}, str(old), 7, None, True] if path else [[]]))
    elif kind == "scalar":
        doc = set_at(doc, pick_path(rnd, doc), copy.deepcopy(rnd.choice(WEIRD_SCALARS)))
    elif kind == "number-text":
        marker = rnd.randrange(10**17, 10**18)
        doc = set_at(doc, pick_path(rnd, doc), marker)
        return kind, emit_json(doc, raw={marker: rnd.choice(NUMBER_TEXTS)}).encode(), "json"
    elif kind == "nest":  # written as text: the stdlib's and the engine's writers recurse
        depth = rnd.choice([150, 190, 196, 197, 198, 199, 200, 201, 400, 1000, 3000, 20_000])
        deep = "[" * depth + "1" + "]" * depth if rnd.random() < 0.5 else '{"a": ' * depth + "1" + "}" * depth
        doc = set_at(doc, pick_path(rnd, doc), "@@NEST@@")
        data, syntax = serialise(rnd, doc)
        for quoted in (b'"@@NEST@@"', b"'@@NEST@@'"):
            data = data.replace(quoted, deep.encode())
        return kind, data, syntax
    elif kind == "dangling":
        path = pick_path(rnd, doc, lambda v: isinstance(v, dict) and isinstance(v.get("name"), str))
        target = get(doc, path) if path else doc["resources"][0]["metadata"]
        target["name"] = target["name"] + " (gone)"
    elif kind == "swap-kind":
        item = rnd.choice(doc["resources"])
        item["kind"] = rnd.choice(["Offer", "Channel", "DecisionFlow", "RankingProfile", "Ofer", "", "offer"])
    elif kind == "lone-surrogate":
        path = pick_path(rnd, doc, lambda v: isinstance(v, str))
        doc = set_at(doc, path, rnd.choice(["\ud800", "a\udfffb", "\udc80" * 3]))
        return kind, emit_json(doc).encode("ascii", "backslashreplace").replace(b"\\\\u", b"\\u"), "json"
    data, syntax = serialise(rnd, doc)
    if kind == "truncate":
        data = data[:rnd.randrange(len(data))]
    elif kind == "utf8":
        for _ in range(rnd.randint(1, 3)):
            at = rnd.randrange(len(data) + 1)
            data = data[:at] + rnd.choice(BAD_UTF8) + data[at:]
    elif kind == "random-bytes":
        data = rnd.randbytes(rnd.choice([1, 7, 64, 1000, 20_000]))
        syntax = rnd.choice(["json", "yaml", None])
    elif kind == "flip":
        buffer = bytearray(data)
        for _ in range(rnd.randint(1, 8)):
            buffer[rnd.randrange(len(buffer))] = rnd.randrange(256)
        data = bytes(buffer)
    return kind, data, syntax


# ------------------------------------------------------------------ generated nasties (also in corpus/)
def billion_laughs(levels: int, fanout: int) -> bytes:
    lines = ["a0: &a0 [lol]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fanout) + "]")
    lines.append("resources: []")
    return ("\n".join(lines) + "\n").encode()


def nasties() -> Iterator[tuple[str, bytes, str | None]]:
    yield "billion-laughs", billion_laughs(9, 10), "yaml"
    yield "billion-laughs-small", billion_laughs(4, 10), "yaml"  # 10k nodes: within budget, then unknown key
    yield "wide-alias", (f"s: &s {'x' * 1_000_000}\n" + "l: [" + ", ".join(["*s"] * 60) + "]\n").encode(), "yaml"
    for depth in (199, 200, 201, 5000, 50_000):
        yield f"json-list-{depth}", ("[" * depth + "]" * depth).encode(), "json"
        yield f"json-map-{depth}", ('{"a":' * depth + "1" + "}" * depth).encode(), "json"
        yield f"yaml-flow-{depth}", ("[" * depth + "]" * depth).encode(), "yaml"
        yield f"yaml-flow-map-{depth}", ("{a: " * depth + "1" + "}" * depth).encode(), "yaml"
    for depth in (199, 201, 600, 3000):
        yield f"yaml-block-map-{depth}", "".join(f"{'  ' * i}a:\n" for i in range(depth)).encode(), "yaml"
        yield f"yaml-block-list-{depth}", "".join(f"{'  ' * i}-\n" for i in range(depth)).encode(), "yaml"
        yield f"yaml-compact-list-{depth}", ("- " * depth + "x\n").encode(), "yaml"
    deep_spec = ("resources:\n- kind: Channel\n  metadata: {name: e}\n  spec:\n    channelType: email\n"
                 "    providerConfig: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n")
    yield "deep-in-spec", deep_spec.encode(), "yaml"
    yield "recursive-alias", b"resources:\n- kind: Channel\n  metadata: {name: e}\n  spec: &s {channelType: email, " \
        b"providerConfig: {self: *s}}\n", "yaml"
    yield "recursive-alias-top", b"a: &a [*a, *a]\nresources: []\n", "yaml"
    yield "many-documents", b"---\nresources: []\n" * 20_000, "yaml"
    yield "long-line", b"resources: [" + b"{kind: Category, metadata: {name: x}}, " * 1 + b"x" * 2_000_000 + b"]", "yaml"


# ------------------------------------------------------------------ the corpus
def corpus() -> list[tuple[str, bytes, str | None, str]]:
    """(file, bytes, syntax, expected code) of every committed corpus file."""
    out = []
    for path in sorted(CORPUS.iterdir()):
        stem, _, ext = path.name.rpartition(".")
        expected = stem.rpartition(".")[2]
        syntax = {"json": "json", "yaml": "yaml", "yml": "yaml"}.get(ext)
        out.append((path.name, path.read_bytes(), syntax, expected))
    return out


def test_corpus_files_name_their_outcome() -> None:
    codes = {"ok", "parse_error", "schema_error", "unresolved_reference", "reference_cycle"}
    files = corpus()
    assert len(files) >= 20
    assert all(expected in codes for _, _, _, expected in files), [f for f, *_ in files]


@pytest.mark.parametrize(("name", "data", "syntax", "expected"), corpus(), ids=[c[0] for c in corpus()])
def test_corpus_through_the_loader_and_validate(name: str, data: bytes, syntax: str | None, expected: str,
                                                tmp_path: Path) -> None:
    assert load_outcome(data, syntax, name) == expected
    path = tmp_path / name
    path.write_bytes(data)
    cli = CliEnv(url=f"sqlite:///{tmp_path / 'unused.db'}", tenant="none", cwd=tmp_path)
    with guarded(f"{name} (CLI validate)", data):
        result = cli.run("validate", path)  # CliEnv fails on a traceback
    assert result.code == (0 if expected == "ok" else 1), result
    if expected != "ok":
        assert str(path) in result.err, result  # the message says where


USABLE_NASTIES = {"many-documents", "recursive-alias"}  # 20,000 empty documents; a self-alias reads as null


def test_generated_nasties_through_the_loader() -> None:
    for label, data, syntax in nasties():
        outcome = load_outcome(data, syntax, label)
        assert (outcome == "ok") == (label in USABLE_NASTIES), (label, outcome)


def test_mutations_through_the_loader() -> None:
    rnd = random.Random(SEED)
    seeds = [northwind(), SMALL]
    by_kind: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    for i in range(LOADER_INPUTS):
        kind, data, syntax = mutate(rnd, seeds[i % len(seeds)])
        by_kind[kind] += 1
        outcomes[load_outcome(data, syntax, f"seed {SEED} input {i} ({kind})")] += 1
    print(f"seed {SEED}: {sum(by_kind.values())} inputs by mutation {dict(by_kind)}; outcomes {dict(outcomes)}")
    assert outcomes["ok"] > 0 and sum(outcomes.values()) - outcomes["ok"] > LOADER_INPUTS // 2, outcomes


def test_random_bytes_through_the_loader() -> None:
    rnd = random.Random(SEED + 1)
    for i in range(LOADER_INPUTS // 4):
        data = rnd.randbytes(rnd.choice([0, 1, 2, 16, 300, 5000]))
        assert load_outcome(data, rnd.choice(["json", "yaml", None]), f"seed {SEED + 1} bytes {i}") != "ok"


# ------------------------------------------------------------------ the HTTP API
@pytest.fixture
def api(cli: CliEnv) -> Iterator[ApiEnv]:
    database = Database(cli.url)
    try:
        with make_client(cli, database) as client:
            env = ApiEnv(cli=cli, database=database, client=client)
            env.add_tenant("writer")
            yield env
    finally:
        database.dispose()


def test_api_answers_bad_bodies_with_4xx_in_the_envelope(api: ApiEnv) -> None:
    rnd = random.Random(SEED + 2)
    inputs = [(name, data, syntax) for name, data, syntax, _ in corpus()]
    inputs += [(label, data, syntax) for label, data, syntax in nasties() if len(data) < 1_000_000]
    seeds = [northwind(), SMALL]
    inputs += [(f"seed {SEED + 2} input {i} ({m[0]})", m[1], m[2])
               for i, m in enumerate(mutate(rnd, seeds[i % 2]) for i in range(API_INPUTS))]
    for label, data, syntax in inputs:
        expected = load_outcome(data, syntax, label)
        check_api(api, data, syntax, expected, label)


# ------------------------------------------------------------------ values no database stores (found by the fuzz)
BIG_INT = {"resources": [{"kind": "Channel", "metadata": {"name": "e"},
                          "spec": {"channelType": "email", "providerConfig": {"x": 2**70}}}]}


def test_integer_past_64_bits_in_free_form_json_is_a_located_error() -> None:
    with pytest.raises(BundleError) as caught:
        load_bundle_text(json.dumps(BIG_INT), filename="big.json")
    issue = caught.value.issues[0]
    assert issue.location is not None and issue.location.file == "big.json"
    assert issue.path == "spec.providerConfig.x" and "64 bits" in issue.message


def test_api_apply_with_an_integer_past_64_bits_is_not_a_500(api: ApiEnv) -> None:
    response = api.apply(json.dumps(BIG_INT), "dryRun=false", ctype="application/json")
    assert response.status_code < 500, response.text


@pytest.mark.parametrize(("text", "syntax"), [
    ('{"resources": [{"kind": "Channel", "metadata": {"name": "e"}, '
     '"spec": {"channelType": "email", "providerConfig": {"x": NaN}}}]}', "json"),
    ("resources: [{kind: Channel, metadata: {name: e}, spec: {channelType: email, fileConfig: {x: .inf}}}]",
     "yaml"),
])
def test_nan_and_infinity_in_free_form_json_are_refused(text: str, syntax: str) -> None:
    with pytest.raises(BundleError) as caught:
        load_bundle_text(text, syntax=syntax)
    assert "finite" in caught.value.issues[0].message
