"""Which streets are walkable.

The rule (:class:`WalkRules`, every set configurable)
----------------------------------------------------
A street is walkable unless

* its ``highway`` class is one nobody walks on (``excluded_highways``: construction,
  proposed, abandoned, platform, raceway, bus_guideway, busway, escape, razed, no), or
  a cycleway (``foot_only_if_allowed``: cycleway, bridleway) without ``foot=yes``;
* it is a motorway, motorway_link, trunk or trunk_link (``sidewalk_required``) with no
  ``sidewalk`` on either side and no ``foot=yes|designated|permissive``;
* it is tagged ``foot=no`` (``foot_blocked``);
* it is tagged ``access=private|no`` or ``service=private`` (``access_blocked``) and
  not ``foot=yes|designated|permissive`` (``foot_allowed``).

Footways, paths, steps, pedestrian streets, living streets, residential, service,
unclassified and tertiary … primary roads are walkable; a line with no ``highway``
(a planner's plain line file) is walkable. This is the OSMnx ``walk`` filter with
trunk roads kept when they have sidewalks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["WalkRules", "text_column", "walkable_mask"]

_YES = frozenset({"yes", "designated", "permissive", "official"})


def text_column(frame: pd.DataFrame, name: str) -> npt.NDArray[np.object_]:
    """Return a tag column as stripped lower-case strings (``""`` when missing)."""
    if name not in frame.columns:
        return np.full(len(frame), "", dtype=object)
    col = frame[name].astype(object).where(frame[name].notna(), "")
    return np.asarray(col.astype(str).str.strip().str.lower(), dtype=object)


@dataclass(frozen=True)
class WalkRules:
    """Which streets are walkable (see the module docstring).

    Parameters
    ----------
    excluded_highways
        ``highway`` classes never walkable.
    foot_only_if_allowed
        Classes walkable only with ``foot=yes|designated|permissive``.
    sidewalk_required
        Classes walkable only with a ``sidewalk`` (or an explicit foot permission).
    foot_allowed
        ``foot`` values that override access restrictions.
    foot_blocked
        ``foot`` values that exclude a way.
    access_blocked
        ``access`` (and ``service``) values that exclude a way unless foot is allowed.
    """

    excluded_highways: frozenset[str] = frozenset(
        {
            "construction",
            "proposed",
            "planned",
            "abandoned",
            "disused",
            "razed",
            "platform",
            "raceway",
            "bus_guideway",
            "busway",
            "escape",
            "no",
        }
    )
    foot_only_if_allowed: frozenset[str] = frozenset({"cycleway", "bridleway"})
    sidewalk_required: frozenset[str] = frozenset(
        {"motorway", "motorway_link", "trunk", "trunk_link"}
    )
    foot_allowed: frozenset[str] = _YES
    foot_blocked: frozenset[str] = frozenset({"no", "use_sidepath"})
    access_blocked: frozenset[str] = frozenset({"private", "no"})


def walkable_mask(streets: pd.DataFrame, rules: WalkRules | None = None) -> npt.NDArray[np.bool_]:
    """Whether each street is walkable under ``rules`` (default :class:`WalkRules`).

    Missing tag columns count as untagged.
    """
    rules = rules or WalkRules()
    hw = text_column(streets, "highway")
    foot = text_column(streets, "foot")
    access = text_column(streets, "access")
    service = text_column(streets, "service")
    sidewalk = text_column(streets, "sidewalk")
    foot_ok = np.isin(foot, list(rules.foot_allowed))
    ok = ~np.isin(hw, list(rules.excluded_highways))
    ok &= ~(np.isin(hw, list(rules.foot_only_if_allowed)) & ~foot_ok)
    has_sidewalk = (sidewalk != "") & ~np.isin(sidewalk, ["no", "none", "separate"])
    ok &= ~(np.isin(hw, list(rules.sidewalk_required)) & ~has_sidewalk & ~foot_ok)
    ok &= ~np.isin(foot, list(rules.foot_blocked))
    blocked = np.isin(access, list(rules.access_blocked)) | np.isin(
        service, list(rules.access_blocked)
    )
    ok &= ~(blocked & ~foot_ok)
    return np.asarray(ok, dtype=bool)
