"""When a call's bytes left and when they arrived, as the transport saw them at the socket.

The scheduler opens a Timing for each attempt and sets it in the attempt's context (`TIMING`); the transport
finds it there when it writes the request, and stamps it: `sent_at` just before the request is handed to the
kernel, `received_at` each time bytes are read (with the kernel's own receive time where the platform gives
one). The latency is then the time between bytes on the wire, whatever the harness was doing meanwhile: a
busy main thread holding the interpreter lock, or the loop busy with other calls, delays when a reply is
*read*, never when it is said to have *arrived*. The stream reader takes the time to first token the same way.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class Timing:
    """One attempt's stamps, in time.perf_counter() seconds; None until the transport has seen the bytes."""

    sent_at: float | None = None  # just before the request's (last) bytes went to the kernel
    received_at: float | None = None  # when the latest bytes read arrived
    broken_by: OSError | None = None  # what broke the connection while it answered (a reset), if anything did


TIMING: ContextVar[Timing | None] = ContextVar("promptguard_timing", default=None)


def arrived_at() -> float:
    """When the bytes being read now arrived: the transport's stamp when it keeps one, else now."""
    timing = TIMING.get()
    if timing is not None and timing.received_at is not None:
        return timing.received_at
    return time.perf_counter()
