"""The coverage ``summary`` table (CONTRACT §4), read once and filtered in memory.

A coverage file is made for one plan: ``gridder coverage`` records the plan's id
in the ``coverage_meta`` table, and :meth:`CoverageTable.for_plan` refuses to
answer for any other plan (grid ids of two plans collide, their coverage does not).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pyogrio
from pyogrio.errors import DataLayerError, DataSourceError

from gridder.errors import InputError, NotFoundError
from gridder.io.write import read_meta
from gridder.plan import jsonable

__all__ = ["CoverageTable"]

log = logging.getLogger(__name__)

REQUIRED = ("scope", "scope_id", "facility_type")
META_LAYER = "coverage_meta"
COUNTS = ("households", "households_covered")


class CoverageTable:
    """The ``summary`` rows of a coverage GeoPackage.

    Parameters
    ----------
    rows
        The rows, as plain JSON-ready dicts.
    source
        Where they came from (for messages).
    plan_id
        The plan the coverage was computed for (``coverage_meta``); ``None`` when
        the file does not say, and then it is served for every plan.
    digest
        The digest of that plan's assignments when the coverage was computed
        (:func:`gridder.planfile.assignment_digest`): a hand edit keeps the
        ``plan_id`` but changes it.
    """

    def __init__(
        self,
        rows: list[dict[str, Any]],
        *,
        source: str = "coverage",
        plan_id: str | None = None,
        digest: str | None = None,
    ) -> None:
        self.rows = rows
        self.source = source
        self.plan_id = plan_id
        self.digest = digest
        self.scopes = sorted({str(r.get("scope")) for r in rows})
        self.scope_ids: dict[str, frozenset[str]] = {
            scope: frozenset(
                str(r["scope_id"])
                for r in rows
                if str(r.get("scope")) == scope and r.get("scope_id") is not None
            )
            for scope in self.scopes
        }

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
            for name in COUNTS:  # counts read back as floats (a column with nulls)
                value = row.get(name)
                if isinstance(value, float):
                    row[name] = round(value)
        meta = _coverage_meta(path)
        plan_id = None if meta.get("plan_id") is None else str(meta["plan_id"])
        digest = meta.get("plan_assignment_digest")
        log.info("coverage %s (plan %s): %d summary rows", path, plan_id, len(rows))
        return cls(
            rows,
            source=str(path),
            plan_id=plan_id,
            digest=None if digest is None else str(digest),
        )

    def for_plan(self, plan_id: str, digest: str | None = None) -> CoverageTable:
        """Return this table if it was made for ``plan_id`` (or names no plan).

        ``digest`` is that plan's :func:`~gridder.planfile.assignment_digest`
        now; when both it and the file's are known they must agree.

        Raises
        ------
        NotFoundError
            When the coverage file names another plan, or was made before the
            plan was edited.
        """
        name = Path(self.source).name
        if self.plan_id is not None and self.plan_id != plan_id:
            msg = (
                f"no coverage for plan {plan_id!r}; the coverage file {name} "
                f"was made for plan {self.plan_id!r}"
            )
            raise NotFoundError(msg)
        if self.digest is not None and digest is not None and self.digest != digest:
            msg = (
                f"no coverage for plan {plan_id!r} as it is now; the coverage file {name} "
                "was made before the plan was edited (gridder coverage makes it again)"
            )
            raise NotFoundError(msg)
        return self

    def has_scope_id(self, scope_id: str, scope: str | None = None) -> bool:
        """Whether some row of ``scope`` (of any scope when ``None``) has this ``scope_id``."""
        scopes = self.scopes if scope is None else [scope]
        return any(scope_id in self.scope_ids.get(s, frozenset()) for s in scopes)

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


def _coverage_meta(path: Path) -> dict[str, Any]:
    """The ``coverage_meta`` table (empty when the file has none)."""
    try:
        layers = {str(name) for name in pyogrio.list_layers(path)[:, 0]}
        if META_LAYER not in layers:
            return {}
        return dict(read_meta(path, layer=META_LAYER))
    except (DataSourceError, DataLayerError, KeyError, ValueError) as exc:
        raise InputError.single(str(path), f"layer {META_LAYER}", f"cannot be read: {exc}") from exc
