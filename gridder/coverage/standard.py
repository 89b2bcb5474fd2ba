"""Life-circle standards (GB 50180-2018): the catalogue, facility matching, compliance.

A catalogue (YAML or JSON; the shipped one is ``gridder/datasets/gb50180.yaml``) lists
the life-circle levels with their walking distances and the facility categories each
level requires, each entry marked ``source: standard`` (read) or ``source: assumed``
(recalled or chosen, unverified). Facilities are matched to categories by their
``type`` (verbatim, Chinese or English, or an OSM ``key=value``) or by OSM tag columns.

:func:`compliance` answers, per scope (all / community / grid), level and required
category: how many households reach one within the level's distance, and whether the
category is *missing*.

The "missing" rule
------------------
A required category is *missing* for a scope when fewer than
``missing_if_share_below`` (catalogue key; 0.5 in the shipped catalogue, a project
choice marked ``assumed``) of the scope's households reach a facility of that category
within the level's distance. A scope with no households is never missing anything.
:func:`missing_by_scope` lists, per scope and level, the categories missing there.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import yaml

from gridder.coverage.summary import covered_table
from gridder.errors import InputError, Problem

__all__ = [
    "Category",
    "Level",
    "Standard",
    "compliance",
    "load_standard",
    "missing_by_scope",
]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: OSM keys looked at, in order, when a facility frame carries tag columns.
TAG_KEYS = ("amenity", "shop", "healthcare", "social_facility", "leisure", "office")


@dataclass(frozen=True)
class Level:
    """One life-circle level.

    Parameters
    ----------
    level
        Minutes (5, 10, 15).
    distance_m
        Walking distance of the level.
    source
        ``standard`` (read) or ``assumed`` (recalled / chosen).
    name_zh, name_en
        Names.
    """

    level: int
    distance_m: float
    source: str
    name_zh: str = ""
    name_en: str = ""


@dataclass(frozen=True)
class Category:
    """One facility category required at one level.

    Parameters
    ----------
    key
        Catalogue key (``kindergarten``).
    zh, en
        Chinese and English names.
    level
        The level (minutes) that requires it.
    source
        ``standard`` or ``assumed``.
    osm
        OSM tag conditions: each a ``key=value`` or a ``+``-joined conjunction.
    types
        User ``type`` values that mean this category (case-insensitive).
    """

    key: str
    zh: str
    en: str
    level: int
    source: str
    osm: tuple[str, ...]
    types: tuple[str, ...]


def _norm(text: Any) -> str:
    return " ".join(str(text).strip().lower().replace("_", " ").split())


@dataclass(frozen=True)
class Standard:
    """A life-circle catalogue. Load one with :func:`load_standard`.

    Parameters
    ----------
    name
        Its name (``GB 50180-2018``).
    levels
        The levels, ascending.
    categories
        Category key → :class:`Category`.
    missing_if_share_below
        A category is missing for a scope when a smaller share of households reach it.
    """

    name: str
    levels: tuple[Level, ...]
    categories: Mapping[str, Category]
    missing_if_share_below: float = 0.5

    def level(self, minutes: int) -> Level:
        """Return the level of ``minutes``."""
        for lv in self.levels:
            if lv.level == minutes:
                return lv
        raise KeyError(minutes)

    def required(self, minutes: int) -> list[Category]:
        """Return the categories the level of ``minutes`` requires."""
        return [c for c in self.categories.values() if c.level == minutes]

    def _type_index(self) -> dict[str, str]:
        index: dict[str, str] = {}
        for cat in self.categories.values():
            for t in cat.types:
                index.setdefault(_norm(t), cat.key)
            for cond in cat.osm:
                if "+" in cond:
                    continue
                key, _, value = cond.partition("=")
                index.setdefault(_norm(f"{key}={value}"), cat.key)
                index.setdefault(_norm(value), cat.key)
                index.setdefault(_norm(f"{key} {value}"), cat.key)
        return index

    def category_of(self, facility_type: Any) -> str | None:
        """Return the category key a facility ``type`` maps to, or ``None``.

        Examples
        --------
        >>> std = load_standard("gb50180")
        >>> std.category_of("幼儿园"), std.category_of("amenity=kindergarten")
        ('kindergarten', 'kindergarten')
        """
        if facility_type is None or (isinstance(facility_type, float) and np.isnan(facility_type)):
            return None
        return self._type_index().get(_norm(facility_type))

    def categorize_types(self, types: pd.Series) -> pd.Series:
        """Map a Series of facility types to category keys (``None`` when unmapped)."""
        index = self._type_index()
        return types.map(lambda t: index.get(_norm(t)) if pd.notna(t) else None).astype(object)

    def categorize_tags(self, frame: pd.DataFrame) -> pd.Series:
        """Map rows carrying OSM tag columns (``amenity``, ``shop``, …) to category keys.

        Conjunctive conditions (``a=b+c=d``) are tried before single ones.
        """
        out = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        conds = [(cond, cat.key) for cat in self.categories.values() for cond in cat.osm]
        conds.sort(key=lambda item: -item[0].count("+"))
        for cond, key in conds:
            mask = pd.Series(True, index=frame.index)
            for term in cond.split("+"):
                k, _, v = term.partition("=")
                if k not in frame.columns:
                    mask &= False
                    break
                col = frame[k].astype(object).where(frame[k].notna(), "").astype(str)
                mask &= col.str.lower() == v.lower()
            out[mask & out.isna()] = key
        return out


def load_standard(name_or_path: str | os.PathLike[str] = "gb50180") -> Standard:
    """Load a life-circle catalogue by name (shipped: ``gb50180``) or from a YAML/JSON file.

    Raises
    ------
    InputError
        The file is missing, is not valid YAML/JSON, or lacks or misspells a key: each
        problem names the file, the entry and the key.
    """
    text_name = str(name_or_path)
    path = Path(text_name)
    try:
        if path.suffix.lower() in {".yaml", ".yml", ".json"}:
            raw = path.read_text(encoding="utf-8")
            source = str(path)
        else:
            source = f"gridder/datasets/{text_name}.yaml"
            raw = (resources.files("gridder") / "datasets" / f"{text_name}.yaml").read_text(
                encoding="utf-8"
            )
    except (FileNotFoundError, OSError) as exc:
        raise InputError.single(text_name, "", f"no such life-circle standard ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise InputError.single(text_name, "", "is not a UTF-8 text file") from exc
    if source.endswith(".json"):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError.single(
                source, f"line {exc.lineno}", f"is not valid JSON ({exc.msg})"
            ) from exc
    else:
        try:
            data = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}" if mark is not None else ""
            what = getattr(exc, "problem", None) or str(exc)
            raise InputError.single(source, where, f"is not valid YAML ({what})") from exc
    return _parse_catalogue(data, source=source, name=text_name)


def _parse_catalogue(data: Any, *, source: str, name: str) -> Standard:
    """Build a :class:`Standard` from a parsed catalogue, naming every bad or missing key."""
    problems: list[Problem] = []
    if not isinstance(data, Mapping):
        raise InputError.single(
            source,
            "",
            "expected a life-circle catalogue: a mapping with the keys 'levels' and "
            f"'categories', got {type(data).__name__}",
        )
    levels: list[Level] = []
    raw_levels = data.get("levels")
    if raw_levels is None:
        problems.append(
            Problem(source, "", "missing key 'levels' (a list of {level, distance_m} entries)")
        )
    elif not isinstance(raw_levels, list) or not raw_levels:
        problems.append(Problem(source, "levels", "expected a non-empty list of levels"))
    else:
        for i, lv in enumerate(raw_levels):
            where = f"levels, entry {i + 1}"
            if not isinstance(lv, Mapping):
                problems.append(Problem(source, where, "expected a mapping {level, distance_m}"))
                continue
            minutes = _key(lv, "level", source, where, problems, whole=True)
            dist = _key(lv, "distance_m", source, where, problems)
            if minutes is not None and dist is not None:
                levels.append(
                    Level(
                        level=int(minutes),
                        distance_m=dist,
                        source=str(lv.get("source", "assumed")),
                        name_zh=str(lv.get("name_zh", "")),
                        name_en=str(lv.get("name_en", "")),
                    )
                )
    seen = [lv.level for lv in levels]
    problems += [
        Problem(source, "levels", f"level {m} given more than once")
        for m in sorted({m for m in seen if seen.count(m) > 1})
    ]
    cats: dict[str, Category] = {}
    raw_cats = data.get("categories")
    if raw_cats is None:
        problems.append(Problem(source, "", "missing key 'categories' (category key → entry)"))
    elif not isinstance(raw_cats, Mapping):
        problems.append(Problem(source, "categories", "expected a mapping: category key → entry"))
    else:
        for key, c in raw_cats.items():
            where = f"categories, {key}"
            if not isinstance(c, Mapping):
                problems.append(Problem(source, where, "expected a mapping with at least 'level'"))
                continue
            minutes = _key(c, "level", source, where, problems, whole=True)
            if minutes is None:
                continue
            cats[str(key)] = Category(
                key=str(key),
                zh=str(c.get("zh", key)),
                en=str(c.get("en", key)),
                level=int(minutes),
                source=str(c.get("source", "assumed")),
                osm=_strings(c.get("osm")),
                types=_strings(c.get("types")),
            )
    share = data.get("missing_if_share_below", 0.5)
    if not (_number(share) is not None and 0.0 <= float(share) <= 1.0):
        problems.append(
            Problem(
                source, "missing_if_share_below", f"expected a share from 0 to 1, got {share!r}"
            )
        )
    if problems:
        raise InputError(problems)
    known = {lv.level for lv in levels}
    bad = [c.key for c in cats.values() if c.level not in known]
    if bad:
        raise InputError.single(source, ", ".join(bad), f"category level not in {sorted(known)}")
    return Standard(
        name=str(data.get("name", name)),
        levels=tuple(sorted(levels, key=lambda lv: lv.level)),
        categories=cats,
        missing_if_share_below=float(share),
    )


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` (booleans and text are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if np.isfinite(number) else None


def _key(
    entry: Mapping[str, Any],
    key: str,
    source: str,
    where: str,
    problems: list[Problem],
    *,
    whole: bool = False,
) -> float | None:
    """A positive number under ``key`` (a whole one with ``whole``), or a problem noted."""
    if key not in entry:
        problems.append(Problem(source, where, f"missing key '{key}'"))
        return None
    number = _number(entry[key])
    if number is None or number <= 0 or (whole and number != int(number)):
        kind = "a whole number of minutes" if whole else "a number of metres"
        problems.append(
            Problem(source, where, f"'{key}' must be {kind} above 0, got {entry[key]!r}")
        )
        return None
    return number


def _strings(value: Any) -> tuple[str, ...]:
    """A list of strings (or one string) as a tuple; nothing for ``None``."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(str(t) for t in value)
    return (str(value),)


