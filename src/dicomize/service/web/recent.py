"""A cache that forgets: results kept for minutes, not for the life of the service.

The page polls each card every second while its visit is open, and each poll would
run dciodvfy and render a preview again; but what is kept holds patients' names and
pictures, which must not stay in the memory of a service that runs for months.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["Recent"]

_T = TypeVar("_T")


class Recent(Generic[_T]):
    """Call `function` once per key, and keep each result `seconds` at most.

    Parameters
    ----------
    function : callable
        Computes the result for a key (its positional arguments).
    seconds : float
        How long a result is kept after it was computed.
    size : int
        The most results kept; the oldest go first.

    >>> calls = []
    >>> square = Recent(lambda n: calls.append(n) or n * n, seconds=60, size=2)
    >>> square(3), square(3), calls
    (9, 9, [3])
    >>> square.forget(); square(3), calls
    (9, [3, 3])
    """

    def __init__(self, function: Callable[..., _T], *, seconds: float, size: int) -> None:
        self.function = function
        self.seconds = seconds
        self.size = size
        self._kept: dict[tuple[Hashable, ...], tuple[float, _T]] = {}
        self._lock = threading.Lock()

    def __call__(self, *key: Hashable) -> _T:
        """Return the result for `key`: kept, or computed now and kept."""
        now = time.monotonic()
        with self._lock:
            for old in [k for k, (when, _) in self._kept.items() if now - when > self.seconds]:
                del self._kept[old]
            if key in self._kept:
                return self._kept[key][1]
        result = self.function(*key)  # outside the lock: other cards need not wait
        with self._lock:
            self._kept[key] = (now, result)
            while len(self._kept) > self.size:
                del self._kept[next(iter(self._kept))]
        return result

    def kept(self, *key: Hashable, default: _T) -> _T:
        """Return the result kept for `key`, or `default`: nothing is computed.

        >>> double = Recent(lambda n: 2 * n, seconds=60, size=2)
        >>> double.kept(4, default=-1), double(4), double.kept(4, default=-1)
        (-1, 8, 8)
        """
        now = time.monotonic()
        with self._lock:
            found = self._kept.get(key)
        return found[1] if found is not None and now - found[0] <= self.seconds else default

    def forget(self) -> None:
        """Drop every kept result."""
        with self._lock:
            self._kept.clear()
