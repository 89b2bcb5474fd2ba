"""The life-circle catalogue: sources marked, matching, loading errors."""

from __future__ import annotations

import pandas as pd
import pytest

from gridder.coverage.standard import load_standard
from gridder.errors import InputError


def test_catalogue_levels_and_sources():
    std = load_standard("gb50180")
    assert [(lv.level, lv.distance_m) for lv in std.levels] == [(5, 300), (10, 500), (15, 1000)]
    assert {lv.level: lv.source for lv in std.levels} == {5: "assumed", 10: "standard",
                                                           15: "assumed"}
    assert all(c.source in {"standard", "assumed"} for c in std.categories.values())
    read = {k for k, c in std.categories.items() if c.source == "standard"}
    assert read == {"cultural_activity_centre", "community_service_centre",
                    "sub_district_office"}
    five = {c.key for c in std.required(5)}
    assert {"community_service_station", "kindergarten", "health_station",
            "elderly_day_care", "cultural_station", "small_sports_field"} <= five
    assert {"primary_school", "market"} <= {c.key for c in std.required(10)}
    assert {"middle_school", "community_health_centre"} <= {c.key for c in std.required(15)}
    assert all(c.zh and c.en for c in std.categories.values())


@pytest.mark.parametrize(
    ("value", "category"),
    [
        ("幼儿园", "kindergarten"),
        ("Kindergarten", "kindergarten"),
        ("amenity=kindergarten", "kindergarten"),
        ("社区服务站", "community_service_station"),
        ("网格党群服务站", "community_service_station"),
        ("clinic", "health_station"),
        ("社区卫生服务中心", "community_health_centre"),
        ("supermarket", "market"),
        ("shop=supermarket", "market"),
        ("初中", "middle_school"),
        ("community_centre", "community_service_station"),
        ("toilets", "public_toilet"),
        ("restaurant", None),
        (None, None),
    ],
)
def test_category_of(value, category):
    assert load_standard().category_of(value) == category


def test_categorize_tags_prefers_specific_conditions():
    frame = pd.DataFrame(
        {
            "amenity": ["community_centre", "community_centre", "social_facility", None, "bar"],
            "community_centre": [None, "culture", None, None, None],
            "social_facility": [None, None, "day_care", None, None],
            "shop": [None, None, None, "supermarket", None],
        }
    )
    got = load_standard().categorize_tags(frame).tolist()
    assert got == ["community_service_station", "cultural_activity_centre", "elderly_day_care",
                   "market", None]


def test_user_catalogue_and_errors(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: mine\nlevels:\n  - {level: 5, distance_m: 250, source: assumed}\n"
        "categories:\n  grid_station: {zh: 网格站, en: grid station, level: 5, "
        "types: [网格站]}\nmissing_if_share_below: 0.9\n",
        encoding="utf-8",
    )
    std = load_standard(path)
    assert std.name == "mine" and std.missing_if_share_below == 0.9
    assert std.category_of("网格站") == "grid_station"
    bad = tmp_path / "bad.yaml"
    bad.write_text("levels: [{level: 5}]\ncategories: {}\n", encoding="utf-8")
    with pytest.raises(InputError, match="malformed"):
        load_standard(bad)
    with pytest.raises(InputError, match="no such life-circle standard"):
        load_standard("nonexistent_standard")
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("levels: [{level: 5, distance_m: 300}]\n"
                     "categories: {a: {level: 10}}\n", encoding="utf-8")
    with pytest.raises(InputError, match="category level not in"):
        load_standard(wrong)
