"""A client socket that stamps a call's Timing where its bytes cross: just before the request goes to the kernel,
and when the answer's bytes arrived (the kernel's own receive time, where the platform gives it).

asyncio's socket transports call `send`/`recv` on the very socket object they were given, and aiohttp lets us
make that object (`socket_factory`), so the stamps need nothing private of either. The request is written from
the call's task (or a write callback made in its context), so `send` finds the call's Timing in the context and
keeps it; `recv` runs in the loop's read callback and stamps the Timing of the request last sent, the one a
keep-alive connection is answering. With the kernel's stamp (Linux: SO_TIMESTAMPNS, the time the last segment
read arrived) a reply read late, because the loop or the interpreter lock was busy, still says when it arrived.
"""

from __future__ import annotations

import platform
import socket
import struct
import sys
import time

from ..providers.timing import TIMING, Timing

# SO_TIMESTAMPNS (not in Python's socket module): 35 on the Linux architectures listed; elsewhere the stamp is the
# time the bytes were read (still in the loop's read callback, before any of the call's own work).
_SO_TIMESTAMPNS = 35 if sys.platform == "linux" and platform.machine() in {"x86_64", "aarch64", "arm64"} else None
_TIMESPEC = struct.Struct("@ll")
_ANCILLARY_SIZE = socket.CMSG_SPACE(_TIMESPEC.size) if _SO_TIMESTAMPNS else 0


class TimedSocket(socket.socket):
    timing: Timing | None = None  # of the request this connection answers
    stamps = False  # the kernel gives receive stamps

    def send(self, data, flags: int = 0) -> int:  # type: ignore[no-untyped-def, override]
        self._sending()
        return super().send(data, flags)

    def sendmsg(self, buffers, *args) -> int:  # type: ignore[no-untyped-def, override]
        self._sending()
        return super().sendmsg(buffers, *args)

    def _sending(self) -> None:
        timing = TIMING.get() or self.timing
        if timing is not None:
            self.timing = timing
            timing.sent_at = time.perf_counter()

    def recv(self, size: int, flags: int = 0) -> bytes:  # type: ignore[override]
        try:
            if not self.stamps:
                data = super().recv(size, flags)
                at = time.perf_counter()
            else:
                data, ancillary, _, _ = self.recvmsg(size, _ANCILLARY_SIZE, flags)
                at = _kernel_stamp(ancillary)
        except (BlockingIOError, InterruptedError):
            raise
        except OSError as exc:
            self._broken(exc)
            raise
        if data and self.timing is not None:
            self.timing.received_at = at
        return data

    def recv_into(self, buffer, nbytes: int = 0, flags: int = 0) -> int:  # type: ignore[no-untyped-def, override]
        try:
            if not self.stamps:
                count = super().recv_into(buffer, nbytes, flags)
                at = time.perf_counter()
            else:
                view = memoryview(buffer)
                count, ancillary, _, _ = self.recvmsg_into([view[:nbytes] if nbytes else view], _ANCILLARY_SIZE, flags)
                at = _kernel_stamp(ancillary)
        except (BlockingIOError, InterruptedError):
            raise
        except OSError as exc:
            self._broken(exc)
            raise
        if count and self.timing is not None:
            self.timing.received_at = at
        return count

    def _broken(self, exc: OSError) -> None:
        """Noted for the error message: aiohttp reports a body cut by a reset as an incomplete body alone."""
        if self.timing is not None:
            self.timing.broken_by = exc


def timed_socket(addr_info: tuple) -> socket.socket:  # type: ignore[type-arg]
    """aiohttp's socket_factory: a TimedSocket for one address, asking the kernel for receive stamps."""
    family, kind, proto = addr_info[:3]
    sock = TimedSocket(family, kind, proto)
    if _SO_TIMESTAMPNS and family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            sock.stamps = True
        except OSError:
            pass
    return sock


def _kernel_stamp(ancillary: list[tuple[int, int, bytes]]) -> float:
    """The kernel's receive stamp (CLOCK_REALTIME) as a time.perf_counter() reading: now, less its age."""
    now = time.perf_counter()
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            age_ns = time.time_ns() - (seconds * 1_000_000_000 + nanoseconds)
            return now - max(age_ns, 0) / 1e9
    return now
