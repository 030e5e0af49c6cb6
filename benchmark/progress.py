"""Progress of the long phases (generation, image preparation, features, cells, report) and the
library warnings raised meanwhile.

One switch for the whole process (`--no-progress`): every bar is made here, on stderr, so none of
them ignores it. Warnings are counted instead of printed, since a printed one breaks the bar it
lands on; the run's closing summary names them with their counts.
"""
from __future__ import annotations

import re
import sys
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm.auto import tqdm

_shown = True


@contextmanager
def shown(on: bool) -> Iterator[None]:
    """Show (or hide) every bar made meanwhile."""
    global _shown
    before, _shown = _shown, on
    try:
        yield
    finally:
        _shown = before


def bar(iterable=None, **kwargs) -> tqdm:
    """A tqdm bar on stderr, hidden when progress is switched off (or when there is nothing to count)."""
    empty = kwargs.get("total") == 0
    return tqdm(iterable, disable=not _shown or empty, file=sys.stderr, **kwargs)


def warning_text(caught: warnings.WarningMessage) -> str:
    """A warning as one short line: category and message, without the arrays some libraries print."""
    message = re.split(r"[\[\n]", str(caught.message), maxsplit=1)[0].strip().rstrip(":")
    return f"{caught.category.__name__}: {message}"


@contextmanager
def counted_warnings() -> Iterator[Counter]:
    """Record the library warnings raised meanwhile instead of printing them; the yielded Counter
    holds each distinct one's count once the block ends. Deprecations are left out (for developers,
    hidden by default too)."""
    counts: Counter = Counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        yield counts
    counts.update(warning_text(w) for w in caught)
