"""Per-model rate limits (requests and tokens per minute) as sliding one-minute windows."""

from __future__ import annotations

import asyncio
import time
from collections import deque

WINDOW_S = 60.0


class RateLimiter:
    """Waits before a call until it fits within `rpm` requests and `tpm` tokens of the last minute.

    Token use is booked with an estimate when the call starts and corrected with the real usage after.
    """

    def __init__(self, rpm: float | None = None, tpm: float | None = None, clock=time.monotonic) -> None:
        self.rpm, self.tpm = rpm, tpm
        self._clock = clock
        self._events: deque[list[float]] = deque()  # [start time, tokens]
        self._lock = asyncio.Lock()

    def _expire(self, now: float) -> None:
        while self._events and self._events[0][0] <= now - WINDOW_S:
            self._events.popleft()

    def _wait_needed(self, now: float, tokens: float) -> float:
        self._expire(now)
        waits = [0.0]
        if self.rpm is not None and len(self._events) >= self.rpm:
            waits.append(self._events[len(self._events) - int(self.rpm)][0] + WINDOW_S - now)
        if self.tpm is not None and self._events:
            used = sum(event[1] for event in self._events)
            excess = used + min(tokens, self.tpm) - self.tpm
            for start, booked in self._events:  # oldest first: wait until enough tokens have aged out
                if excess <= 0:
                    break
                excess -= booked
                waits.append(start + WINDOW_S - now)
        return max(waits)

    async def acquire(self, tokens: float) -> list[float]:
        """Wait for room, book the call; returns the booking so `settle` can correct its tokens."""
        async with self._lock:
            while (delay := self._wait_needed(self._clock(), tokens)) > 0:
                await asyncio.sleep(delay)
            booking = [self._clock(), float(tokens)]
            self._events.append(booking)
            return booking

    @staticmethod
    def settle(booking: list[float], tokens: float) -> None:
        booking[1] = float(tokens)
