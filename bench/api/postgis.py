"""PostGIS as a measured peer of gridder's grid lookup (issue 5).

Usage (from the repository root, as root: the cluster runs as the ``postgres`` user)::

    .venv/bin/python bench/api/postgis.py [--grids 4000] [--queries 5000] [--points 1000000]

Needs ``apt-get install -y postgresql postgis`` (Debian 12: PostgreSQL 15 + PostGIS 3.3)
and ``pip install "psycopg[binary]"``.

On the same generated city as ``run.py`` (its ``make_city``, same seed), in one run:

1. starts a throw-away PostgreSQL cluster in a temporary directory, owned by the
   ``postgres`` user, listening on 127.0.0.1 only on a free non-default port;
2. loads the plan's own WGS84 polygons into a table with a GiST index
   (``--subdivide N`` cuts them with ``ST_Subdivide`` first);
3. one point: ``--queries`` sequential prepared ``ST_Contains`` queries from one
   client (p50/p99 of the round trip) against ``Plan.locate`` on the same points;
4. a batch: ``--points`` points located by one SQL join (``unnest`` of two float8
   arrays with ordinality → ``ST_Point`` → ``ST_Contains`` on the index) against
   ``Plan.locate_indices`` / ``Plan.locate_many``, with the disagreements counted,
   and those farther than ``--boundary-eps`` degrees from both polygons' boundaries.

Every step runs under a timeout (subprocess timeouts, ``statement_timeout``); the
cluster is stopped and its directory removed at the end, also on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import shapely

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import REPO, free_port, make_city  # noqa: E402  (same generator as run.py)

sys.path.insert(0, str(REPO))

from gridder.plan import Plan  # noqa: E402

PG_BIN = Path("/usr/lib/postgresql/15/bin")
STEP_TIMEOUT = 120  # seconds, cluster start/stop/initdb


class Cluster:
    """A throw-away PostgreSQL cluster owned by ``postgres`` on 127.0.0.1:port."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.data = root / "data"
        self.port = port
        self.started = False

    def _as_postgres(self, *args: str, timeout: int = STEP_TIMEOUT) -> None:
        done = subprocess.run(
            ["runuser", "-u", "postgres", "--", *args],
            check=False,
            timeout=timeout,
            capture_output=True,
            text=True,
            cwd=self.root,
        )
        if done.returncode != 0:
            msg = f"{Path(args[0]).name} failed ({done.returncode}): {done.stderr.strip()}"
            raise RuntimeError(msg)

    def start(self) -> None:
        self.root.parent.chmod(0o711)  # mkdtemp makes it 0700: let postgres through
        shutil.chown(self.root, user="postgres")
        self._as_postgres(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
        )
        opts = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root} "
            "-c shared_buffers=256MB -c jit=off -c fsync=off"
        )
        self.started = True  # from here on, stop() must run
        self._as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", opts,
            "-l", str(self.root / "log.txt"), "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self) -> None:
        if not self.started:
            return
        try:
            self._as_postgres(
                str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop"
            )
        except (RuntimeError, subprocess.TimeoutExpired):
            pid_file = self.data / "postmaster.pid"  # the postmaster this script started
            if pid_file.exists():
                pid = int(pid_file.read_text().split()[0])
                subprocess.run(["kill", "-9", str(pid)], check=False, timeout=10)
        self.started = False

    def conninfo(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"


def load(conn: Any, plan: Plan, subdivide: int) -> dict[str, Any]:
    """Load the plan's polygons (WGS84) into ``grids`` with a GiST index."""
    res: dict[str, Any] = {}
    geoms = plan._geoms  # the plan's own WGS84 polygons
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        cur.execute("SELECT postgis_full_version(), version()")
        res["postgis_version"], res["postgres_version"] = cur.fetchone()
        cur.execute(
            "CREATE TABLE grids (gid int NOT NULL, grid_id text, community_id text,"
            " geom geometry(Geometry, 4326) NOT NULL)"
        )
        t = time.perf_counter()
        ewkb = shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True)
        with cur.copy("COPY grids (gid, grid_id, community_id, geom) FROM STDIN") as copy:
            for i, row in enumerate(zip(plan.grid_ids, plan.community_ids, ewkb, strict=True)):
                copy.write_row((i, *row))
        if subdivide:
            cur.execute(
                "CREATE TABLE pieces AS SELECT gid, grid_id, community_id,"
                " ST_Subdivide(geom, %s)::geometry(Geometry, 4326) AS geom FROM grids",
                (subdivide,),
            )
            cur.execute("DROP TABLE grids")
            cur.execute("ALTER TABLE pieces RENAME TO grids")
        res["load_s"] = time.perf_counter() - t
        t = time.perf_counter()
        cur.execute("CREATE INDEX grids_geom ON grids USING gist (geom)")
        cur.execute("ANALYZE grids")
        res["gist_build_s"] = time.perf_counter() - t
        cur.execute("SELECT count(*), sum(ST_NPoints(geom)) FROM grids")
        res["rows"], res["vertices"] = (int(v) for v in cur.fetchone())
    conn.commit()
    return res


