"""Background partition jobs: one at a time, off the request path, with status and result.

A job runs ``module:function`` (by default ``gridder.pipeline.partition_files``)
in a fresh spawned process (or in the job thread, for tests), one job at a time,
so that the CPU-heavy solve never stalls lookups. The manager owns those
processes: :meth:`JobManager.shutdown` terminates a running one, so none
outlives the server. The plan is written into the job's
own working directory and moved into the plans directory only when complete;
the plan store then picks it up. Errors come back as text (``InputError``
messages name the file, feature and problem), never as a traceback.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from multiprocessing import get_context
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Final, Literal

from gridder.errors import GridderError, NotFoundError
from gridder.io.write import read_meta

__all__ = ["JobManager", "JobRecord", "run_partition"]

log = logging.getLogger(__name__)

Status = Literal["queued", "running", "done", "failed"]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class JobRecord:
    """The state of one job (immutable; the manager replaces it on each change)."""

    job_id: str
    status: Status = "queued"
    stage: str = "queued"
    progress: float = 0.0
    created: str = field(default_factory=_now)
    started: str | None = None
    finished: str | None = None
    plan_id: str | None = None
    activated: bool = False
    error: str | None = None


def run_partition(runner: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Run one partition job (in the worker process); never raises.

    Parameters
    ----------
    runner
        ``module:function`` taking keyword arguments ``communities``,
        ``buildings``, ``streets``, ``out`` and ``params`` (and ``compounds``,
        ``previous`` and ``uploads`` when given).
    kwargs
        Those arguments.

    Returns
    -------
    dict
        ``{"ok": True, "result": ...}`` or ``{"ok": False, "error": message}``;
        exceptions are turned into text here because not all pickle.
    """
    try:
        module, _, name = runner.partition(":")
        func: Callable[..., Any] = getattr(importlib.import_module(module), name)
        result = func(**kwargs)
    except GridderError as exc:
        return {"ok": False, "error": str(exc)}
    except Exception as exc:  # a job reports every failure as text
        log.exception("partition job failed")
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "result": None if result is None else str(result)}