def compliance(
    buildings: pd.DataFrame,
    category_dist: Mapping[str, FloatArray],
    standard: Standard,
) -> pd.DataFrame:
    """Build the compliance table (CONTRACT §4) of one standard.

    Parameters
    ----------
    buildings
        With ``households`` and optional ``community_id`` / ``grid_id``.
    category_dist
        Category key → network metres from each building to the nearest facility of
        that category (NaN when none within reach); categories absent count as none.
    standard
        The catalogue.

    Returns
    -------
    pandas.DataFrame
        ``scope``, ``scope_id``, ``level``, ``category``, ``category_zh``, ``source``,
        ``distance_m``, ``households``, ``households_covered``, ``share``, ``missing``.
    """
    n = len(buildings)
    masks: dict[tuple[Any, ...], npt.NDArray[np.bool_]] = {}
    for lv in standard.levels:
        for cat in standard.required(lv.level):
            d = category_dist.get(cat.key)
            mask = np.zeros(n, dtype=bool) if d is None else np.asarray(d <= lv.distance_m)
            masks[(lv.level, cat.key, cat.zh, cat.source, lv.distance_m)] = mask
    out = covered_table(
        buildings, masks, ("level", "category", "category_zh", "source", "distance_m")
    )
    out["missing"] = (out["households"] > 0) & ~(
        out["share"].fillna(0.0) >= standard.missing_if_share_below
    )
    return out[
        [
            "scope",
            "scope_id",
            "level",
            "category",
            "category_zh",
            "source",
            "distance_m",
            "households",
            "households_covered",
            "share",
            "missing",
        ]
    ]


