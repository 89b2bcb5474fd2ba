"""A store of plan versions: a directory of plan GeoPackages, one of them active.

The embedded default store is a plain directory: every ``*.gpkg`` plan file in
it is a version, known by the ``plan_id`` of its ``plan_meta`` (or its file name
when it has none). The active version's id is kept in ``active.json`` beside the
plans, written atomically (temporary file + rename), so that several API
processes serving one directory agree after their next :meth:`PlanStore.refresh`.

Activation swaps one in-memory reference: a request that already holds the old
:class:`~gridder.plan.Plan` finishes on it, the next one gets the new plan, and
none fails. Plans are loaded lazily and a few recently used ones are kept.
Files whose names start with a dot (temporary files of atomic writers) are
ignored; a file that cannot be read is logged and skipped until it changes; a
second file with a plan id already in use is logged and ignored (the file that
had the id first keeps it; at start, the first by name).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from gridder.errors import GridderError, NotFoundError
from gridder.io.write import read_meta
from gridder.plan import Plan

__all__ = ["STATE_FILE", "PlanInfo", "PlanStore"]

log = logging.getLogger(__name__)

#: Name of the file, inside the plans directory, that names the active plan.
STATE_FILE: Final = "active.json"


@dataclass(frozen=True)
class PlanInfo:
    """What the store knows about one plan file without loading it.

    Parameters
    ----------
    plan_id
        The plan's id (``plan_meta.plan_id``, else the file's stem).
    path
        The plan file.
    meta
        The whole ``plan_meta`` table.
    signature
        ``(mtime_ns, size)`` of the file when it was read.
    """

    plan_id: str
    path: Path
    meta: dict[str, Any] = field(repr=False)
    signature: tuple[int, int] = field(repr=False)

    @property
    def created(self) -> str | None:
        """Creation time recorded in ``plan_meta`` (ISO 8601), if any."""
        value = self.meta.get("created")
        return None if value is None else str(value)

    @property
    def parameters(self) -> Any:
        """The parameters recorded in ``plan_meta``, if any."""
        return self.meta.get("parameters")


def _signature(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size


def _write_json_atomic(path: Path, value: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(value, fh, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class PlanStore:
    """Plan versions in a directory (and/or single files), one of them active.

    Parameters
    ----------
    directory
        A directory of plan GeoPackages; ``None`` for a store of ``files`` only.
    files
        Plan files served in addition to (or instead of) the directory.
    active
        Plan id or file to make active at start; by default the one named in
        ``active.json``, else the newest plan (by ``created``, then id).
    max_loaded
        How many plans to keep in memory besides the active one.

    Examples
    --------
    >>> store = PlanStore("plans/")  # doctest: +SKIP
    >>> store.active.locate(118.78, 32.04)  # doctest: +SKIP
    >>> store.activate("2024-06-b")  # doctest: +SKIP
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        files: Iterable[str | os.PathLike[str]] = (),
        active: str | os.PathLike[str] | None = None,
        max_loaded: int = 4,
    ) -> None:
        self.directory = Path(directory) if directory is not None else None
        if self.directory is not None and not self.directory.is_dir():
            msg = f"{self.directory}: plans directory does not exist"
            raise NotFoundError(msg)
        self._files = [Path(f) for f in files]
        for f in self._files:
            if not f.is_file():
                msg = f"{f}: no such plan file"
                raise NotFoundError(msg)
        self.max_loaded = max_loaded
        self._lock = threading.RLock()
        self._infos: dict[str, PlanInfo] = {}
        self._bad: dict[Path, tuple[int, int]] = {}
        self._loaded: OrderedDict[str, tuple[tuple[int, int], Plan]] = OrderedDict()
        self._active: Plan | None = None
        self._state_sig: tuple[int, int] | None = None
        self.refresh()
        start = self._initial_active(active)
        if start is not None:
            self.activate(start, persist=active is not None)

    # ------------------------------------------------------------------ scanning
    @property
    def state_file(self) -> Path | None:
        """``active.json`` in the plans directory (``None`` without a directory)."""
        return None if self.directory is None else self.directory / STATE_FILE

    def _candidates(self) -> list[Path]:
        found: list[Path] = []
        if self.directory is not None:
            found = sorted(p for p in self.directory.glob("*.gpkg") if not p.name.startswith("."))
        return [*found, *(f for f in self._files if f not in found)]

    def _read_state(self) -> str | None:
        state = self.state_file
        if state is None or not state.is_file():
            self._state_sig = None
            return None
        try:
            self._state_sig = _signature(state)
            value = json.loads(state.read_text(encoding="utf-8")).get("plan_id")
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("%s: unreadable (%s); ignored", state, exc)
            return None
        return str(value) if value is not None else None

    def refresh(self) -> None:
        """Pick up plan files that appeared, changed or vanished, and an outside activation.

        Cheap when nothing changed (one ``stat`` per file). When the active
        plan's file changed, or another process activated another plan, the new
        plan is loaded and swapped in.
        """
        with self._lock:
            infos: dict[str, PlanInfo] = {}
            by_path = {i.path: i for i in self._infos.values()}
            # Files already known come first, so a plan id stays with the file that had it.
            for path in sorted(self._candidates(), key=lambda p: p not in by_path):
                try:
                    sig = _signature(path)
                except OSError:
                    continue
                info = by_path.get(path)
                if info is None or info.signature != sig:
                    if self._bad.get(path) == sig:
                        continue
                    info = self._read_info(path, sig)
                    if info is None:
                        continue
                if info.plan_id in infos:
                    log.warning(
                        "%s: plan_id %r already used by %s; ignored",
                        path,
                        info.plan_id,
                        infos[info.plan_id].path,
                    )
                    continue
                infos[info.plan_id] = info
            self._infos = infos
            for plan_id in [p for p in self._loaded if p not in infos]:
                del self._loaded[plan_id]
            # a plan file changed on disk (an edit): its loaded copy is stale
            for plan_id in [p for p, e in self._loaded.items() if e[0] != infos[p].signature]:
                if self._active is None or self._active.plan_id != plan_id:
                    del self._loaded[plan_id]
            self._follow_changes()

    def _read_info(self, path: Path, sig: tuple[int, int]) -> PlanInfo | None:
        try:
            meta = read_meta(path)
        except Exception as exc:  # any unreadable file is skipped, not fatal
            log.warning("%s: not a readable plan file (%s); skipped", path, exc)
            self._bad[path] = sig
            return None
        self._bad.pop(path, None)
        plan_id = str(meta.get("plan_id") or path.stem)
        return PlanInfo(plan_id=plan_id, path=path, meta=meta, signature=sig)

    def _follow_changes(self) -> None:
        state = self.state_file
        wanted: str | None = None
        if state is not None:
            sig = _signature(state) if state.is_file() else None
            if sig != self._state_sig:
                wanted = self._read_state()
        current = self._active
        if wanted is not None and (current is None or wanted != current.plan_id):
            if wanted in self._infos:
                log.info("active plan changed outside this process: %s", wanted)
                self.activate(wanted, persist=False)
            return
        if current is None:
            return
        info = self._infos.get(current.plan_id)
        if info is not None and current.path == info.path and self._is_stale(info):
            log.info("active plan file %s changed; reloading", info.path)
            self.activate(info.plan_id, persist=False)

    def _is_stale(self, info: PlanInfo) -> bool:
        entry = self._loaded.get(info.plan_id)
        return entry is None or entry[0] != info.signature

    def _initial_active(self, active: str | os.PathLike[str] | None) -> str | None:
        if active is not None:
            as_path = Path(active)
            for info in self._infos.values():
                if info.plan_id == str(active) or info.path == as_path:
                    return info.plan_id
            msg = f"{active}: not a plan in this store"
            raise NotFoundError(msg)
        if self._active is not None:
            return None  # refresh() already followed active.json
        persisted = self._read_state()
        if persisted is not None and persisted in self._infos:
            return persisted
        if not self._infos:
            return None
        newest = max(self._infos.values(), key=lambda i: (i.created or "", i.plan_id))
        return newest.plan_id

    # ------------------------------------------------------------------ access
    def plans(self) -> list[PlanInfo]:
        """Every known plan, oldest first (by ``created``, then id)."""
        return sorted(self._infos.values(), key=lambda i: (i.created or "", i.plan_id))

    def info(self, plan_id: str) -> PlanInfo:
        """Return what the store knows about one plan.

        Raises
        ------
        NotFoundError
            When no plan has this id (after a refresh).
        """
        info = self._infos.get(plan_id)
        if info is None:
            self.refresh()
            info = self._infos.get(plan_id)
        if info is None:
            msg = f"no plan {plan_id!r} in the store"
            raise NotFoundError(msg)
        return info

    @property
    def active_id(self) -> str | None:
        """Id of the active plan, ``None`` when the store is empty."""
        plan = self._active
        return None if plan is None else plan.plan_id

    @property
    def active(self) -> Plan:
        """The active plan (never blocks).

        Raises
        ------
        NotFoundError
            When the store holds no plan.
        """
        plan = self._active
        if plan is None:
            msg = "no plan is active: the store holds no plan yet"
            raise NotFoundError(msg)
        return plan

    def loaded(self, plan_id: str | None = None) -> Plan | None:
        """Return the plan if it is already in memory (never blocks), else ``None``."""
        if plan_id is None:
            return self._active
        active = self._active
        if active is not None and active.plan_id == plan_id:
            return active
        entry = self._loaded.get(plan_id)
        return None if entry is None else entry[1]

    def get(self, plan_id: str | None = None) -> Plan:
        """Return a plan by id (the active one by default), loading it if needed (may block).

        Raises
        ------
        NotFoundError
            When no plan has this id.
        """
        if plan_id is None:
            return self.active
        plan = self.loaded(plan_id)
        if plan is not None:
            return plan
        with self._lock:
            return self._load(self.info(plan_id))

    def _load(self, info: PlanInfo) -> Plan:
        entry = self._loaded.get(info.plan_id)
        if entry is not None and entry[0] == info.signature:
            self._loaded.move_to_end(info.plan_id)
            return entry[1]
        plan = Plan.open(info.path)
        if plan.plan_id != info.plan_id:  # the file changed between scan and load
            msg = f"{info.path}: plan id changed while loading; try again"
            raise GridderError(msg)
        self._loaded[info.plan_id] = (info.signature, plan)
        active = self.active_id
        while len(self._loaded) > self.max_loaded + 1:
            oldest = next(p for p in self._loaded if p not in (active, info.plan_id))
            del self._loaded[oldest]
        return plan

    def activate(self, plan_id: str, *, persist: bool = True) -> Plan:
        """Make a plan the active one, atomically; loads it first (may block).

        Requests that already hold the previous plan finish on it.

        Parameters
        ----------
        plan_id
            The plan to activate.
        persist
            Write ``active.json`` so that other processes and restarts follow.

        Raises
        ------
        NotFoundError
            When no plan has this id.
        """
        with self._lock:
            info = self.info(plan_id)
            if self._is_stale(info):
                self._loaded.pop(info.plan_id, None)
            plan = self._load(info)
            if persist and self.state_file is not None:
                _write_json_atomic(self.state_file, {"plan_id": plan_id})
                self._state_sig = _signature(self.state_file)
            self._active = plan  # the atomic swap
            log.info("active plan: %s", plan_id)
            return plan
