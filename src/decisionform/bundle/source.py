"""Reading bundle documents, with locations, from files, directories and request bodies.

The success path is one parser call per file: yaml-rs for YAML (YAML 1.2 typing,
duplicate keys rejected) and stdlib ``json`` with a duplicate-key hook for JSON.
PyYAML's event parser is used only where yaml-rs cannot help: to measure alias
expansion before yaml-rs replays it (when the text has aliases at all), and to map
a path to ``file:line:column`` lazily, the first time an error needs a location.
"""

from __future__ import annotations

import ast
import functools
import gc
import json
import os
import posixpath
import re
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
import yaml
import yaml_rs

from decisionform.bundle.suggest import did_you_mean
from decisionform.errors import Issue, Location, ParseError

MAX_DOCUMENT_BYTES = 128 * 1024 * 1024
MAX_DEPTH = 200
MAX_ALIAS_EXPANDED_NODES = 1_000_000
MAX_ALIAS_EXPANDED_BYTES = 50_000_000
TOP_LEVEL_KEYS = ("manifest", "resources")
FILE_SUFFIXES = (".yaml", ".yml", ".json")
MANIFEST_FILES = ("manifest.yaml", "manifest.yml", "manifest.json")
# yaml-rs segfaults (Rust stack overflow) somewhere past ~10,000 nested block collections;
# a line whose indentation and indicators run this long is refused before it gets there.
_MAX_LINE_PREFIX = 1000

PathT = tuple[str | int, ...]
Syntax = Literal["yaml", "json"]
_Node = tuple[int, int, Any]  # (line, column, kids): kids is a dict, a list, or None for a scalar

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SCALAR, _ALIAS = yaml.ScalarEvent, yaml.AliasEvent
_STARTS = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_ENDS = (yaml.SequenceEndEvent, yaml.MappingEndEvent)
# The second guard, inside yaml-rs; it counts end events too, hence the factor 2.
_RS_ALIAS_LIMITS = yaml_rs.AliasLimits(max_total_replayed_events=2 * MAX_ALIAS_EXPANDED_NODES + 2)
# An anchor/alias indicator where a node may start; the literal comes first so that
# the regex engine can skip ahead to it (a leading look-behind made this 30x slower).
_ANCHOR_RE = re.compile(r"&(?<![^\s\[{,:]&)[^\s,\[\]{}]")  # ":" for JSON-like keys: {"a":*b}
_ALIAS_RE = re.compile(r"\*(?<![^\s\[{,:]\*)[^\s,\[\]{}]")
_DEEP_PREFIX_RE = re.compile(rf"\n[ \t?:-]{{{_MAX_LINE_PREFIX}}}")  # "\A|\n" would be 10x slower
_RS_POSITION_RE = re.compile(r"at line (\d+), column (\d+)")
_NOT_SPACE_RE = re.compile(r"\S")
# Why: libyaml refuses a surrogate escape ("\ud83d\ude00", how json.dumps writes an emoji), so the
# position scan stopped there and every later error was located at an ancestor (often line 1).
# The scan needs positions only: such escapes are swapped for one of the same length.
_SURROGATE_ESCAPE_RE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
# How a non-finite number can be written: YAML's .nan / .inf (in any case: yaml-rs reads .iNf),
# JSON's NaN / Infinity, and any number too large for a float, which reads as infinity: an
# exponent of three digits or more (1e999) or 309 digits in a row. Plain substring tests on the
# bytes with every digit made "0" (a regex over a 10 MB text costs a fifth of a second or more);
# a false "may" only costs the walk over the values. Searched only when the document's JSON form
# has a null at all (orjson writes NaN and infinity as null).
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_OVERFLOW_MARKS = (b"e000", b"E000", b"e+000", b"E+000", b"0" * 309)
_UTF8_BOM = b"\xef\xbb\xbf"
_SENTINEL_DOC = "---\n~\n"
_TYPE_NAMES = {type(None): "null", bool: "a boolean", int: "a number", float: "a number", str: "a string",
               list: "a list", dict: "a mapping"}


