"""Writing bundles: YAML and JSON text, and the one-file-per-resource layout (DESIGN §1).

YAML is written by yaml-rs (fast), but yaml-rs leaves some strings plain that a
reader would type: ``2026-01-01`` (a date to YAML 1.1), ``0o17``/``1_000`` (numbers
to yaml-rs itself), ``0b101``. Such strings are swapped for placeholders that
yaml-rs must quote, and the placeholders are then replaced by the double-quoted
original, so the text reads back as the same strings under YAML 1.2 and 1.1.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import secrets
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import yaml_rs

from decisionform.bundle.source import gc_paused
from decisionform.errors import UsageError

MAX_SLUG_LENGTH = 80
_FALLBACK_SLUG = "resource"
_DEVICE_NAMES = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                           *(f"lpt{i}" for i in range(1, 10))})
# Latin letters that Unicode does not decompose into an ASCII base letter.
_FOLD = str.maketrans({"ß": "ss", "æ": "ae", "ø": "o", "œ": "oe", "đ": "d", "ð": "d", "ł": "l",
                       "þ": "th", "ı": "i", "ħ": "h", "ŋ": "n"})
_SLUG_JUNK_RE = re.compile(r"[^a-z0-9]+")



@functools.cache
def _pyyaml_resolvers() -> dict[str, list[tuple[str, re.Pattern[str]]]]:
    """PyYAML's implicit resolvers (YAML 1.1), loaded on first dump: a plan never dumps YAML."""
    import yaml

    return yaml.resolver.Resolver.yaml_implicit_resolvers


# First characters (and words) of strings that yaml-rs may read as something else.
_RS_TYPED_FIRST = frozenset("0123456789+-._~")
_RS_WORDS = frozenset({"null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE"})
_PLAIN_SCALARS = frozenset({int, float, bool, type(None)})
_JSON_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS


# ---------------------------------------------------------------------------- text

def dump_yaml(doc: Any) -> str:
    """Block-style YAML, key order as given, read back identically by YAML 1.2 and 1.1 readers."""
    if type(doc) is str and not doc.isprintable():  # yaml-rs writes a top-level "|-" no reader takes
        return _double_quoted(doc) + "\n"
    quoted: dict[str, int] = {}
    nonce = secrets.token_hex(6)
    with gc_paused():
        text = yaml_rs.dumps(_prepare(doc, quoted, nonce))
    if quoted:
        replacements = [_double_quoted(original) for original in quoted]
        text = re.sub(rf'"@{nonce}:(\d+)"', lambda m: replacements[int(m.group(1))], text)
    text = text.removeprefix("---\n")
    return text if text.endswith("\n") else text + "\n"


def dump_json(doc: Any) -> str:
    """JSON, indented by 2, non-ASCII kept as UTF-8, with a trailing newline."""
    try:
        return orjson.dumps(doc, option=_JSON_OPTIONS).decode("utf-8")
    except orjson.JSONEncodeError:  # e.g. an integer past 64 bits, which orjson refuses
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _prepare(value: Any, quoted: dict[str, int], nonce: str) -> Any:
    """A copy of ``value`` with every ambiguous string replaced by a quoted placeholder.

    Scalars are handled inline, not by a call each: this walk visits every value of
    the bundle and call overhead was most of its cost.
    """
    kind = type(value)
    if kind is str:
        return _placeholder(value, quoted, nonce) if _ambiguous(value) else value
    if kind is list or kind is tuple:
        items = list(value)
        for i, item in enumerate(items):
            if type(item) is str:
                if _ambiguous(item):
                    items[i] = _placeholder(item, quoted, nonce)
            elif type(item) not in _PLAIN_SCALARS:
                items[i] = _prepare(item, quoted, nonce)
        return items
    if kind is not dict and (kind in _PLAIN_SCALARS or not isinstance(value, Mapping)):
        return value
    out = {}
    for key, item in value.items():
        # yaml-rs writes a key with a line break as a block scalar, which no reader takes as a key.
        if type(key) is str and (_ambiguous(key) or not key.isprintable()):
            key = _placeholder(key, quoted, nonce)
        if type(item) is str:
            if _ambiguous(item):
                item = _placeholder(item, quoted, nonce)
        elif type(item) not in _PLAIN_SCALARS:
            item = _prepare(item, quoted, nonce)
        out[key] = item
    return out


def _placeholder(text: str, quoted: dict[str, int], nonce: str) -> str:
    # "@" is a reserved indicator, so yaml-rs has to write the placeholder in quotes.
    return f"@{nonce}:{quoted.setdefault(text, len(quoted))}"


@functools.lru_cache(maxsize=4096)  # why: bundles repeat the same words (statuses, names)
def _ambiguous(text: str) -> bool:
    """True if ``text`` written plain could read back as something other than this string."""
    if not text:
        return True
    for _tag, regexp in _pyyaml_resolvers().get(text[0], ()):  # YAML 1.1: bool, int, float, date ...
        if regexp.match(text):
            return True
    if text[0] in _RS_TYPED_FIRST or text in _RS_WORDS:
        try:
            return yaml_rs.loads(text) != text  # YAML 1.2 as yaml-rs reads it (0o17, 1_000, +.inf)
        except Exception:  # why: anything yaml-rs cannot read back plain must be quoted
            return True
    return False


