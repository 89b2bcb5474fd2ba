"""Request and response bodies of the grid service (pydantic), with examples for OpenAPI."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from gridder.io.columns import column_mapping
from gridder.io.crs import crs_key, parse_crs
from gridder.partition.config import PartitionConfig
from gridder.planning import check_weights

__all__ = [
    "Building",
    "CoverageRow",
    "CoverageSummary",
    "Crs",
    "CrsName",
    "ErrorOut",
    "Feature",
    "FeatureCollection",
    "Health",
    "Job",
    "LocateBatchIn",
    "LocateBatchOut",
    "LocatedGrid",
    "Location",
    "PartitionParams",
    "PlanCreate",
    "PlanDetail",
    "PlanList",
    "PlanSummary",
    "crs_name",
]


class Crs(StrEnum):
    """Coordinate systems accepted for lookups."""

    wgs84 = "wgs84"
    cgcs2000 = "cgcs2000"
    gcj02 = "gcj02"
    bd09 = "bd09"


_CRS_ALIASES: Final = {"epsg4326": "wgs84", "epsg4490": "cgcs2000"}
CRS_HELP: Final = (
    "Coordinate system of the points: wgs84, cgcs2000, gcj02 or bd09, in any case; "
    "EPSG:4326 means wgs84 and EPSG:4490 means cgcs2000 (taken as WGS84, as the CLI does)."
)


def crs_name(value: Any) -> Any:
    """Return the canonical name of a coordinate system given as the API accepts it.

    Case, spaces, ``-``, ``_`` and ``:`` are ignored, and ``EPSG:4326`` /
    ``EPSG:4490`` name WGS84 / CGCS2000. Anything else is returned unchanged, for
    the validator to refuse with the list of accepted names.

    Examples
    --------
    >>> crs_name("GCJ-02"), crs_name("EPSG:4326"), crs_name("epsg:4490")
    ('gcj02', 'wgs84', 'cgcs2000')
    """
    if not isinstance(value, str):
        return value
    key = crs_key(value)
    key = _CRS_ALIASES.get(key, key)
    return key if key in Crs.__members__ else value


#: A coordinate system name in a request, normalised by :func:`crs_name`.
CrsName = Annotated[Literal["wgs84", "cgcs2000", "gcj02", "bd09"], BeforeValidator(crs_name)]


def _count(value: Any) -> Any:
    """A household count read back as a float (``24461.0``) is the integer ``24461``."""
    if isinstance(value, float):
        return round(value) if math.isfinite(value) else None
    return value


#: A number of households: always an integer in JSON.
Count = Annotated[int | None, BeforeValidator(_count)]


class ErrorOut(BaseModel):
    """Every error answer: what is wrong (a message, or a list of validation errors)."""

    detail: str | list[Any]
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"detail": "no grid contains the point (118.7, 32.1)"}]}
    )


class Health(BaseModel):
    """Liveness answer."""

    status: Literal["ok"] = "ok"
    active_plan: str | None = None
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "ok", "active_plan": "nanjing-2024-06"}]}
    )


class LocatedGrid(BaseModel):
    """The grid holding a point."""

    grid_id: str
    community_id: str
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"grid_id": "C01-003", "community_id": "C01"}]}
    )


class Location(LocatedGrid):
    """The grid holding a point, and the plan that answered."""

    plan_id: str
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"grid_id": "C01-003", "community_id": "C01", "plan_id": "2024-06"}]
        }
    )


# A coordinate is finite: `nan` is "Input should be a finite number", not a range error.
Lon = Annotated[float, Field(ge=-180.0, le=180.0, allow_inf_nan=False)]
Lat = Annotated[float, Field(ge=-90.0, le=90.0, allow_inf_nan=False)]
# In a JSON body a coordinate is a JSON number: strict refuses true/false and strings
# (and costs less than lax parsing on a 100,000-point batch).
BodyLon = Annotated[float, Field(ge=-180.0, le=180.0, strict=True, allow_inf_nan=False)]
BodyLat = Annotated[float, Field(ge=-90.0, le=90.0, strict=True, allow_inf_nan=False)]


class LocateBatchIn(BaseModel):
    """Many points to locate, ``[lon, lat]`` each, in one coordinate system."""

    points: list[tuple[BodyLon, BodyLat]] = Field(
        description="Points as [longitude, latitude] (JSON numbers); at most the server's "
        "batch limit (default 100,000; more answers 413)."
    )
    crs: CrsName = Field(default="wgs84", description=CRS_HELP)
    plan_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Ask this stored plan instead of the active one (as ?plan_id=; "
        "when both are given they must agree).",
    )
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"points": [[118.7801, 32.0412], [118.7901, 32.0503]], "crs": "gcj02"}]
        },
    )


class LocateBatchOut(BaseModel):
    """One answer per input point, in input order; ``null`` where no grid covers it."""

    results: list[LocatedGrid | None]
    plan_id: str
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "results": [{"grid_id": "C01-003", "community_id": "C01"}, None],
                    "plan_id": "2024-06",
                }
            ]
        }
    )


class Building(BaseModel):
    """A building's grid (plus the other columns of ``assignments``)."""

    building_id: str
    grid_id: str
    community_id: str
    households: Count = None
    lon: float | None = None
    lat: float | None = None
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "building_id": "B1024",
                    "grid_id": "C01-003",
                    "community_id": "C01",
                    "households": 48,
                    "lon": 118.7801,
                    "lat": 32.0412,
                }
            ]
        },
    )


