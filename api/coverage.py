"""The coverage ``summary`` table (CONTRACT §4), read once and filtered in memory."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pyogrio
from pyogrio.errors import DataLayerError, DataSourceError

from gridder.errors import InputError, NotFoundError
from gridder.plan import jsonable

__all__ = ["CoverageTable"]

log = logging.getLogger(__name__)

REQUIRED = ("scope", "scope_id", "facility_type")


class CoverageTable:
    """The ``summary`` rows of a coverage GeoPackage.

    Parameters
    ----------
    rows
        The rows, as plain JSON-ready dicts.
    source
        Where they came from (for messages).
    """

    def __init__(self, rows: list[dict[str, Any]], *, source: str = "coverage") -> None:
        self.rows = rows
        self.source = source
        self.scopes = sorted({str(r.get("scope")) for r in rows})

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> CoverageTable:
        """Read the ``summary`` table of a coverage file.

        Raises
        ------
        NotFoundError
            When the file does not exist.
        InputError
            When it has no readable ``summary`` table with the contract's columns.
        """
        path = Path(path)
        if not path.is_file():
            msg = f"{path}: no such coverage file"
            raise NotFoundError(msg)
        try:
            frame = pyogrio.read_dataframe(path, layer="summary", read_geometry=False)
        except (DataSourceError, DataLayerError) as exc:
            raise InputError.single(str(path), "layer summary", f"cannot be read: {exc}") from exc
        missing = [c for c in REQUIRED if c not in frame.columns]
        if missing:
            raise InputError.single(str(path), "layer summary", f"missing column(s) {missing}")
        frame = frame.drop(columns=[c for c in ("geometry",) if c in frame.columns])
        columns = [str(c) for c in frame.columns]
        rows = [
            {c: jsonable(v) for c, v in zip(columns, values, strict=True)}
            for values in zip(*(frame[c].tolist() for c in frame.columns), strict=True)
        ]
        for row in rows:
            if row.get("scope_id") is not None:
                row["scope_id"] = str(row["scope_id"])
        log.info("coverage %s: %d summary rows", path, len(rows))
        return cls(rows, source=str(path))

    def select(
        self,
        *,
        scope: str | None = None,
        scope_id: str | None = None,
        facility_type: str | None = None,
        minutes: float | None = None,
    ) -> list[dict[str, Any]]:
        """Return the rows matching every filter given (``None`` matches everything)."""
        return [
            r
            for r in self.rows
            if (scope is None or r.get("scope") == scope)
            and (scope_id is None or r.get("scope_id") == scope_id)
            and (facility_type is None or r.get("facility_type") == facility_type)
            and (minutes is None or r.get("minutes") == minutes)
        ]
