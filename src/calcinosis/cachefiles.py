"""The user's cache directory, and replacing a file in it atomically.

What is kept there is only ever a cache, never a source: the pooled estimates the
answers quote (``answers/estimates.py``), the verdict that the lexicon's patterns
compile (``answers/lexicon.py``) and the parsed YAML of the data files
(``datafiles.py``). Each is used only when its key says it is exactly what the code
would compute now, and a directory that cannot be written is no error: the process
computes again.

Where: ``$CALCINOSIS_CACHE_DIR``, else ``$XDG_CACHE_HOME/calcinosis``, else
``~/.cache/calcinosis`` (an empty variable counts as unset, as for the settings);
``CALCINOSIS_CACHE_DIR=/dev/null`` keeps nothing (no directory can be made there).
"""

from __future__ import annotations

import datetime
import hashlib
import io
import os
import pickle
import tempfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["cache_dir", "plain_bytes", "read_plain", "replace_atomically"]

_DIGEST = 32  # bytes of SHA-256, ahead of the pickle: a file damaged on disk is not read
# The only classes a cache file may name: the dates of YAML's safe loader. Built-in values
# (None, booleans, numbers, strings, bytes, tuples, lists, sets and dicts) need none.
_PLAIN_CLASSES = {
    ("datetime", "date"): datetime.date,
    ("datetime", "datetime"): datetime.datetime,
    ("datetime", "timedelta"): datetime.timedelta,
    ("datetime", "timezone"): datetime.timezone,
}


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The directory the caches are kept in."""
    env = os.environ if environ is None else environ
    given = env.get("CALCINOSIS_CACHE_DIR")
    if given:
        return Path(given)
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "calcinosis"


class _PlainUnpickler(pickle.Unpickler):
    """An unpickler of plain data: built-in values and dates, no other class, so that a
    planted file can make no object run code."""

    def find_class(self, module: str, name: str) -> type:
        found = _PLAIN_CLASSES.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"{module}.{name} is not plain data")
        return found


def _loads(content: bytes) -> object:
    return _PlainUnpickler(io.BytesIO(content)).load()


def read_plain(path: Path) -> object:
    """The plain data kept in ``path``; any exception (OSError, ValueError, pickle's
    errors...) when it is missing, unreadable, corrupt (its SHA-256 differs) or not plain
    data: the caller computes again."""
    content = path.read_bytes()
    digest, payload = content[:_DIGEST], content[_DIGEST:]
    if hashlib.sha256(payload).digest() != digest:
        raise ValueError(f"{path.name}: corrupt (its SHA-256 differs)")
    return _loads(payload)


def plain_bytes(data: object) -> bytes | None:
    """``data`` as the bytes of a cache file (the SHA-256 of the pickle, then the pickle),
    or None when it would not read back as itself (it holds an object other than plain
    data, or a NaN)."""
    try:
        payload = pickle.dumps(data, protocol=5)
        same = _loads(payload) == data
    except (pickle.PickleError, TypeError, AttributeError, RecursionError):
        return None
    return hashlib.sha256(payload).digest() + payload if same else None


def replace_atomically(path: Path, content: bytes) -> bool:
    """Write ``content`` to ``path`` through a temporary file in the same directory and
    ``os.replace``, so that a reader sees the old file or the new one, never a part.
    False (and nothing left behind) when the directory cannot be made or written."""
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "wb", dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp", delete=False
        ) as handle:
            temporary = Path(handle.name)
            handle.write(content)
        os.replace(temporary, path)
        temporary = None
        return True
    except OSError:
        return False
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
