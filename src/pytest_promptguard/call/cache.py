"""The opt-in response cache (`--promptguard-cache`): identical requests reuse a stored answer.

One JSON file per (request, sample index) under `.promptguard/cache/`. Entries hold the call record only
(never a key or a header), are written atomically so xdist workers can share the folder, and a corrupt or
expired entry is simply a miss that gets replaced.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path

from .. import FORMAT_VERSION
from ..core.fileio import write_atomic
from ..core.results import Call, Request, canonical_json


class ResponseCache:
    def __init__(self, folder: Path, ttl_s: float) -> None:
        self.folder = folder
        self.ttl_s = ttl_s

    def _path(self, request: Request, base_url: str | None, sample: int) -> Path:
        key = canonical_json({"request": request.digest(), "base_url": base_url, "sample": sample})
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.folder / digest[:2] / f"{digest}.json"

    def get(self, request: Request, base_url: str | None, sample: int) -> Call | None:
        path = self._path(request, base_url, sample)
        try:
            entry = json.loads(path.read_text("utf-8"))
            if entry.get("format_version") != FORMAT_VERSION or time.time() - entry["stored_at"] > self.ttl_s:
                return None
            call = Call.from_dict(entry["call"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None  # missing, corrupt or from another version: a miss, replaced on the next put
        return dataclasses.replace(call, source="cache")

    def put(self, request: Request, base_url: str | None, sample: int, call: Call) -> None:
        entry = {"format_version": FORMAT_VERSION, "stored_at": time.time(), "call": call.to_dict()}
        try:
            write_atomic(self._path(request, base_url, sample), json.dumps(entry))
        except OSError:
            pass  # a cache that cannot be written costs speed, never a result
