"""Files a suite names (JSON Schemas, prompt files): found relative to the file that names them, and only
inside the repository.

A suite is reviewed like code; a path in it that climbs out of pytest's rootdir would make a run depend on a
file nobody reviews (or send a file from someone's home folder to a model), so such a path is refused, not
followed. JSON Schema checks and prompt files share this one rule, so they can never disagree about it.
"""

from __future__ import annotations

from pathlib import Path

from .errors import PromptguardError


class MissingFile(PromptguardError):
    """The file a suite names does not exist (a caller may treat that differently from a refused one)."""


def outside_repository(path: Path, rootdir: Path | None) -> bool:
    """Whether `path` (symlinks followed) lies outside `rootdir`; with no rootdir, nothing is outside."""
    return rootdir is not None and not path.resolve().is_relative_to(rootdir.resolve())


def repository_file(
    reference: str,
    base: Path,
    rootdir: Path | None,
    *,
    kind: str,
    missing_hint: str,
    relative_to: str = "the suite file",
) -> Path:
    """The file `reference` names, relative to the folder `base`, resolved.

    Raises a PromptguardError with the message and the fix only (the caller knows the file, line and case to
    name) when the name holds a NUL, the file lies outside `rootdir`, or it is not a file. `kind` names the
    file in messages ("schema file"), `relative_to` says what its path is relative to.
    """
    if "\0" in reference:  # no file has such a name, and the OS refuses to look
        raise PromptguardError(f"{kind} {reference!r} has a NUL character in its name", hint="correct the path")
    try:
        path = (base / reference).resolve()
        outside = outside_repository(path, rootdir)
        found = path.is_file()
    except (OSError, RuntimeError) as exc:  # a name too long, a symlink loop
        raise PromptguardError(
            f"{kind} {reference} cannot be opened: {getattr(exc, 'strerror', None) or exc}",
            hint=f"give a path relative to {relative_to}",
        ) from None
    if outside:
        raise PromptguardError(
            f"{kind} {reference} is outside the repository (it resolves to {path}; the pytest rootdir is {rootdir})",
            hint=f"keep {kind}s inside the repository and give their path relative to {relative_to}",
        )
    if not found:
        raise MissingFile(f"{kind} {reference} not found (looked at {path})", hint=missing_hint)
    return path


def shown_path(path: Path, rootdir: Path | None) -> str:
    """`path` as a reader of the repository names it: relative to the rootdir, with forward slashes."""
    if rootdir is not None and path.is_relative_to(rootdir.resolve()):
        return path.relative_to(rootdir.resolve()).as_posix()
    return str(path)