@dataclass
class SourceDocument:
    """One parsed document and where it came from; locations are computed lazily."""

    data: Any
    file: str
    index: int = 0
    _source: _Source | None = field(default=None, repr=False, compare=False)
    # Set by the reader from one JSON serialisation of the whole document (``_check_document``):
    # every value can be stored as written (no NUL, lone surrogate, integer past 64 bits or, by the
    # text's marks, non-finite number), and every string is ASCII (so NFC leaves it as it is).
    storable: bool = field(default=False, repr=False, compare=False)
    ascii: bool = field(default=False, repr=False, compare=False)

    def may_hold_nonfinite(self) -> bool:
        """Whether the text may write NaN or infinity (YAML ``.nan``/``.inf``, JSON ``NaN``/``Infinity``),
        so that only then are the values searched for one (or always, without the text)."""
        return self._source is None or self._source.nonfinite

    def locate(self, path: PathT = ()) -> Location | None:
        """Where the value at ``path`` is written, or its deepest existing ancestor."""
        return self._find(tuple(path), want_key=False)

    def locate_key(self, path: PathT = ()) -> Location | None:
        """Where the key of the last element of ``path`` is written (falls back to locate)."""
        return self._find(tuple(path), want_key=True)

    def _find(self, path: PathT, *, want_key: bool) -> Location | None:
        node = self._source.tree(self.index) if self._source is not None else None
        if node is None:
            return Location(self.file)
        key_at: Any = None  # (line, column, value node) of the last mapping key passed
        for element in path:
            kids, key_at = node[2], None
            if type(kids) is dict:
                key_at = kids.get(element if isinstance(element, str) else _scalar_text(element))
                child = key_at[2] if key_at else None
            else:
                in_list = type(kids) is list and type(element) is int and -len(kids) <= element < len(kids)
                child = kids[element] if in_list else None
            if child is None:
                key_at = None
                break
            node = child
        line, column = (key_at or node)[:2] if want_key else node[:2]
        return Location(self.file, line, column)


@dataclass
class RawEntry:
    """One resource mapping as written (not validated) and where it sits."""

    data: Any
    doc: SourceDocument
    prefix: PathT = ()

    def locate(self, subpath: PathT = ()) -> Location | None:
        return self.doc.locate(self.prefix + tuple(subpath))

    def locate_key(self, subpath: PathT = ()) -> Location | None:
        return self.doc.locate_key(self.prefix + tuple(subpath))


@dataclass
class RawBundle:
    manifest: dict[str, Any] | None
    manifest_doc: SourceDocument | None
    entries: list[RawEntry]
    source: str


def read_bundle(target: str | os.PathLike[str]) -> RawBundle:
    """Read a bundle file (.yaml/.yml/.json, or sniffed) or a directory in the files layout."""
    name = os.fspath(target)
    try:
        info = os.stat(name)
    except FileNotFoundError:
        raise _error(f"no such file or directory: {name}") from None
    except (OSError, ValueError) as exc:
        raise _error(f"cannot read {name}: {_reason(exc)}") from None
    if stat.S_ISDIR(info.st_mode):
        with gc_paused():
            return _read_directory(Path(name), name)
    return _read_one(_read_file(name, name), _syntax_for(name))


def read_bundle_text(data: bytes | str, *, filename: str = "<request body>",
                     syntax: Syntax | None = None) -> RawBundle:
    """Read a bundle from text; ``syntax`` None means JSON if it starts with { or [, else YAML."""
    return _read_one(_checked_source(data, filename), syntax)


def _read_one(source: _Source, syntax: Syntax | None) -> RawBundle:
    with gc_paused():
        assembly = _Assembly(source.file)
        assembly.add_all(_load(source, syntax))
        return assembly.finish(f"{source.file} is empty: a bundle needs a `resources` list")


@contextmanager
def gc_paused() -> Iterator[None]:
    """Bulk parsing makes only acyclic containers; the cyclic GC just slows it 1.5-4x (DESIGN §9)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def format_doc_path(path: Iterable[str | int]) -> str:
    """``("resources", 1, "metadata")`` -> ``resources[1].metadata``."""
    out = ""
    for element in path:
        if isinstance(element, int):
            out += f"[{element}]"
        elif re.fullmatch(r"[^.\[\]\s\"']+", str(element)):
            out += f".{element}" if out else str(element)
        else:
            out += f"[{json.dumps(str(element), ensure_ascii=False)}]"
    return out


def _error(message: str, location: Location | None = None, *, path: str | None = None,
           doc: SourceDocument | None = None, doc_path: PathT = ()) -> ParseError:
    """A ParseError with one issue; ``doc``/``doc_path`` let callers name the resource."""
    err = ParseError([Issue(message, location, path=path)])
    err.doc = doc  # type: ignore[attr-defined]
    err.doc_path = doc_path  # type: ignore[attr-defined]
    return err


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _too_deep(location: Location, **more: Any) -> ParseError:
    return _error(f"document is nested too deeply (limit {MAX_DEPTH} levels)", location, **more)


class _Source:
    """The text of one file or body; builds the PyYAML position trees once, on demand.

    ``raw`` is the text's UTF-8 encoding when the reader has it (a file's bytes): yaml-rs then
    parses it without encoding the text again. It is dropped once parsed.
    """

    __slots__ = ("_nonfinite", "_trees", "file", "raw", "text")

    def __init__(self, file: str, text: str, raw: bytes | None = None) -> None:
        self.file, self.text, self.raw = file, text, raw
        self._trees: list[_Node] | None = None
        self._nonfinite: bool | None = None

    @property
    def nonfinite(self) -> bool:
        """Whether the text writes a non-finite number the way YAML or JSON would (searched once)."""
        if self._nonfinite is None:
            raw = self.raw
            if raw is None:  # every mark is ASCII: the same bytes in the UTF-8
                raw = self.text.encode("utf-8", "surrogatepass")
            self._nonfinite = b"NaN" in raw or b"Infinity" in raw or _has_dot_mark(raw.lower()) or (
                any(mark in raw.translate(_DIGITS_AS_ZERO) for mark in _OVERFLOW_MARKS))
        return self._nonfinite

    def tree(self, index: int) -> _Node | None:
        if self._trees is None:
            trees: list[_Node] = []  # published only when built, for a concurrent caller's sake
            text = _SURROGATE_ESCAPE_RE.sub(r"\\u0058", self.text) if "\\u" in self.text else self.text
            with suppress(Exception, RecursionError), gc_paused():  # why: a location is best effort
                _scan(text, trees, None)
            self._trees = trees
        return self._trees[index] if 0 <= index < len(self._trees) else None

    def location(self, offset: int) -> Location:
        line = self.text.count("\n", 0, offset) + 1
        return Location(self.file, line, offset - (self.text.rfind("\n", 0, offset) + 1) + 1)


def _has_dot_mark(lowered: bytes) -> bool:
    """Whether lower-cased text may hold one of the marks that start with a dot (all of them
    lower-case to one of these two)."""
    return b".nan" in lowered or b".inf" in lowered


def _read_file(path: str, name: str) -> _Source:
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or a device could block or never end
            raise _error(f"cannot read {name}: not a regular file")
        with open(path, "rb") as handle:
            data = handle.read(MAX_DOCUMENT_BYTES + 1)
            if len(data) > MAX_DOCUMENT_BYTES:
                raise _error(_size_message(os.fstat(handle.fileno()).st_size), Location(name))
    except OSError as exc:
        raise _error(f"cannot read {name}: {_reason(exc)}") from None
    return _checked_source(data, name)


def _size_message(size: int) -> str:
    return f"document is {size} bytes, over the size cap of {MAX_DOCUMENT_BYTES} bytes (128 MiB)"


def _checked_source(data: bytes | str, file: str) -> _Source:
    """A source of checked text: within the size cap, valid UTF-8, no byte order mark, no NUL."""
    try:
        raw = data if isinstance(data, bytes) else data.encode("utf-8")
    except UnicodeEncodeError as exc:  # a str from a caller may hold lone surrogates
        raise _error("not valid text: a lone surrogate", _Source(file, data).location(exc.start)) from None
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise _error(_size_message(len(raw)), Location(file))
    try:
        text = data if isinstance(data, str) else raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        column = len(raw[raw.rfind(b"\n", 0, exc.start) + 1:exc.start].decode("utf-8", "replace")) + 1
        raise _error(f"not valid UTF-8 text: cannot decode byte 0x{raw[exc.start]:02x}",
                     Location(file, raw.count(b"\n", 0, exc.start) + 1, column)) from None
    text = text.removeprefix("\ufeff")  # yaml-rs would keep a byte order mark in the first key
    if b"\x00" in raw:  # why: yaml-rs silently stops reading at a NUL, dropping the rest
        # (U+0000 is the one character whose UTF-8 holds a zero byte: memchr, not a text scan)
        raise _error("a NUL character is not allowed", _Source(file, text).location(text.find("\x00")))
    return _Source(file, text, raw.removeprefix(_UTF8_BOM))


def _syntax_for(name: str) -> Syntax | None:
    lower = name.lower()
    return "json" if lower.endswith(".json") else "yaml" if lower.endswith((".yaml", ".yml")) else None


def _load(source: _Source, syntax: Syntax | None) -> list[SourceDocument]:
    values = None
    first = _NOT_SPACE_RE.search(source.text)
    if first is None:  # why: a blank .json is as empty as a blank .yaml, not a JSON syntax error
        values = []
    elif syntax == "json":
        values = _load_json(source, fallback=False)
    elif syntax is None and first.group() in "{[":
        values = _load_json(source, fallback=True)  # None: not JSON, but may be YAML flow style
    if values is None:
        values = _load_yaml(source)
    docs = [SourceDocument(value, source.file, index, source) for index, value in enumerate(values)]
    try:
        for doc in docs:
            if type(doc.data) in (dict, list):
                _check_document(doc, source)
    finally:
        source.raw = None  # parsed and checked: the text alone serves locations
    return docs


def _check_document(doc: SourceDocument, source: _Source) -> None:
    """Refuse a document nested deeper than MAX_DEPTH (located), and set its ``storable``/``ascii``.

    One orjson serialisation (C, ~20x faster than a Python walk) answers both: orjson refuses
    nesting at a fixed depth, so the document goes in under just enough extra lists that it
    fails exactly when the document holds a container MAX_DEPTH levels down. A document it
    refuses for another reason (an integer past 64 bits, a lone surrogate) is walked instead.
    """
    data, extra = doc.data, _orjson_padding()
    out = None
    if extra is not None:
        for _ in range(extra):
            data = [data]
        for option in _ORJSON_OPTIONS:  # string keys only (2x faster), else any key
            try:
                out = orjson.dumps(data, option=option)
                break
            except TypeError:  # a refusal is looked into below, by the walk that names the path
                continue
    if out is None:
        found = _too_deep_path(doc.data, MAX_DEPTH)
        if found is not None:
            path = tuple(reversed(found))
            raise _too_deep(doc.locate(path) or Location(doc.file), doc=doc, doc_path=path)
        return
    # orjson writes NUL as \u0000 (only an escape in the text can make one) and NaN/infinity as null
    doc.storable = not (b"\\" in out and b"\\u0000" in out) and not (b"null" in out and source.nonfinite)
    doc.ascii = out.isascii()


_ORJSON_OPTIONS = (None, orjson.OPT_NON_STR_KEYS)


@functools.cache
def _orjson_padding() -> int | None:
    """How many lists around a document make orjson refuse it exactly when it is too deep.

    orjson refuses ``limit`` nested containers; a document is too deep with MAX_DEPTH + 1.
    None if this orjson has no such limit or a lower one (then documents are walked).
    """
    value: Any = []
    for depth in range(1, 4 * MAX_DEPTH):  # value holds ``depth`` nested lists
        try:
            orjson.dumps(value)
        except TypeError:
            extra = depth - (MAX_DEPTH + 1)
            return extra if extra >= 0 else None
        value = [value]
    return None


def _load_yaml(source: _Source) -> list[Any]:
    text = source.text
    if found := _DEEP_PREFIX_RE.search("\n" + text[:_MAX_LINE_PREFIX]) or _DEEP_PREFIX_RE.search(text):
        raise _too_deep(source.location(found.start() + 1 if found.string is text else 0))
    if _ANCHOR_RE.search(text) and _ALIAS_RE.search(text):
        _check_alias_budget(source)
    # A trailing sentinel document makes yaml-rs always return the list of documents,
    # so one document that is a list cannot be mistaken for a stream of documents.
    sentinel = ("" if not text or text.endswith("\n") else "\n") + _SENTINEL_DOC
    try:
        if source.raw is not None:  # the same text as UTF-8 (checked): saves yaml-rs encoding it again
            value = yaml_rs.load(source.raw + sentinel.encode(), parse_datetime=False,
                                 alias_limits=_RS_ALIAS_LIMITS)
        else:
            value = yaml_rs.loads(text + sentinel, parse_datetime=False, alias_limits=_RS_ALIAS_LIMITS)
    except yaml_rs.YAMLDecodeError as exc:
        raise _yaml_rs_error(source, str(exc), sentinel) from None
    except RecursionError:
        raise _too_deep(Location(source.file)) from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise _error(f"cannot read YAML: {exc}", Location(source.file)) from None
    return value[:-1] if isinstance(value, list) else []


def _yaml_rs_error(source: _Source, message: str, sentinel: str) -> ParseError:
    lines = message.strip().splitlines() or ["invalid YAML"]
    if lines[0].startswith("duplicate mapping key: "):
        key_text = lines[0].removeprefix("duplicate mapping key: ")
        with suppress(ValueError, SyntaxError):
            return _duplicate_error(source, str(ast.literal_eval(key_text)), key_text)
        return _duplicate_error(source, key_text, key_text)
    if "alias" in lines[0] and "limit" in lines[0]:
        return _alias_error(Location(source.file), lines[0])
    position = _RS_POSITION_RE.search(lines[0])
    if position is None:
        return _error(f"YAML syntax error: {lines[0]}", Location(source.file))
    line, column = int(position.group(1)), int(position.group(2))
    if sentinel and line > source.text.count("\n") + 1:
        try:  # the error is in the sentinel; ask again without it for the real position
            yaml_rs.loads(source.text, parse_datetime=False, alias_limits=_RS_ALIAS_LIMITS)
        except yaml_rs.YAMLDecodeError as exc:
            return _yaml_rs_error(source, str(exc), "")
        except Exception:  # why: fall through to the position we have
            pass
    location = Location(source.file, line, column)
    if "recursion limit" in lines[-1]:
        return _too_deep(location)
    return _error(f"YAML syntax error: {lines[-1].strip()}", location)


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()  # the first key already seen (set.add returns None, so it goes on)
        raise _DuplicateKey(next(key for key, _ in pairs if key in seen or seen.add(key)))
    return result


def _load_json(source: _Source, *, fallback: bool) -> list[Any] | None:
    try:
        return [json.loads(source.text, object_pairs_hook=_unique_pairs)]
    except _DuplicateKey as exc:
        raise _duplicate_error(source, exc.key, repr(exc.key)) from None
    except RecursionError:
        raise _too_deep(Location(source.file)) from None
    except json.JSONDecodeError as exc:
        if fallback:
            return None
        raise _error(f"JSON syntax error: {exc.msg}", Location(source.file, exc.lineno, exc.colno)) from None
    except ValueError as exc:  # e.g. an integer over Python's digit limit
        raise _error(f"JSON syntax error: {exc}", Location(source.file)) from None


def _too_deep_path(value: Any, allowed: int) -> list[str | int] | None:
    """The path (reversed) to a container nested more than ``allowed`` levels down, or None."""
    if allowed <= 0:
        return []
    for item in value.values() if type(value) is dict else value:  # values(): the hot path stays lean
        if type(item) is dict or type(item) is list:
            found = _too_deep_path(item, allowed - 1)
            if found is not None:
                pairs = value.items() if type(value) is dict else enumerate(value)
                found.append(next(key for key, other in pairs if other is item))
                return found
    return None


def _check_alias_budget(source: _Source) -> None:
    """Refuse a text whose aliases expand past the budget, before yaml-rs replays them.

    Each anchor's expanded size (nodes and scalar characters, its own aliases included)
    is known when it closes; each alias then adds its anchor's size to the running total.
    """
    loader = _Loader(source.text)
    sizes: dict[str, tuple[int, int]] = {}
    opened: list[tuple[str | None, int, int]] = []
    nodes = chars = alias_nodes = alias_chars = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            kind = type(event)
            if kind is _SCALAR:
                nodes, chars = nodes + 1, chars + len(event.value)
                if event.anchor:
                    sizes[event.anchor] = (1, len(event.value))
            elif kind in _STARTS:
                opened.append((event.anchor, nodes, chars))
                nodes += 1
            elif kind in _ENDS:
                anchor, nodes0, chars0 = opened.pop()
                if anchor:
                    sizes[anchor] = (nodes - nodes0, chars - chars0)
            elif kind is _ALIAS:
                more_nodes, more_chars = sizes.get(event.anchor, (1, 0))
                nodes, chars = nodes + more_nodes, chars + more_chars
                alias_nodes, alias_chars = alias_nodes + more_nodes, alias_chars + more_chars
                if alias_nodes > MAX_ALIAS_EXPANDED_NODES or alias_chars > MAX_ALIAS_EXPANDED_BYTES:
                    mark = event.start_mark
                    raise _alias_error(Location(source.file, mark.line + 1, mark.column + 1),
                                       f"aliases expand to at least {alias_nodes} nodes / {alias_chars} bytes")
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(source.file, mark.line + 1, mark.column + 1) if mark else Location(source.file)
        raise _error(f"YAML syntax error: {exc.problem or exc.context}", where) from None
    except yaml.reader.ReaderError as exc:
        raise _error(f"YAML syntax error: {exc.reason} (character {exc.character!r})",
                     source.location(exc.position)) from None
    finally:
        loader.dispose()


def _alias_error(location: Location, detail: str) -> ParseError:
    return _error(f"alias expansion limit exceeded: {detail} (limit {MAX_ALIAS_EXPANDED_NODES} nodes / "
                  f"{MAX_ALIAS_EXPANDED_BYTES} bytes)", location)


def _scan(text: str, docs: list[_Node], dups: list[tuple[Any, ...]] | None) -> None:
    """Build position trees (one per document) from PyYAML events, without recursion.

    With ``dups`` given, also record every repeated mapping key as
    (document index, mapping path, key, first line, first column, line, column).
    """
    loader = _Loader(text)
    anchors: dict[str, _Node] = {}
    stack: list[list[Any]] = []  # per open collection: [kids, path, pending key or None]
    try:
        while loader.check_event():
            event = loader.get_event()
            kind = type(event)
            if kind in _ENDS:
                stack.pop()
            elif kind is _SCALAR or kind is _ALIAS or kind in _STARTS:
                mark = event.start_mark
                if kind is _ALIAS:
                    target = anchors.get(event.anchor)
                    node: _Node = (mark.line + 1, mark.column + 1, target[2] if target else None)
                else:
                    kids = None if kind is _SCALAR else ({} if kind is yaml.MappingStartEvent else [])
                    node = (mark.line + 1, mark.column + 1, kids)
                    if event.anchor:
                        anchors[event.anchor] = node
                path = _attach(stack, docs, node, event.value if kind is _SCALAR else None, dups)
                if kind in _STARTS:
                    stack.append([node[2], path, None])
    finally:
        loader.dispose()


def _attach(stack: list[list[Any]], docs: list[_Node], node: _Node, key: str | None,
            dups: list[tuple[Any, ...]] | None) -> PathT:
    if not stack:
        docs.append(node)
        return ()
    frame = stack[-1]
    kids, path, pending = frame
    if type(kids) is list:
        kids.append(node)
        return (*path, len(kids) - 1)
    if pending is None:  # this node is a key; its value comes next
        frame[2] = (key, node[0], node[1])
        return (*path, "<key>")
    frame[2] = None
    name = pending[0]
    if name is not None and name not in kids:
        kids[name] = (pending[1], pending[2], node)
    elif name is not None and dups is not None:
        first = kids[name]
        dups.append((len(docs) - 1, path, name, first[0], first[1], pending[1], pending[2]))
    return (*path, name if name is not None else "<key>")


def _scalar_text(value: Any) -> str:
    """How a non-string key (yaml-rs reads ``1:`` as 1) is spelt in PyYAML's events."""
    is_word = isinstance(value, bool) or value is None
    return ("true" if value else "false" if value is False else "null") if is_word else str(value)


