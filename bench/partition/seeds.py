"""One community of a pipeline instance solved with several seeds: grids out of band per seed.

How much a plan depends on its seed (restarts, repairs): the demo's HEL-01 left 0, 1 or 2
grids out of band depending on ``--seed``.

Usage (repository root)::

    python -m bench.partition.seeds helsinki HEL-01 --seeds 12
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

from bench.partition.pipeline import load_instances


def main() -> None:
    from gridder.partition import GridPartitioner, PartitionConfig

    ap = argparse.ArgumentParser()
    ap.add_argument("instance")
    ap.add_argument("community")
    ap.add_argument("--seeds", type=int, default=12)
    args = ap.parse_args()
    comm = [c for c in load_instances(args.instance) if c.instance.community_id == args.community]
    if not comm:
        raise SystemExit(f"no community {args.community} in {args.instance}")
    inst = comm[0].instance
    rows = []
    for seed in range(args.seeds):
        t = time.perf_counter()
        r = GridPartitioner(inst, replace(PartitionConfig(), seed=seed)).solve()
        rows.append(
            {
                "seed": seed,
                "out_of_band": r.out_of_band,
                "lower_bound": r.lower_bound.min_out_of_band,
                "attempts": r.attempts,
                "s": round(time.perf_counter() - t, 2),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    print(
        json.dumps(
            {
                "instance": args.instance,
                "community": args.community,
                "seeds": args.seeds,
                "out_of_band_total": sum(r["out_of_band"] for r in rows),
                "seeds_above_bound": sum(r["out_of_band"] > r["lower_bound"] for r in rows),
                "time_s": round(sum(r["s"] for r in rows), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
