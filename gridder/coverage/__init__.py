"""Walking service coverage (生活圈): distances, summaries, isochrones, gaps, compliance, siting.

Examples
--------
>>> from gridder.coverage import compute_coverage          # doctest: +SKIP
>>> result = compute_coverage(streets, buildings, facilities, minutes=(5, 15))  # doctest: +SKIP
>>> result.summary.query("scope == 'all'")                # doctest: +SKIP
"""

from gridder.coverage.access import NearestFacility, nearest_facility, pairwise_within
from gridder.coverage.compute import (
    CoverageResult,
    check_thresholds,
    compute_coverage,
    distinct_minutes,
    thresholds_for,
)
from gridder.coverage.gaps import building_cells, gap_polygons, gaps
from gridder.coverage.isochrones import IsochroneBuilder, isochrones
from gridder.coverage.siting import (
    SitingResult,
    Solution,
    network_candidates,
    site_facilities,
    solve_max_cover,
    solve_set_cover,
)
from gridder.coverage.standard import (
    Category,
    Level,
    Standard,
    compliance,
    load_standard,
    missing_by_scope,
)
from gridder.coverage.summary import covered_table, summarize

__all__ = [
    "Category",
    "CoverageResult",
    "IsochroneBuilder",
    "Level",
    "NearestFacility",
    "SitingResult",
    "Solution",
    "Standard",
    "building_cells",
    "check_thresholds",
    "compliance",
    "compute_coverage",
    "covered_table",
    "distinct_minutes",
    "gap_polygons",
    "gaps",
    "isochrones",
    "load_standard",
    "missing_by_scope",
    "nearest_facility",
    "network_candidates",
    "pairwise_within",
    "site_facilities",
    "solve_max_cover",
    "solve_set_cover",
    "summarize",
    "thresholds_for",
]