SINGLE_SQL = (
    "SELECT gid, grid_id, community_id FROM grids"
    " WHERE ST_Contains(geom, ST_SetSRID(ST_Point(%s, %s), 4326)) LIMIT 1"
)
BATCH_SQL = (
    "SELECT p.i, g.gid FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY AS p(x, y, i)"
    " JOIN grids g ON ST_Contains(g.geom, ST_SetSRID(ST_Point(p.x, p.y), 4326))"
)


def percentiles(lat_s: np.ndarray) -> dict[str, float]:
    return {
        "p50_us": float(np.percentile(lat_s, 50) * 1e6),
        "p99_us": float(np.percentile(lat_s, 99) * 1e6),
        "mean_us": float(lat_s.mean() * 1e6),
        "qps": float(len(lat_s) / lat_s.sum()),
    }


def single(conn: Any, plan: Plan, pts: np.ndarray) -> dict[str, Any]:
    """Sequential one-point lookups: PostGIS prepared query vs ``Plan.locate``."""
    n = len(pts)
    pg_lat = np.empty(n)
    pg_rows = np.full(n, -1, dtype=np.int64)
    with conn.cursor() as cur:
        for x, y in pts[:200]:  # warm-up (prepare after 0 executions, caches)
            cur.execute(SINGLE_SQL, (float(x), float(y)), prepare=True)
            cur.fetchone()
        for k, (x, y) in enumerate(pts):
            t = time.perf_counter()
            cur.execute(SINGLE_SQL, (float(x), float(y)), prepare=True)
            row = cur.fetchone()
            pg_lat[k] = time.perf_counter() - t
            if row is not None:
                pg_rows[k] = row[0]
    conn.rollback()
    gr_lat = np.empty(n)
    gr_rows = np.full(n, -1, dtype=np.int64)
    index = {g: i for i, g in enumerate(plan.grid_ids)}
    for x, y in pts[:200]:
        plan.locate(float(x), float(y))
    for k, (x, y) in enumerate(pts):
        t = time.perf_counter()
        loc = plan.locate(float(x), float(y))
        gr_lat[k] = time.perf_counter() - t
        if loc is not None:
            gr_rows[k] = index[loc.grid_id]
    pg, gr = percentiles(pg_lat), percentiles(gr_lat)
    return {
        "queries": n,
        "postgis": pg,
        "gridder_locate": gr,
        "p50_ratio": pg["p50_us"] / gr["p50_us"],
        "p99_ratio": pg["p99_us"] / gr["p99_us"],
        "mismatch": int((pg_rows != gr_rows).sum()),
    }


def far_mismatches(plan: Plan, xy: np.ndarray, a: np.ndarray, b: np.ndarray, eps: float) -> int:
    """Disagreements whose point is farther than eps from every polygon boundary involved."""
    bad = np.flatnonzero(a != b)
    if len(bad) == 0:
        return 0
    pts = shapely.points(xy[bad])
    boundaries = shapely.boundary(plan._geoms)
    far = np.ones(len(bad), dtype=bool)
    for rows in (a[bad], b[bad]):
        inside = rows >= 0
        d = shapely.distance(boundaries[rows[inside]], pts[inside])
        far[np.flatnonzero(inside)[d <= eps]] = False
    return int(far.sum())