class Feature(BaseModel):
    """A GeoJSON Feature (WGS84): a grid with its statistics and, when known, its workers."""

    type: Literal["Feature"] = "Feature"
    id: str | None = None
    geometry: dict[str, Any]
    properties: dict[str, Any]
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "Feature",
                    "id": "C01-003",
                    "geometry": {
                        "type": "Polygon",
                        "coordinates": [
                            [[118.78, 32.04], [118.79, 32.04], [118.79, 32.05], [118.78, 32.04]]
                        ],
                    },
                    "properties": {
                        "grid_id": "C01-003",
                        "community_id": "C01",
                        "households": 251,
                        "workload": 263.5,
                        "n_buildings": 9,
                        "area_m2": 41250.0,
                        "workers": [{"worker_id": "W07", "role": "grid"}],
                    },
                }
            ]
        }
    )


class FeatureCollection(BaseModel):
    """A GeoJSON FeatureCollection of grids."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Feature]


class CoverageRow(BaseModel):
    """One row of the coverage ``summary`` table (CONTRACT §4)."""

    scope: str
    scope_id: str | None = None
    facility_type: str
    minutes: float | None = None
    households: Count = None
    households_covered: Count = None
    share: float | None = None
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "scope": "community",
                    "scope_id": "C01",
                    "facility_type": "kindergarten",
                    "minutes": 5,
                    "households": 4839,
                    "households_covered": 4120,
                    "share": 0.851,
                }
            ]
        },
    )


class CoverageSummary(BaseModel):
    """The summary rows that match the filters."""

    rows: list[CoverageRow]


class PlanSummary(BaseModel):
    """A stored plan as listed: id, file, when it was made, with which parameters."""

    plan_id: str
    file: str
    created: str | None = None
    parameters: Any = None
    seed: Any = None
    active: bool
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "plan_id": "2024-06",
                    "file": "2024-06.gpkg",
                    "created": "2024-06-01T08:00:00+08:00",
                    "parameters": {"target": 250, "min": 200, "max": 300},
                    "seed": 0,
                    "active": True,
                }
            ]
        }
    )


class PlanList(BaseModel):
    """Every stored plan and which one is active."""

    active_plan_id: str | None
    plans: list[PlanSummary]


class PlanDetail(PlanSummary):
    """One stored plan with its whole ``plan_meta``."""

    meta: dict[str, Any]


def json_number(value: Any) -> Any:
    """Refuse ``true``/``false`` and strings where a JSON number is expected.

    Pydantic's lax mode reads ``true`` as 1 and ``"250"`` as 250. Its strict
    mode would refuse those but also ``250.0``, a whole number as JSON Schema's
    ``integer`` counts it; this check refuses only what is not a JSON number, and
    leaves the rest to the field's own checks (``250.7`` → "fractional part").

    Examples
    --------
    >>> json_number(250), json_number(2.5)
    (250, 2.5)
    >>> json_number(True)
    Traceback (most recent call last):
    ...
    ValueError: expected a JSON number, got true/false
    """
    if isinstance(value, bool):
        msg = "expected a JSON number, got true/false"
        raise ValueError(msg)
    if isinstance(value, str):
        msg = f"expected a JSON number, got the string {value!r}"
        raise ValueError(msg)
    return value


#: A whole number given as a JSON number (not true/false, not a string).
JsonInt = Annotated[int, BeforeValidator(json_number)]
#: A number given as a JSON number (not true/false, not a string).
JsonFloat = Annotated[float, BeforeValidator(json_number)]


class PartitionParams(BaseModel):
    """Options of a partition job, as ``gridder partition`` takes them.

    Numbers must be JSON numbers: ``true``, ``false`` and strings (``"250"``) are
    refused with a 422 naming the field (see :func:`json_number`).
    """

    target: JsonInt | None = Field(default=None, gt=0, examples=[250])
    min: JsonInt | None = Field(default=None, ge=0, examples=[200])
    max: JsonInt | None = Field(default=None, gt=0, examples=[300])
    balance_on: Literal["households", "workload"] | None = None
    weights: dict[str, JsonFloat] | None = Field(
        default=None,
        description="Column → weight of the workload (`--weights`; finite, >= 0, one above 0)",
        examples=[{"households": 1, "elderly": 0.5}],
    )
    barriers: str | None = Field(
        default=None,
        max_length=4096,
        description="`major` (default), `none`, or a server path of river/rail lines or areas",
        examples=["major"],
    )
    keep_compounds: bool | None = None
    area_weight: JsonFloat | None = Field(default=None, ge=0, allow_inf_nan=False, examples=[0.0])
    seed: JsonInt | None = Field(default=None, ge=0)
    time_limit: JsonFloat | None = Field(default=None, gt=0, le=86_400, allow_inf_nan=False)
    crs: str | None = Field(
        default=None,
        max_length=64,
        description="CRS of inputs that embed none: `gcj02`, `bd09` or `EPSG:n` (`--crs`)",
        examples=["gcj02"],
    )
    columns: dict[str, str] | None = Field(
        default=None,
        description="Contract column → the input's header, as `--columns households=户数`",
        examples=[{"households": "户数"}],
    )
    fix_geometry: bool | None = None
    previous_plan_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Re-plan from this stored plan, moving as few households as possible",
        examples=["2024-06"],
    )
    max_moved: JsonFloat | None = Field(
        default=None,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="With `previous_plan_id`: largest share of a community's households the "
        "re-plan may move (`--max-moved`)",
        examples=[0.15],
    )
    locked_grids: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        default=None,
        max_length=10_000,
        description="Grid ids of the previous plan to keep exactly (needs `previous_plan_id`)",
        examples=[["C01-003", "C01-007"]],
    )
    model_config = ConfigDict(extra="forbid")

    @field_validator("crs")
    @classmethod
    def _known_crs(cls, value: str | None) -> str | None:
        if value is not None:
            parse_crs(value)  # a ValueError names the accepted systems
        return value

    @field_validator("weights")
    @classmethod
    def _checked_weights(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        # the CLI's checks (an InputError is a ValueError: a 422 naming the weight)
        return None if value is None else check_weights(value, "weights")

    @field_validator("columns")
    @classmethod
    def _known_columns(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None:
            column_mapping(value, "columns")  # canonical names gridder reads
        return value

    @model_validator(mode="after")
    def _consistent(self) -> PartitionParams:
        if self.previous_plan_id is None:
            for name in ("locked_grids", "max_moved"):
                if getattr(self, name) is not None:
                    msg = f"{name} belongs to a re-plan: give previous_plan_id too"
                    raise ValueError(msg)
        band = {k: getattr(self, k) for k in ("min", "max", "target")}
        PartitionConfig(**{k: v for k, v in band.items() if v is not None})  # min <= target <= max
        return self


class PlanCreate(BaseModel):
    """A partition job over input files already on the server (or upload them as multipart)."""

    communities: str = Field(min_length=1, max_length=4096, examples=["/data/communities.gpkg"])
    buildings: str = Field(min_length=1, max_length=4096, examples=["/data/buildings.geojson"])
    streets: str | None = Field(default=None, min_length=1, max_length=4096)
    compounds: str | None = Field(
        default=None, min_length=1, max_length=4096, description="Compound (小区) polygons"
    )
    params: PartitionParams = Field(default_factory=PartitionParams)
    activate: bool = Field(default=False, description="Activate the new plan when the job ends.")
    model_config = ConfigDict(extra="forbid")


class Job(BaseModel):
    """A background job and, when it is done, its result."""

    job_id: str
    status: Literal["queued", "running", "done", "failed"]
    stage: str
    progress: float = Field(ge=0, le=1)
    created: str
    started: str | None = None
    finished: str | None = None
    plan_id: str | None = None
    activated: bool = False
    error: str | None = None
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "job_id": "5f0c0c7e1d8a4a51",
                    "status": "done",
                    "stage": "done",
                    "progress": 1.0,
                    "created": "2024-06-01T08:00:00+00:00",
                    "started": "2024-06-01T08:00:01+00:00",
                    "finished": "2024-06-01T08:02:11+00:00",
                    "plan_id": "2024-06",
                    "activated": False,
                    "error": None,
                }
            ]
        }
    )