MISSING_COLUMNS = (
    "scope",
    "scope_id",
    "level",
    "distance_m",
    "households",
    "n_required",
    "n_missing",
    "missing_categories",
    "missing_zh",
)


def missing_by_scope(compliance: pd.DataFrame) -> pd.DataFrame:
    """List, per scope and level, the required categories that are missing.

    Parameters
    ----------
    compliance
        A table from :func:`compliance` (or a coverage file's ``compliance`` layer).

    Returns
    -------
    pandas.DataFrame
        One row per scope (``all``, each community, each grid) and level, in that order:
        ``scope``, ``scope_id``, ``level``, ``distance_m``, ``households``,
        ``n_required``, ``n_missing``, ``missing_categories`` (catalogue keys joined by
        ``", "``; empty when none is missing) and ``missing_zh`` (their Chinese names
        joined by ``"；"``). Plain text columns, so that the table writes to GeoPackage,
        CSV and Excel as it is.

    Examples
    --------
    >>> table = missing_by_scope(result.compliance)              # doctest: +SKIP
    >>> table.query("scope == 'grid' and n_missing > 0")          # doctest: +SKIP
    """
    if len(compliance) == 0:
        return pd.DataFrame(columns=list(MISSING_COLUMNS))
    c = compliance.copy()
    if "category_zh" not in c.columns:
        c["category_zh"] = c["category"]
    c["missing"] = c["missing"].astype(bool)
    scope_rank = {"all": 0, "community": 1, "grid": 2}
    c["_rank"] = c["scope"].map(scope_rank).fillna(3)
    c["_pos"] = np.arange(len(c))  # the catalogue's order of categories within a level
    keys = ["_rank", "scope", "scope_id", "level"]
    grouped = c.sort_values([*keys, "_pos"], kind="stable").groupby(keys, sort=True, dropna=False)
    out = grouped.agg(
        distance_m=("distance_m", "first"),
        households=("households", "first"),
        n_required=("category", "size"),
        n_missing=("missing", "sum"),
    ).reset_index()
    missing = c[c["missing"]].sort_values([*keys, "_pos"], kind="stable")
    names = (
        missing.groupby(keys, sort=False, dropna=False)
        .agg(
            missing_categories=("category", lambda s: ", ".join(map(str, s))),
            missing_zh=("category_zh", lambda s: "；".join(map(str, s))),
        )
        .reset_index()
    )
    out = out.merge(names, on=keys, how="left")
    out["missing_categories"] = out["missing_categories"].fillna("")
    out["missing_zh"] = out["missing_zh"].fillna("")
    out["n_missing"] = out["n_missing"].astype(np.int64)
    out["n_required"] = out["n_required"].astype(np.int64)
    return out[list(MISSING_COLUMNS)].reset_index(drop=True)