def batch(conn: Any, plan: Plan, xy: np.ndarray, *, timeout_s: int, eps: float) -> dict[str, Any]:
    """One SQL join for all points vs ``Plan.locate_indices`` / ``Plan.locate_many``."""
    res: dict[str, Any] = {"points": len(xy)}
    with conn.cursor() as cur:
        cur.execute(f"SET statement_timeout = {timeout_s * 1000}")
        xs, ys = xy[:, 0].tolist(), xy[:, 1].tolist()
        cur.execute("EXPLAIN " + BATCH_SQL, (xs, ys), binary=True)  # the plan used, for the record
        res["explain"] = [r[0] for r in cur.fetchall()]
        t = time.perf_counter()
        cur.execute(BATCH_SQL, (xs, ys), binary=True)
        got = cur.fetchall()
        res["postgis_s"] = time.perf_counter() - t
    conn.rollback()
    pg = np.full(len(xy), np.iinfo(np.int64).max)
    if got:
        arr = np.asarray(got, dtype=np.int64)
        np.minimum.at(pg, arr[:, 0] - 1, arr[:, 1])  # ordinality is 1-based
        res["postgis_rows_returned"] = len(arr)
    pg = np.where(pg == np.iinfo(np.int64).max, -1, pg)
    res["postgis_points_per_s"] = len(xy) / res["postgis_s"]
    best = float("inf")
    rows = np.empty(0, dtype=np.int64)
    for _ in range(3):
        t = time.perf_counter()
        rows = plan.locate_indices(xy)
        best = min(best, time.perf_counter() - t)
    res["gridder_locate_indices_s"] = best
    t = time.perf_counter()
    plan.locate_many(xy)
    res["gridder_locate_many_s"] = time.perf_counter() - t
    res["ratio_vs_locate_indices"] = res["postgis_s"] / res["gridder_locate_indices_s"]
    res["ratio_vs_locate_many"] = res["postgis_s"] / res["gridder_locate_many_s"]
    res["outside_points"] = int((rows < 0).sum())
    res["mismatch"] = int((pg != rows).sum())
    res["mismatch_away_from_boundaries"] = far_mismatches(plan, xy, pg, rows, eps)
    res["boundary_eps_deg"] = eps
    return res


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--grids", type=int, default=4000)
    parser.add_argument("--communities", type=int, default=40)
    parser.add_argument("--per-grid", type=int, default=25)
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--subdivide", type=int, default=0, help="ST_Subdivide max vertices")
    parser.add_argument("--batch-timeout", type=int, default=600, help="seconds")
    parser.add_argument("--boundary-eps", type=float, default=1e-9, help="degrees")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=HERE / "results_postgis.json")
    args = parser.parse_args()

    import psycopg  # the bench extra; imported here so --help works without it

    if os.geteuid() != 0 or not (PG_BIN / "initdb").exists():
        sys.exit("needs root and PostgreSQL 15 + PostGIS (apt-get install -y postgresql postgis)")
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.platform()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, psycopg {psycopg.__version__}",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "subdivide": args.subdivide,
    }
    work = Path(tempfile.mkdtemp(prefix="gridder-bench-postgis-"))
    cluster = Cluster(work / "pg", free_port())
    try:
        (work / "pg").mkdir()
        path = make_city(
            work / "plans" / "city.gpkg",
            n_grids=args.grids,
            n_communities=args.communities,
            per_grid=args.per_grid,
            seed=args.seed,
        )
        plan = Plan.open(path)
        results["grids"] = len(plan)
        t = time.perf_counter()
        cluster.start()
        results["cluster_start_s"] = time.perf_counter() - t
        with psycopg.connect(cluster.conninfo(), connect_timeout=30) as conn:
            with conn.cursor() as cur:
                cur.execute(f"SET statement_timeout = {STEP_TIMEOUT * 1000}")
            conn.commit()
            results["load"] = load(conn, plan, args.subdivide)
            print(json.dumps(results["load"], indent=1), flush=True)
            x0, y0, x1, y1 = shapely.total_bounds(plan._geoms)
            rng = np.random.default_rng(args.seed)
            pts = rng.uniform([x0, y0], [x1, y1], (args.queries, 2))
            results["single"] = single(conn, plan, pts)
            print(json.dumps(results["single"], indent=1), flush=True)
            xy = rng.uniform([x0, y0], [x1, y1], (args.points, 2))
            results["batch"] = batch(
                conn, plan, xy, timeout_s=args.batch_timeout, eps=args.boundary_eps
            )
            print(json.dumps(results["batch"], indent=1), flush=True)
    except Exception as exc:  # record what failed, then clean up below
        results["error"] = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
        args.out.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
