"""Options of the partition optimizer (the band, the seed, limits and objective weights).

Every option is explicit and immutable: a :class:`PartitionConfig` is passed to
the solver and recorded in ``plan_meta``, so that a plan can be reproduced from
it and the same seed.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from gridder.errors import InputError

__all__ = ["ObjectiveWeights", "PartitionConfig", "workload_scale"]


@dataclass(frozen=True)
class ObjectiveWeights:
    """Weights of the terms of the grid cost (all non-negative).

    The cost of a plan is the sum over its grids of

    ``out_of_band·[value outside band] + out_household·(households outside band)
    + deviation·|value − target| + inertia·Σ value·distance²(unit, grid centre)/100
    + mixed_compound·(compound classes − 1) + cut·(weighted boundary length)
    + hard_inside·(hard-barrier edges inside the grid) + moved·(households moved)``.

    Parameters
    ----------
    out_of_band
        Cost of one grid whose value lies outside ``[min, max]``.
    out_household
        Cost per unit of value outside the band.
    deviation
        Cost per unit of value away from the target.
    inertia
        Cost per household·(10 m)² of squared distance to the grid's centre.
    mixed_compound
        Cost per extra compound class (小区, or "no compound") mixed in a grid.
    cut
        Cost per metre of grid boundary that runs between two units (counted
        once for each side of the boundary).
    street_cut_factor
        Factor on ``cut`` for boundaries that follow a street (cheaper).
    soft_cut_factor
        Factor on ``cut`` for boundaries along a compound edge (cheaper).
    hard_inside
        Cost per hard-barrier edge (major street, river, rail) inside a grid.
    moved
        Cost per unit of value moved away from its previous grid (re-planning).
    compactness
        Worth of one unit of Σ Polsby–Popper in the compactness polish
        (:mod:`gridder.partition.compact`), traded against the terms above;
        not a term of the plan's objective. ``0`` turns the polish off.
    """

    out_of_band: int = 100_000
    out_household: int = 1_000
    deviation: int = 2
    inertia: float = 0.01
    mixed_compound: int = 20_000
    cut: float = 10.0
    street_cut_factor: float = 0.3
    soft_cut_factor: float = 0.3
    hard_inside: int = 50_000
    moved: int = 400
    compactness: float = 20_000.0

    def __post_init__(self) -> None:
        for name, val in asdict(self).items():
            if val < 0:
                raise InputError.single("config", name, f"weight must be >= 0, got {val}")


@dataclass(frozen=True)
class PartitionConfig:
    """Options of :class:`gridder.partition.GridPartitioner`.

    Parameters
    ----------
    min, max, target
        The band of balance values a grid should hold and its target.
    balance_on
        What the instance's ``value`` holds (recorded only; the optimizer
        balances ``value`` whatever it is).
    seed
        Seed of every random choice; per-community seeds derive from it.
    time_limit
        Deterministic time budget of CP-SAT per community (CP-SAT's
        ``max_deterministic_time``, roughly seconds on a typical core); the
        heuristics are bounded by iteration counts, never by the wall clock.
    workers
        CP-SAT workers per model; keep 1 for reproducible plans.
    keep_compounds
        Never split a compound whose total fits within the band.
    weights
        Weights of the objective terms.
    max_set_size
        Largest number of (contracted) units in an enumerated candidate grid.
    max_sets
        Largest number of candidate grids of one exact set-partition model.
    local_search_passes
        Passes of the boundary local search.
    area_weight
        Balance value per hectare of land (the grid's tessellation cells): the
        balance value of a building becomes ``value + area_weight × cell area
        / 10,000 m²`` (rounded per building), so that grids covering much land
        (more patrol effort) hold fewer households. ``0`` (the default) leaves
        the balance value alone.
    compactness_passes
        Passes of the compactness polish over the units (``0``: off).
    restarts
        Further attempts, each with a seed derived from the community's seed,
        while a plan that joined zones across a barrier leaves more grids out
        of band than the lower bounds allow (see
        ``GridPartitioner._restart``); the best plan is kept (``0``: one
        attempt). Each attempt has its own ``time_limit``.
    max_moved
        Largest share of a community's households (in buildings of both
        plans) a re-plan may move to bring grids into band. A re-plan tries
        the previous plan as it is, the plan improved from it, and a plan drawn
        afresh; one moving more than this share is kept only when none of the
        others is a plan within it. ``1.0`` (the default): balance comes first.
    value_scale
        Balance units per unit of the band as the user gave it: a workload of
        fractional weights is solved in whole hundredths, say, so a band of
        2–4 becomes 200–400 with ``value_scale`` 100 (:meth:`scaled`). Notes
        show the band as given.
    """

    min: int = 200
    max: int = 300
    target: int = 250
    balance_on: Literal["households", "workload"] = "households"
    seed: int = 0
    time_limit: float = 10.0
    workers: int = 1
    keep_compounds: bool = False
    weights: ObjectiveWeights = field(default_factory=ObjectiveWeights)
    max_set_size: int = 8
    max_sets: int = 30_000
    local_search_passes: int = 30
    area_weight: float = 0.0
    compactness_passes: int = 10
    restarts: int = 2
    max_moved: float = 1.0
    value_scale: int = 1

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.min <= self.target <= self.max:
            problems.append(
                f"need 0 < min <= target <= max, got min={self.min}, "
                f"target={self.target}, max={self.max}"
            )
        if not 0 < self.time_limit < math.inf:
            problems.append(f"time_limit must be a number > 0, got {self.time_limit}")
        if self.seed < 0:
            problems.append(f"seed must be >= 0, got {self.seed}")
        if self.workers < 1:
            problems.append(f"workers must be >= 1, got {self.workers}")
        if not 0 <= self.area_weight < math.inf:
            problems.append(f"area_weight must be a number >= 0, got {self.area_weight}")
        if self.compactness_passes < 0:
            problems.append(f"compactness_passes must be >= 0, got {self.compactness_passes}")
        if not 0 <= self.max_moved <= 1:
            problems.append(f"max_moved must be a share between 0 and 1, got {self.max_moved}")
        if self.restarts < 0:
            problems.append(f"restarts must be >= 0, got {self.restarts}")
        if self.value_scale < 1:
            problems.append(f"value_scale must be >= 1, got {self.value_scale}")
        if self.max_set_size < 1 or self.max_sets < 1:
            problems.append("max_set_size and max_sets must be >= 1")
        if problems:
            raise InputError.single("partition options", "", "; ".join(problems))

    def scaled(self, factor: int) -> PartitionConfig:
        """The same options for balance values ``factor`` times as large (see ``value_scale``)."""
        return replace(
            self,
            min=self.min * factor,
            max=self.max * factor,
            target=self.target * factor,
            area_weight=self.area_weight * factor,
            value_scale=self.value_scale * factor,
        )

    def shown(self, value: float) -> str:
        """A balance value in the units the band was given in (``value_scale``)."""
        return f"{value / self.value_scale:g}"

    def in_band(self, value: float) -> bool:
        """Whether a balance value lies within ``[min, max]``."""
        return self.min <= value <= self.max

    @property
    def grid_cap(self) -> int:
        """The largest grid of several buildings a plan should hold: max plus the band's width.

        The band's lower bound holds for plans with grids no larger (400 for
        200–300); re-plans merge grids and send buildings back only within it,
        and larger grids are split where that costs less.
        """
        return self.max + (self.max - self.min)

    def community_seed(self, community_id: str) -> int:
        """A seed for one community, derived from :attr:`seed` and its id.

        It does not depend on the order or the number of communities, so a
        community gets the same plan whether it is solved alone or in a city.
        """
        return _derive_seed(f"{self.seed}:{community_id}")

    @staticmethod
    def attempt_seed(community_seed: int, attempt: int) -> int:
        """The seed of a restart (``attempt`` ≥ 1) of a community solved with ``community_seed``."""
        return community_seed if attempt == 0 else _derive_seed(f"{community_seed}/{attempt}")

    def with_(self, **changes: Any) -> PartitionConfig:
        """A copy with some options changed."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The options as plain JSON-able values (for ``plan_meta``)."""
        return asdict(self)