class JobManager:
    """Queue of partition jobs, run one at a time.

    Parameters
    ----------
    plans_dir
        Where finished plans are moved (the plan store's directory).
    work_dir
        Parent of the jobs' working directories (default: the system temp dir).
    runner
        ``module:function`` running a job (see :func:`run_partition`).
    executor
        ``"process"`` (default: each job in a fresh spawned process, ended by
        :meth:`shutdown`) or ``"thread"`` (in the job thread; for tests).
    on_plan
        Called with ``(plan_id, path, activate)`` in the job thread after a plan
        has been moved into ``plans_dir``; returns whether it was activated and
        raises :class:`~gridder.errors.GridderError` when the plan cannot be served.
    """

    def __init__(
        self,
        *,
        plans_dir: Path | None,
        work_dir: Path | None = None,
        runner: str = "gridder.pipeline:partition_files",
        executor: Literal["process", "thread"] = "process",
        on_plan: Callable[[str, Path, bool], bool] | None = None,
    ) -> None:
        self.plans_dir = plans_dir
        self.work_dir = work_dir
        self.runner = runner
        self._kind = executor
        self._on_plan = on_plan
        self._jobs: dict[str, JobRecord] = {}
        self._lock = threading.Lock()
        self._queue = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gridder-job")
        self._procs: set[BaseProcess] = set()  # running job processes, guarded by _procs_lock
        self._procs_lock = threading.Lock()
        self._stopping = False

    def new_workdir(self) -> Path:
        """Make a fresh working directory for one job's uploads and output."""
        if self.work_dir is not None:
            self.work_dir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="gridder-job-", dir=self.work_dir))

    def get(self, job_id: str) -> JobRecord:
        """Return the state of a job.

        Raises
        ------
        NotFoundError
            When there is no such job.
        """
        record = self._jobs.get(job_id)
        if record is None:
            msg = f"no job {job_id!r}"
            raise NotFoundError(msg)
        return record

    def _update(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            self._jobs[job_id] = replace(self._jobs[job_id], **changes)

    def submit(
        self,
        *,
        communities: str,
        buildings: str,
        streets: str | None,
        params: dict[str, Any],
        workdir: Path,
        activate: bool = False,
        compounds: str | None = None,
        previous: str | None = None,
        uploads: dict[str, str] | None = None,
    ) -> JobRecord:
        """Queue a partition job; returns its record at once.

        Parameters
        ----------
        communities, buildings, streets, compounds
            Input paths readable by the server (uploads already saved in ``workdir``).
        previous
            A plan file to re-plan from (a copy in ``workdir``).
        uploads
            Input kind (``barriers`` too) → the uploaded file's own name, for
            ``plan_meta.inputs`` (the saved copy is removed with ``workdir``) and
            for the job's error, which names the client's file, not the copy.
        params
            Partition options (``target``, ``min``, ``max``, ``seed``, …).
        workdir
            The job's working directory (from :meth:`new_workdir`); removed at the end.
        activate
            Activate the plan when the job succeeds.
        """
        if self.plans_dir is None:
            msg = "this server has no plans directory; start it with --plans DIR to add plans"
            raise GridderError(msg)
        job_id = uuid.uuid4().hex[:16]
        record = JobRecord(job_id=job_id)
        with self._lock:
            self._jobs[job_id] = record
        kwargs = {
            "communities": communities,
            "buildings": buildings,
            "streets": streets,
            "out": str(workdir / "plan.gpkg"),
            "params": params,
        }
        if compounds is not None:
            kwargs["compounds"] = compounds
        if previous is not None:
            kwargs["previous"] = previous
        if uploads:
            kwargs["uploads"] = dict(uploads)
        shown = _upload_names(kwargs, params, uploads or {})
        self._queue.submit(self._run, job_id, kwargs, workdir, activate, shown)
        log.info("job %s queued", job_id)
        return record

    def _solve(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Run the job: in a fresh spawned process (``"process"``) or in this thread."""
        if self._kind == "thread":
            return run_partition(self.runner, kwargs)
        context = get_context("spawn")
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(
            target=_work, args=(self.runner, kwargs, sender), name="gridder-job-worker"
        )
        with self._procs_lock:  # shutdown() cannot miss a process started here
            if self._stopping:
                receiver.close()
                sender.close()
                return {"ok": False, "error": _STOPPED}
            process.start()
            self._procs.add(process)
        sender.close()  # the child holds the only sending end: EOF when it dies
        outcome: dict[str, Any] | None = None
        try:
            outcome = receiver.recv()
        except EOFError:  # the process died without an answer
            pass
        finally:
            receiver.close()
            _reap(process)  # only this thread waits for the process
            with self._procs_lock:
                self._procs.discard(process)
        if outcome is None:
            msg = f"the job's process ended without an answer (exit code {process.exitcode})"
            outcome = {"ok": False, "error": msg}
        return outcome

    def _run(
        self,
        job_id: str,
        kwargs: dict[str, Any],
        workdir: Path,
        activate: bool,
        shown: dict[str, str],
    ) -> None:
        try:
            self._update(
                job_id, status="running", stage="partitioning", progress=0.1, started=_now()
            )
            outcome = self._solve(kwargs)
            if self._stopping and not outcome["ok"]:
                self._fail(job_id, _STOPPED)
                return
            if not outcome["ok"]:
                self._fail(job_id, _rename(str(outcome["error"]), shown))
                return
            self._update(job_id, stage="publishing", progress=0.9)
            plan_id, path = self._publish(job_id, Path(kwargs["out"]))
            activated = self._on_plan(plan_id, path, activate) if self._on_plan else False
            self._update(
                job_id,
                status="done",
                stage="done",
                progress=1.0,
                finished=_now(),
                plan_id=plan_id,
                activated=activated,
            )
            log.info("job %s done: plan %s", job_id, plan_id)
        except Exception as exc:  # the job thread must record every failure
            log.exception("job %s failed", job_id)
            self._fail(job_id, _rename(f"{type(exc).__name__}: {exc}", shown))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _fail(self, job_id: str, error: str) -> None:
        self._update(job_id, status="failed", stage="failed", finished=_now(), error=error)
        log.warning("job %s failed: %s", job_id, error)

    def _publish(self, job_id: str, out: Path) -> tuple[str, Path]:
        if not out.is_file():
            msg = f"the job wrote no plan file ({out.name})"
            raise GridderError(msg)
        plan_id = str(read_meta(out).get("plan_id") or f"job-{job_id}")
        assert self.plans_dir is not None
        target = self.plans_dir / f"{_safe_name(plan_id)}.gpkg"
        if target.exists():
            target = self.plans_dir / f"{_safe_name(plan_id)}-{job_id}.gpkg"
        hidden = self.plans_dir / f".{target.name}.{job_id}.tmp"
        shutil.copyfile(out, hidden)  # may cross file systems; the rename below is atomic
        os.replace(hidden, target)
        return plan_id, target

    def shutdown(self, *, timeout: float = 5.0) -> None:
        """Stop taking jobs and end a running job's process; the job is recorded as failed.

        Queued jobs are cancelled; a job process is terminated (``SIGTERM``),
        killed when it has not ended after ``timeout`` seconds, and reaped by its
        job thread, so that no process outlives the server. A job run in a
        thread (``executor="thread"``) cannot be stopped: it ends with its solve.
        """
        with self._procs_lock:
            self._stopping = True
            running = list(self._procs)
        self._queue.shutdown(wait=False, cancel_futures=True)
        for process in running:
            log.warning("stopping the running job's process %s", process.pid)
            process.terminate()
        if not self._wait_reaped(timeout):
            # a process reaped since has its returncode set: kill() is then a no-op
            with self._procs_lock:
                for process in self._procs:
                    log.warning("job process %s did not stop; killing it", process.pid)
                    process.kill()
            self._wait_reaped(timeout)

    def _wait_reaped(self, timeout: float) -> bool:
        """Wait until the job threads have reaped every job process; whether they have."""
        deadline = time.monotonic() + timeout
        while True:
            with self._procs_lock:
                if not self._procs:
                    return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)


_STOPPED: Final = "stopped: the server shut down while the job ran"


def _work(runner: str, kwargs: dict[str, Any], sender: Connection) -> None:
    """The job process: run the job, send the outcome back, exit."""
    # Ctrl-C reaches the whole process group: the server decides when to end the job
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        sender.send(run_partition(runner, kwargs))
    finally:
        sender.close()


def _reap(process: BaseProcess) -> None:
    """Wait for a job process that has sent its outcome (or died); end it if it lingers."""
    process.join(30)
    if process.is_alive():
        log.warning("job process %s did not exit after its job; terminating it", process.pid)
        process.terminate()
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join()


def _upload_names(
    kwargs: dict[str, Any], params: dict[str, Any], uploads: dict[str, str]
) -> dict[str, str]:
    """Saved copy of each uploaded input (its path in the job's directory) → the client's name."""
    saved = {
        kind: kwargs.get(kind) for kind in ("communities", "buildings", "streets", "compounds")
    }
    saved["barriers"] = params.get("barriers")
    names: dict[str, str] = {}
    for kind, name in uploads.items():
        path = saved.get(kind)
        if path:
            names[str(path)] = name
            names.setdefault(str(Path(path).resolve()), name)  # /tmp may be a symlink
    return names


def _rename(error: str, shown: dict[str, str]) -> str:
    """An error naming the client's uploaded files instead of the server's temporary copies.

    Examples
    --------
    >>> _rename("/tmp/job/buildings.geojson: building_id=B7: repeated",
    ...         {"/tmp/job/buildings.geojson": "nj_buildings.geojson"})
    'nj_buildings.geojson: building_id=B7: repeated'
    """
    for path in sorted(shown, key=len, reverse=True):  # longest first: no partial replacement
        error = error.replace(path, shown[path])
    return error


def _safe_name(text: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "_" for c in text).strip("._")
    return keep[:120] or "plan"
