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

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["cache_dir", "replace_atomically"]


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The directory the caches are kept in."""
    env = os.environ if environ is None else environ
    given = env.get("CALCINOSIS_CACHE_DIR")
    if given:
        return Path(given)
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "calcinosis"


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
