"""The project's exception types. Every error a user can cause names where it came from."""

from __future__ import annotations


class AnnotatorError(Exception):
    """Base of every error the tool raises on purpose; the CLI prints these without a traceback."""


class InputError(AnnotatorError):
    """Untrusted input was refused. Carries the file, line and record it came from when known."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        record: int | str | None = None,
    ) -> None:
        self.reason = message
        self.file = file
        self.line = line
        self.record = record
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.file is not None:
            where = str(self.file)
            if self.line is not None:
                where += f":{self.line}"
        if self.record is not None:
            where += f"{' ' if where else ''}record {self.record}"
        return f"{where}: {self.reason}" if where else self.reason


class MaskError(InputError):
    """A mask (RLE, polygon, array) is malformed or does not fit its image."""


class WorkflowError(AnnotatorError):
    """A status change or review action that the workflow does not allow."""


class StorageError(AnnotatorError):
    """The database could not be opened, migrated or written; nothing was half-written."""


class RefusedError(WorkflowError):
    """The team's rules refused the action (role, four eyes, someone else's claim); the database
    enforces them, so nothing was written."""


class OutputError(AnnotatorError):
    """A file could not be written (full disk, size limit, permission); no partial file is left
    and an earlier file of the same name is kept."""


class NotFoundError(AnnotatorError):
    """A record, turn or model that was asked for does not exist."""


class WeightsError(AnnotatorError):
    """A model checkpoint is missing, has the wrong hash, or cannot be loaded safely."""


class ProposerError(AnnotatorError):
    """A proposer failed (model error, remote server down or timed out)."""


class Cancelled(AnnotatorError):
    """Long work was cancelled by the user through its cancel token."""
