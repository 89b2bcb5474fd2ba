"""gridder.plan_store.PlanStore: versions in a directory, one active, atomic switch."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest
from api_factory import make_plan

from gridder.errors import NotFoundError
from gridder.plan_store import STATE_FILE, PlanStore


def test_lists_plans_and_starts_on_the_newest(plans_dir: Path) -> None:
    store = PlanStore(plans_dir)
    assert [p.plan_id for p in store.plans()] == ["plan-a", "plan-b"]
    assert store.active_id == "plan-b"  # newest 'created'
    info = store.info("plan-a")
    assert info.created == "2024-06-01T00:00:00+00:00"
    assert info.parameters == {"target": 250, "min": 200, "max": 300}
    assert info.path.name == "plan-a.gpkg"
    with pytest.raises(NotFoundError):
        store.info("nope")
    with pytest.raises(NotFoundError):
        store.activate("nope")


def test_activate_persists_and_swaps(plans_dir: Path) -> None:
    store = PlanStore(plans_dir)
    before = store.active
    plan = store.activate("plan-a")
    assert store.active is plan and store.active_id == "plan-a"
    assert before.plan_id == "plan-b"  # a holder of the old plan keeps a working plan
    assert before.locate(118.781, 32.041) is not None
    assert json.loads((plans_dir / STATE_FILE).read_text()) == {"plan_id": "plan-a"}
    assert not [p for p in plans_dir.iterdir() if p.name.startswith(".")]  # no temp left
    again = PlanStore(plans_dir)  # a restart follows active.json
    assert again.active_id == "plan-a"


def test_other_process_activation_is_followed(plans_dir: Path) -> None:
    one, two = PlanStore(plans_dir), PlanStore(plans_dir)
    one.activate("plan-a")
    assert two.active_id == "plan-b"
    two.refresh()
    assert two.active_id == "plan-a"


def test_new_changed_removed_and_bad_files(plans_dir: Path) -> None:
    store = PlanStore(plans_dir)
    make_plan(plans_dir / "later.gpkg", plan_id="plan-c", seed=2, created="2025-01-01T00:00:00")
    (plans_dir / "broken.gpkg").write_text("garbage")
    (plans_dir / ".hidden.gpkg").write_text("a temp file of an atomic writer")
    store.refresh()
    assert [p.plan_id for p in store.plans()] == ["plan-a", "plan-b", "plan-c"]
    assert store.get("plan-c").plan_id == "plan-c"
    # a copy with the same plan_id is ignored, not served twice
    shutil.copy(plans_dir / "plan-a.gpkg", plans_dir / "zz-copy.gpkg")
    store.refresh()
    assert store.info("plan-a").path.name == "plan-a.gpkg"
    # the active plan's file is rewritten in place: the store reloads it
    store.activate("plan-c")
    old = store.active
    make_plan(plans_dir / "later.gpkg", plan_id="plan-c", seed=5, created="2025-01-02T00:00:00")
    os.utime(plans_dir / "later.gpkg", ns=(1, 2))  # make sure the signature changes
    store.refresh()
    assert store.active is not old and store.active.meta["seed"] == 5
    (plans_dir / "later.gpkg").unlink()
    store.refresh()
    assert "plan-c" not in [p.plan_id for p in store.plans()]


def test_single_file_and_empty_store(plans_dir: Path, tmp_path: Path) -> None:
    single = PlanStore(files=[plans_dir / "plan-a.gpkg"])
    assert single.active_id == "plan-a" and single.state_file is None
    single.activate("plan-a")  # no directory: nothing persisted, no error
    with pytest.raises(NotFoundError):
        PlanStore(tmp_path / "missing")
    with pytest.raises(NotFoundError):
        PlanStore(files=[tmp_path / "missing.gpkg"])
    empty = tmp_path / "empty"
    empty.mkdir()
    store = PlanStore(empty)
    assert store.active_id is None and store.plans() == []
    with pytest.raises(NotFoundError, match="no plan is active"):
        _ = store.active
    explicit = PlanStore(plans_dir, files=[], active="plan-a")
    assert explicit.active_id == "plan-a"


def test_lru_keeps_active_loaded(plans_dir: Path) -> None:
    for k in range(3):
        make_plan(plans_dir / f"x{k}.gpkg", plan_id=f"x{k}", seed=k, communities=1)
    store = PlanStore(plans_dir, max_loaded=1)
    active = store.active
    for k in range(3):
        assert store.get(f"x{k}").plan_id == f"x{k}"
    assert store.loaded() is active
    assert store.loaded("x0") is None  # evicted
    assert store.loaded("x2") is not None


def test_concurrent_readers_during_switches(plans_dir: Path) -> None:
    store = PlanStore(plans_dir)
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                plan = store.active
                assert plan.plan_id in {"plan-a", "plan-b"}
                plan.locate(118.781, 32.041)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for k in range(20):
        store.activate("plan-a" if k % 2 else "plan-b")
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