def _duplicate_error(source: _Source, key: str, key_text: str) -> ParseError:
    dups: list[tuple[Any, ...]] = []
    with suppress(Exception, RecursionError):  # why: the position is best effort
        _scan(source.text, [], dups)
    found = next((d for d in dups if d[2] == key), dups[0] if dups else None)
    if found is None:
        return _error(f"duplicate key {key_text}", Location(source.file))
    index, path, _, first_line, _, line, column = found
    doc = SourceDocument(_last_wins(source.text, index), source.file, index, source)
    return _error(f"duplicate key {key_text} (first defined at line {first_line})",
                  Location(source.file, line, column), path=format_doc_path(path) or None,
                  doc=doc, doc_path=path)


def _last_wins(text: str, index: int) -> Any:
    """The document as a YAML 1.1 reader would see it, so a caller can name the resource."""
    try:
        values = yaml_rs.loads(text + "\n" + _SENTINEL_DOC, parse_datetime=False, alias_limits=_RS_ALIAS_LIMITS,
                               duplicate_key_policy=yaml_rs.DuplicateKeyPolicy.LastWins)
        return values[index] if isinstance(values, list) and index < len(values) - 1 else None
    except Exception:  # why: only a help for the message; the duplicate is the error
        return None


class _Assembly:
    """Collects the documents of one file or directory into a RawBundle, checking the top level."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.manifest: dict[str, Any] | None = None
        self.manifest_doc: SourceDocument | None = None
        self.entries: list[RawEntry] = []
        self.has_resources = False  # a `resources` key or a resource document was seen
        self.first_doc: SourceDocument | None = None

    def add_all(self, docs: list[SourceDocument], *, manifest_file: bool = False) -> None:
        for doc in docs:
            if doc.data is not None:  # None: an empty document in a stream
                self.first_doc = self.first_doc or doc
                self.add(doc, doc.data, manifest_file)

    def add(self, doc: SourceDocument, data: Any, manifest_file: bool) -> None:
        if not isinstance(data, dict):
            hint = "; to give a list of resources, put it under `resources:`" if isinstance(data, list) else ""
            raise _error(f"the top level must be a mapping with a `resources` list, not "
                         f"{_type_name(data)}{hint}", doc.locate(()), doc=doc)
        keys = set(data)
        if manifest_file and "apiVersion" in keys and not keys & {"manifest", "resources", "kind"}:
            return self._set_manifest(data, doc, ())  # a bare manifest mapping in manifest.yaml
        if keys & {"kind", "metadata", "spec"} and not keys & {"manifest", "resources"}:
            self.entries.append(RawEntry(data, doc, ()))  # a one-resource document
            self.has_resources = True
            return None
        for key in data:
            if key not in TOP_LEVEL_KEYS:
                guess = did_you_mean(str(key), TOP_LEVEL_KEYS)
                tail = f"; did you mean `{guess}`?" if guess else f" (allowed: {', '.join(TOP_LEVEL_KEYS)})"
                raise _error(f"unknown top-level key `{key}`{tail}", doc.locate_key((key,)),
                             doc=doc, doc_path=(key,))
        if data.get("manifest") is not None:
            self._set_manifest(data["manifest"], doc, ("manifest",))
        if "resources" in data:
            resources = data["resources"]
            if not isinstance(resources, list):
                raise _error(f"`resources` must be a list (found {_type_name(resources)})",
                             doc.locate_key(("resources",)), doc=doc, doc_path=("resources",))
            self.has_resources = True
            self.entries += [RawEntry(item, doc, ("resources", i)) for i, item in enumerate(resources)]
        return None

    def _set_manifest(self, value: Any, doc: SourceDocument, path: PathT) -> None:
        if not isinstance(value, dict):
            raise _error(f"`manifest` must be a mapping (found {_type_name(value)})", doc.locate(path),
                         doc=doc, doc_path=path)
        if self.manifest_doc is not None and value != self.manifest:
            first = self.manifest_doc.locate(("manifest",))
            raise _error(f"a second, different `manifest` (the first is at {first})", doc.locate(path),
                         doc=doc, doc_path=path)
        self.manifest, self.manifest_doc = value, doc

    def finish(self, empty_message: str) -> RawBundle:
        if self.first_doc is None:
            raise _error(empty_message)
        if not self.has_resources:
            raise _error("`resources` is missing: a bundle needs a `resources` list "
                         "(write `resources: []` to mean no resources)", self.first_doc.locate(()),
                         doc=self.first_doc)
        return RawBundle(self.manifest, self.manifest_doc, self.entries, self.source)


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _read_directory(root: Path, name: str) -> RawBundle:
    assembly = _Assembly(name)
    files = _directory_files(root, name)
    if not files:
        raise _error(f"{name} holds no resource file (*.yaml, *.yml or *.json)")
    inside = root.resolve()
    for relative in files:
        shown = posixpath.join(name, relative)
        path = root / relative
        # A file that is no symbolic link sits where it was found: os.walk never enters a linked
        # folder, so resolving it (a system call per path part) would give inside/relative.
        if os.path.islink(path) and not _resolved(path, shown).is_relative_to(inside):
            # why: a pull request could link categories/x.yaml to a secret on the CI runner, and
            # a plan's error messages (posted on the PR) would quote it
            raise _error(f"{shown} is a link to a file outside {name}; a bundle reads only its own files")
        docs = _load(_read_file(str(path), shown), _syntax_for(relative))
        if all(doc.data is None for doc in docs):  # why: a truncated file must not read as "delete it"
            raise _error(f"{shown} is empty: a resource file needs a resource or a `resources` list")
        assembly.add_all(docs, manifest_file=relative in MANIFEST_FILES)
    if not assembly.has_resources:
        raise _error(f"{name} holds no resource file, only a manifest")
    return assembly.finish(f"{name} holds no resource file")


def _resolved(path: Path, shown: str) -> Path:
    try:
        return path.resolve()
    except (RuntimeError, OSError) as exc:  # a loop of links (Python says RuntimeError), or unreadable
        raise _error(f"{shown} is a link that never reaches a file ({_reason(exc)})") from None


def _directory_files(root: Path, name: str) -> list[str]:
    """Bundle files under ``root`` (relative, posix), hidden ones skipped, symlinked folders not
    followed (no loops); the manifest first, then by path, whatever order the file system lists."""
    def refuse(exc: OSError) -> None:
        raise _error(f"cannot read {exc.filename or name}: {_reason(exc)}")

    found: list[str] = []
    for folder, subfolders, files in os.walk(root, onerror=refuse):
        subfolders[:] = [sub for sub in subfolders if not sub.startswith(".")]
        relative = Path(folder).relative_to(root).as_posix()
        found += [posixpath.normpath(posixpath.join(relative, file)) for file in files
                  if not file.startswith(".") and file.lower().endswith(FILE_SUFFIXES)]
    return sorted(found, key=lambda rel: (rel not in MANIFEST_FILES, rel.split("/")))