def workload_scale(
    target: float, spread: float | None = None, values: Sequence[float] | None = None
) -> int:
    """Balance units per unit of a workload band: a power of ten (1 for households).

    The solver balances whole numbers, each building's workload rounded after
    this scaling. It makes ``target`` at least 100 (a band of 2–4 with
    households weighted 0.01 is solved as 200–400), and, given the band's
    width ``spread`` and the buildings' ``values``, grows tenfold (up to
    10,000) while a grid of about ``target`` would gather a rounding error
    above 5% of the band's width (households weighted 0.05 in a band of
    80–120: workloads of 1.05 rounded to 1 twenty times over).

    Examples
    --------
    >>> workload_scale(250), workload_scale(50), workload_scale(3)
    (1, 10, 100)
    >>> workload_scale(100, 40, [1.05, 2.1, 3.15])
    10
    >>> workload_scale(250, 100, [12.0, 30.0])
    1
    """
    scale = 1 if target >= 100 else int(10 ** math.ceil(math.log10(100 / target)))
    valued = [float(v) for v in (values or ()) if v > 0]
    if spread is None or not valued:
        return scale
    per_grid = target / (sum(valued) / len(valued))  # buildings in a grid of the target
    while scale < 10_000:
        error = sum(abs(round(v * scale) - v * scale) for v in valued) / len(valued) / scale
        if error * per_grid <= 0.05 * spread:
            break
        scale *= 10
    return scale


def _derive_seed(text: str) -> int:
    """A 31-bit seed from a string (SHA-256; independent of Python's hash salt)."""
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF
