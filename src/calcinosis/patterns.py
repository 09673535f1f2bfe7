"""Regular expressions compiled once, for every later process.

CPython compiles a regular expression in Python (``re._parser`` parses it, and
``re._compiler`` turns the parse into a program, a list of integers) and only then gives
the program to its engine in C (``_sre.compile``), which checks it and runs it. The
answers' 250 or so expressions, about 30,000 characters, cost about 0.33 G instructions
to compile: 17% of each ``calcinosis ask`` process, every time it starts (callgrind).

So :func:`compiled` keeps each program in the cache directory (``cachefiles.py``), and
the next process gives the kept program to the engine, which is what ``re.compile`` does
with the program it has just made: the same engine call on the same integers, so the
same expression. The engine checks a program before it takes it, as it checks every
program, and an entry it refuses, or one not well formed, is compiled again.

The file is a cache, never a source. Its name carries the SHA-256 of Python's version
and the engine's ``MAGIC`` (a program is only meaningful to the engine that it was made
for) and of this module's source; another Python reads another file. It is read once,
on the first expression asked for, and written (atomically, merged with what another
process may have added meanwhile) when the process ends, only if it learnt a new
expression. It holds plain data only (integers, strings, tuples, lists and dicts), read by
an unpickler that takes no class, after its SHA-256 is checked (``cachefiles.read_plain``).
Like Python's own bytecode in ``__pycache__``, it is trusted to hold what this module
wrote: it cannot make code run, and damage is found, but a deliberate edit that the
engine accepts (a wrong group count, say) is not.
``CALCINOSIS_CACHE_DIR=/dev/null`` keeps nothing, and an unwritable directory is no error:
every expression is then compiled as ``re`` would.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from threading import Lock
from types import ModuleType

from calcinosis.cachefiles import cache_dir, plain_bytes, read_plain, replace_atomically

__all__ = [
    "compiled",
    "findall",
    "finditer",
    "fullmatch",
    "match",
    "save",
    "search",
    "split",
    "sub",
]

# The parts ``re.compile`` is made of (CPython 3.11; typeshed describes none of them).
_sre: ModuleType | None
try:
    _sre = importlib.import_module("_sre")
    _compiler = importlib.import_module("re._compiler")
    _parser = importlib.import_module("re._parser")
except ImportError:  # pragma: no cover - another Python: plain re.compile
    _sre = None

FORMAT = 1
# (pattern, flags) -> (flags of the program, the program, groups, group names)
Program = tuple[int, list[int], int, dict[str, int]]

_lock = Lock()
_known: dict[tuple[str, int], Program] | None = None
_learnt: dict[tuple[str, int], Program] = {}
_saving = False


def compiled(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """``re.compile(pattern, flags)``, without compiling again what a process before
    this one compiled."""
    if _sre is None:  # pragma: no cover
        return re.compile(pattern, flags)
    flags = int(flags)  # a RegexFlag as re.compile takes it
    key = (pattern, flags)
    program = _programs().get(key)
    if program is not None and _well_formed(program):
        made = _engine(pattern, program)
        if made is not None:
            return made
    program = _program(pattern, flags)
    made = _engine(pattern, program)
    if made is None:  # pragma: no cover - the engine refuses what re._compiler made
        return re.compile(pattern, flags)
    _learn(key, program)
    return made


# The expressions written where they are used (``rx.search(pattern, text)``), kept in this
# process as ``re`` keeps its last 512; what the code and the data hold is fewer.
_KEPT_AT_MOST = 2048
_kept: dict[tuple[str, int], re.Pattern[str]] = {}


def _expression(pattern: str, flags: int) -> re.Pattern[str]:
    key = (pattern, int(flags))
    made = _kept.get(key)
    if made is None:
        if len(_kept) >= _KEPT_AT_MOST:
            _kept.clear()
        made = _kept[key] = compiled(pattern, flags)
    return made


# ``re``'s functions of the same names and arguments, through compiled().
def search(pattern: str, string: str, flags: int = 0) -> re.Match[str] | None:
    """``re.search``."""
    return _expression(pattern, flags).search(string)


def match(pattern: str, string: str, flags: int = 0) -> re.Match[str] | None:
    """``re.match``."""
    return _expression(pattern, flags).match(string)


def fullmatch(pattern: str, string: str, flags: int = 0) -> re.Match[str] | None:
    """``re.fullmatch``."""
    return _expression(pattern, flags).fullmatch(string)


def findall(pattern: str, string: str, flags: int = 0) -> list[str]:
    """``re.findall``, for an expression with one group at most (the strings found);
    ValueError for one with more, whose finds are tuples."""
    expression = _expression(pattern, flags)
    if expression.groups > 1:
        raise ValueError(f"findall of an expression with {expression.groups} groups")
    return expression.findall(string)


def finditer(pattern: str, string: str, flags: int = 0) -> Iterator[re.Match[str]]:
    """``re.finditer``."""
    return _expression(pattern, flags).finditer(string)


def sub(
    pattern: str,
    repl: str | Callable[[re.Match[str]], str],
    string: str,
    count: int = 0,
    flags: int = 0,
) -> str:
    """``re.sub``."""
    return _expression(pattern, flags).sub(repl, string, count)


def split(pattern: str, string: str, maxsplit: int = 0, flags: int = 0) -> list[str]:
    """``re.split``, for an expression without groups (the parts between its matches);
    ValueError for one with groups, whose matches are in the list too."""
    expression = _expression(pattern, flags)
    if expression.groups:
        raise ValueError(f"split by an expression with {expression.groups} groups")
    return expression.split(string, maxsplit)


def _program(pattern: str, flags: int) -> Program:
    """What ``re._compiler.compile`` gives the engine for ``pattern``."""
    parsed = _parser.parse(pattern, flags)
    code = [int(op) for op in _compiler._code(parsed, flags)]  # its opcodes are named ints
    return (flags | parsed.state.flags, code, parsed.state.groups - 1, parsed.state.groupdict)


def _engine(pattern: str, program: Program) -> re.Pattern[str] | None:
    """The engine's expression for ``program`` (None if it refuses it)."""
    if _sre is None:  # pragma: no cover
        return None
    flags, code, groups, names = program
    index: list[str | None] = [None] * (groups + 1)
    for name, number in names.items():
        index[number] = name
    try:
        made: re.Pattern[str] = _sre.compile(pattern, flags, code, groups, names, tuple(index))
    except (RuntimeError, TypeError, ValueError, OverflowError, IndexError):
        return None
    return made


def _file() -> Path | None:
    if _sre is None:  # pragma: no cover
        return None
    try:
        source = Path(__file__).read_bytes()
    except OSError:
        return None
    digest = hashlib.sha256(source + f"\0{FORMAT}\0{sys.version}\0{_sre.MAGIC}".encode())
    return cache_dir() / f"regex-{digest.hexdigest()[:32]}.pickle"


def _programs() -> dict[tuple[str, int], Program]:
    global _known  # noqa: PLW0603 - read once per process
    if _known is None:
        with _lock:
            if _known is None:
                path = _file()
                _known = _read(path) if path is not None else {}
    return _known


def _read(path: Path) -> dict[tuple[str, int], Program]:
    """The programs kept in ``path`` (plain data: ``cachefiles.read_plain``); nothing when
    it is missing, unreadable or corrupt. Each entry is checked when it is used."""
    try:
        data = read_plain(path)
    except Exception:
        return {}
    return data if isinstance(data, dict) else {}


def _well_formed(program: object) -> bool:
    """(flags, code, groups, names) with the types the engine takes; the engine itself
    checks the code."""
    if not (isinstance(program, tuple) and len(program) == 4):
        return False
    flags, code, groups, names = program
    return (
        type(flags) is int
        and type(groups) is int
        and groups >= 0
        and isinstance(code, list)
        and isinstance(names, dict)
        and all(isinstance(k, str) and type(v) is int and 0 < v <= groups for k, v in names.items())
    )


def _learn(key: tuple[str, int], program: Program) -> None:
    global _saving  # noqa: PLW0603 - one exit hook per process
    with _lock:
        _learnt[key] = program
        if not _saving:
            _saving = True
            atexit.register(save)


def save() -> None:
    """Add what this process learnt to the file (at exit; also callable)."""
    with _lock:
        learnt = dict(_learnt)
        _learnt.clear()
    path = _file()
    if not learnt or path is None:
        return
    content = plain_bytes({**_read(path), **learnt})
    if content is not None:
        replace_atomically(path, content)
