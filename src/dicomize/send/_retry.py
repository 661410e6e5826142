"""The one retry rule of DIMSE and STOW-RS: wait `backoff`, doubling before each next try."""

from __future__ import annotations

import time

from dicomize.options import SendOptions

__all__ = ["pause_before_retry", "retry_delay"]


def retry_delay(options: SendOptions, retry: int) -> float:
    """Seconds to wait before retry number `retry` (1 is the first)."""
    return options.backoff * float(2 ** (retry - 1))


def pause_before_retry(options: SendOptions, retry: int) -> float:
    """Sleep before retry number `retry` (1 is the first); return the seconds waited."""
    delay = retry_delay(options, retry)
    time.sleep(delay)
    return delay