def _double_quoted(text: str) -> str:
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif code < 0x20 or 0x7F <= code <= 0x9F or char in "\u2028\u2029\ufeff\ufffe\uffff":
            out.append(f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


# ---------------------------------------------------------------------------- files layout

def slugify(name: str) -> str:
    """A safe file-name stem for ``name``: ASCII, lowercase, ``-`` separated, never empty or reserved."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFC", str(name)).lower().translate(_FOLD))
    text = "".join(char for char in text if not unicodedata.combining(char))
    slug = _SLUG_JUNK_RE.sub("-", text).strip("-")[:MAX_SLUG_LENGTH].rstrip("-")
    if not slug:
        return _FALLBACK_SLUG
    return f"{slug}-{_FALLBACK_SLUG}" if slug in _DEVICE_NAMES else slug


def files_layout(manifest: Mapping[str, Any], resources: list[Mapping[str, Any]],
                 folders: Mapping[str, str]) -> dict[str, str]:
    """``{relative posix path: YAML text}``: manifest.yaml plus one file per resource in its kind's folder.

    Names that slug alike get a suffix from a hash of the exact name, so a resource's
    file does not depend on the order the resources come in.
    """
    groups: dict[tuple[str, str], list[tuple[str, Mapping[str, Any]]]] = {}
    for resource in resources:
        kind = str(resource.get("kind", ""))
        metadata = resource.get("metadata")
        name = str(metadata.get("name", "")) if isinstance(metadata, Mapping) else ""
        folder = _safe_folder(folders.get(kind) or slugify(kind))
        groups.setdefault((folder, slugify(name)), []).append((name, resource))
    # With no resource file, the manifest says "no resources" itself: a folder holding only
    # a manifest reads as an accident (source.py), and the export must read back the same.
    head = {"manifest": dict(manifest)} if resources else {"manifest": dict(manifest), "resources": []}
    files = {"manifest.yaml": dump_yaml(head)}
    for path, resource in _assign_paths(groups).items():
        files[path] = dump_yaml(resource)
    return files


def _assign_paths(groups: dict[tuple[str, str], list[tuple[str, Mapping[str, Any]]]],
                  ) -> dict[str, Mapping[str, Any]]:
    for length in (6, 12, 64):  # longer suffixes only if a suffixed name meets another slug
        paths: dict[str, Mapping[str, Any]] = {}
        for (folder, slug), members in groups.items():
            names = [name for name, _ in members]
            if len(set(names)) != len(names):
                raise ValueError(f"two resources named {names[0]!r} in {folder}/")
            for name, resource in members:
                stem = slug if len(members) == 1 else f"{slug}-{_name_hash(name)[:length]}"
                paths.setdefault(f"{folder}/{stem}.yaml", resource)
        if len(paths) == sum(len(members) for members in groups.values()):
            return paths
    raise ValueError("resource file names collide")  # would need a SHA-256 collision


def _name_hash(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


def _safe_folder(folder: str) -> str:
    parts = _safe_parts(folder)
    if parts is None:
        raise ValueError(f"unsafe folder name {folder!r}")
    return "/".join(parts)


def _safe_parts(relative: str) -> tuple[str, ...] | None:
    """The parts of a plain relative posix path (no ``.``, ``..``, empty part, drive, NUL), or None."""
    if not isinstance(relative, str) or "\x00" in relative or "\\" in relative or re.match(r"[A-Za-z]:", relative):
        return None
    parts = tuple(relative.split("/"))
    return None if any(part in ("", ".", "..") for part in parts) else parts


def _remove_stale(root: Path, keep: set[Path]) -> None:
    """An export into an earlier export's folder drops the files of resources that are gone,
    so that reading the folder back gives exactly the new export."""
    if not root.is_dir():
        return
    for path in root.rglob("*"):
        if path.suffix in (".yaml", ".yml", ".json") and path.is_file() and not path.is_symlink() \
                and path.resolve() not in keep:
            path.unlink()


def write_files_layout(files: Mapping[str, str], out_dir: Path) -> None:
    """Write ``files`` under ``out_dir`` (created); refuses any path that would land outside it."""
    root = Path(out_dir).resolve()
    if root.exists() and not root.is_dir():
        raise UsageError(f"--out {out_dir} is a file; the files layout needs a directory")
    if root.is_dir() and any(root.iterdir()) and not (root / "manifest.yaml").is_file():
        raise UsageError(f"refusing to write into {out_dir}: it is not empty and holds no earlier export "
                         "(manifest.yaml)")
    targets: list[tuple[Path, str]] = []
    for relative, text in files.items():
        parts = _safe_parts(relative)
        if parts is None:
            raise UsageError(f"refusing to write {relative!r}: outside {out_dir}")
        targets.append((root.joinpath(*parts), text))
    _remove_stale(root, {t for t, _ in targets})
    for target, text in targets:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create {target.parent}: {exc.strerror or exc}") from exc
        # A symlinked folder or file inside out_dir could still point elsewhere.
        if not target.parent.resolve().is_relative_to(root) or target.is_symlink():
            raise UsageError(f"refusing to write {target}: outside {out_dir}")
        with open(target, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)

