"""User-facing errors: each names the file, the line where known, the case, and the fix."""

from __future__ import annotations

from pathlib import Path


class PromptguardError(Exception):
    """Bad input found while loading a suite or config; shown to the user without a traceback."""

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        case: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = Path(path) if path is not None else None
        self.line = line
        self.case = case
        self.hint = hint

    def located(
        self, path: Path | str | None = None, line: int | None = None, case: str | None = None
    ) -> PromptguardError:
        """Fill in where the error happened, keeping what is already known."""
        if self.path is None and path is not None:
            self.path = Path(path)
        if self.line is None:
            self.line = line
        if self.case is None:
            self.case = case
        return self

    def headline(self) -> str:
        """`file:line: case 'id': message`, without the fix: for an error reported inside another one."""
        where = ""
        if self.path is not None:
            where = display_path(self.path) + (f":{self.line}" if self.line else "") + ": "
        case = f"case '{self.case}': " if self.case else ""
        return f"{where}{case}{self.message}"

    def __str__(self) -> str:
        return self.headline() + (f"\n  fix: {self.hint}" if self.hint else "")


def display_path(path: Path) -> str:
    """`path` relative to the working directory when it lies below it, as pytest shows paths."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
