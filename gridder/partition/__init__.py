"""Partition communities into balanced, contiguous, compact grids (CP-SAT + local search)."""

from gridder.partition.check import (
    CheckReport,
    PartitionCheckError,
    assert_partition_valid,
    check_partition,
)
from gridder.partition.compact import compactness_polish
from gridder.partition.config import ObjectiveWeights, PartitionConfig
from gridder.partition.costs import plan_objective
from gridder.partition.executor import solve_many
from gridder.partition.instance import PartitionInstance
from gridder.partition.lowerbound import BandLowerBound, band_lower_bound, plan_cap
from gridder.partition.quality import PartitionQuality, partition_quality
from gridder.partition.replan import rebalance, replan
from gridder.partition.solver import GridPartitioner, PartitionResult
from gridder.partition.zonebound import ZoneBound, zone_lower_bound

__all__ = [
    "BandLowerBound",
    "CheckReport",
    "GridPartitioner",
    "ObjectiveWeights",
    "PartitionCheckError",
    "PartitionConfig",
    "PartitionInstance",
    "PartitionQuality",
    "PartitionResult",
    "ZoneBound",
    "assert_partition_valid",
    "band_lower_bound",
    "check_partition",
    "compactness_polish",
    "partition_quality",
    "plan_cap",
    "plan_objective",
    "rebalance",
    "replan",
    "solve_many",
    "zone_lower_bound",
]
