"""The life-circle catalogue: sources marked, matching, loading errors."""

from __future__ import annotations

import pandas as pd
import pytest

from gridder.coverage.standard import load_standard
from gridder.errors import InputError


def test_catalogue_levels_and_sources():
    std = load_standard("gb50180")
    assert [(lv.level, lv.distance_m) for lv in std.levels] == [(5, 300), (10, 500), (15, 1000)]
    assert {lv.level: lv.source for lv in std.levels} == {
        5: "assumed",
        10: "standard",
        15: "assumed",
    }
    assert all(c.source in {"standard", "assumed"} for c in std.categories.values())
    read = {k for k, c in std.categories.items() if c.source == "standard"}
    assert read == {"cultural_activity_centre", "community_service_centre", "sub_district_office"}
    five = {c.key for c in std.required(5)}
    assert {
        "community_service_station",
        "kindergarten",
        "health_station",
        "elderly_day_care",
        "cultural_station",
        "small_sports_field",
    } <= five
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
    assert got == [
        "community_service_station",
        "cultural_activity_centre",
        "elderly_day_care",
        "market",
        None,
    ]


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
    with pytest.raises(InputError, match=r"bad\.yaml: levels, entry 1: missing key 'distance_m'"):
        load_standard(bad)
    with pytest.raises(InputError, match="no such life-circle standard"):
        load_standard("nonexistent_standard")
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        "levels: [{level: 5, distance_m: 300}]\ncategories: {a: {level: 10}}\n", encoding="utf-8"
    )
    with pytest.raises(InputError, match="category level not in"):
        load_standard(wrong)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\ncategories: {}\n", r"mine\.yaml: missing key 'levels'"),
        ("levels: [{level: 5, distance_m: 300}]\n", r"mine\.yaml: missing key 'categories'"),
        ("levels: 5\ncategories: {}\n", r"mine\.yaml: levels: expected a non-empty list"),
        (
            "levels: [{distance_m: 300}]\ncategories: {}\n",
            r"levels, entry 1: missing key 'level'",
        ),
        (
            "levels: [{level: 5, distance_m: far}]\ncategories: {}\n",
            r"levels, entry 1: 'distance_m' must be a number of metres above 0, got 'far'",
        ),
        (
            "levels: [{level: 5, distance_m: -300}]\ncategories: {}\n",
            r"'distance_m' must be a number of metres above 0, got -300",
        ),
        (
            "levels: [{level: 5.5, distance_m: 300}]\ncategories: {}\n",
            r"'level' must be a whole number of minutes above 0, got 5\.5",
        ),
        (
            "levels: [{level: 5, distance_m: 300}]\ncategories: {kg: {zh: 幼儿园}}\n",
            r"categories, kg: missing key 'level'",
        ),
        (
            "levels: [{level: 5, distance_m: 300}]\ncategories: [kg]\n",
            r"categories: expected a mapping",
        ),
        (
            "levels: [{level: 5, distance_m: 300}, {level: 5, distance_m: 400}]\ncategories: {}\n",
            r"level 5 given more than once",
        ),
        (
            "levels: [{level: 5, distance_m: 300}]\ncategories: {}\nmissing_if_share_below: 2\n",
            r"missing_if_share_below: expected a share from 0 to 1, got 2",
        ),
        ("- just\n- a list\n", r"expected a life-circle catalogue: a mapping .* got list"),
        ("levels: [{level: 5\n", r"mine\.yaml: line \d+: is not valid YAML"),
    ],
)
def test_broken_catalogue_names_file_and_key(tmp_path, text, message):
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message) as info:
        load_standard(path)
    # plain words, never a raw Python error
    assert "KeyError" not in str(info.value) and "TypeError" not in str(info.value)


def test_broken_catalogue_lists_every_problem(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "levels: [{level: 5}, {distance_m: 500}]\ncategories: {a: {}, b: 3}\n", encoding="utf-8"
    )
    with pytest.raises(InputError) as info:
        load_standard(path)
    assert [(p.feature, p.problem) for p in info.value.problems] == [
        ("levels, entry 1", "missing key 'distance_m'"),
        ("levels, entry 2", "missing key 'level'"),
        ("categories, a", "missing key 'level'"),
        ("categories, b", "expected a mapping with at least 'level'"),
    ]


def test_broken_json_catalogue(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text('{"levels": [', encoding="utf-8")
    with pytest.raises(InputError, match=r"mine\.json: line 1: is not valid JSON"):
        load_standard(path)


def _compliance_fixture():
    from gridder.coverage.standard import compliance

    std = load_standard()
    # 6 buildings in 2 communities / 3 grids; distances chosen per category
    buildings = pd.DataFrame(
        {
            "households": [10, 10, 10, 0, 30, 5],
            "community_id": ["C1", "C1", "C1", "C1", "C2", "C2"],
            "grid_id": ["C1-001", "C1-001", "C1-002", "C1-002", "C2-001", "C2-001"],
        }
    )
    import numpy as np

    dist = {
        # kindergarten (5-min, 300 m): C1-001 both reach, C1-002 not, C2 only the 5 hh
        "kindergarten": np.array([100, 250, 900, 100, 400, 50], dtype=float),
        # primary school (10-min, 500 m): everyone
        "primary_school": np.full(6, 200.0),
    }
    return std, buildings, compliance(buildings, dist, std)


def test_missing_rule_is_documented_in_the_catalogue():
    from importlib import resources

    text = (resources.files("gridder") / "datasets" / "gb50180.yaml").read_text("utf-8")
    assert 'The "missing" rule' in text and "missing_if_share_below: 0.5" in text
    assert load_standard().missing_if_share_below == 0.5


def test_missing_by_scope_lists_the_missing_categories():
    from gridder.coverage.standard import missing_by_scope

    std, _, comp = _compliance_fixture()
    table = missing_by_scope(comp)
    n_levels = len(std.levels)
    # one row per scope and level: all, 2 communities, 3 grids
    assert len(table) == (1 + 2 + 3) * n_levels
    assert list(table["scope"].unique()) == ["all", "community", "grid"]
    row = table.set_index(["scope", "scope_id", "level"])
    five = {c.key for c in std.required(5)}

    def missing(scope, sid, level):
        return set(filter(None, row.loc[(scope, sid, level), "missing_categories"].split(", ")))

    # C1-001: both households reach a kindergarten -> it is not missing there
    assert "kindergarten" not in missing("grid", "C1-001", 5)
    assert missing("grid", "C1-001", 5) == five - {"kindergarten"}
    # C1-002: its 10 households are 900 m away -> missing (the 0-household building
    # does not count)
    assert "kindergarten" in missing("grid", "C1-002", 5)
    # C2: 5 of 35 households reach one (14% < 50%) -> missing
    assert "kindergarten" in missing("community", "C2", 5)
    # C1: 20 of 30 (67%) -> not missing
    assert "kindergarten" not in missing("community", "C1", 5)
    # primary school reaches everyone
    assert all("primary_school" not in missing(s, i, 10) for s, i, _ in row.index if _ == 10)
    # the counts and the Chinese names agree with the list
    r = row.loc[("grid", "C1-002", 5)]
    assert r["n_required"] == len(five) and r["n_missing"] == len(five)
    assert "幼儿园、托儿所" in r["missing_zh"].split("；")
    # the table is the compliance table's `missing` flags, regrouped
    assert table["n_missing"].sum() == int(comp["missing"].sum())


def test_missing_threshold_follows_the_catalogue(tmp_path):
    from gridder.coverage.standard import compliance, missing_by_scope

    path = tmp_path / "strict.yaml"
    path.write_text(
        "name: strict\nmissing_if_share_below: 0.9\nlevels:\n"
        "  - {level: 5, distance_m: 300}\n"
        "categories:\n  kindergarten: {level: 5, types: [幼儿园]}\n",
        encoding="utf-8",
    )
    std = load_standard(path)
    _, buildings, _ = _compliance_fixture()
    import numpy as np

    comp = compliance(buildings, {"kindergarten": np.array([100, 250, 900, 100, 400, 50.0])}, std)
    table = missing_by_scope(comp).set_index(["scope", "scope_id"])
    # C1: 67% reach one: fine at 0.5, missing at 0.9
    assert table.loc[("community", "C1"), "missing_categories"] == "kindergarten"
    assert table.loc[("grid", "C1-001"), "missing_categories"] == ""
    assert missing_by_scope(comp.iloc[:0]).empty


def test_coverage_result_missing(synth):
    from gridder.coverage import compute_coverage
    from gridder.coverage.standard import missing_by_scope

    streets = synth.lattice_edges(8, 8, 80.0, seed=1)
    buildings = synth.make_buildings(80, 560.0)
    facilities = synth.make_facilities({"幼儿园": 2}, 560.0)
    r = compute_coverage(streets, buildings, facilities, isochrones="none")
    assert r.missing is None and "missing" not in r.meta
    r = compute_coverage(streets, buildings, facilities, standard="gb50180", isochrones="none")
    assert r.compliance is not None and r.missing is not None
    pd.testing.assert_frame_equal(r.missing, missing_by_scope(r.compliance))
    whole = r.missing[r.missing["scope"] == "all"].set_index("level")
    assert set(r.meta["missing"]) == {"5", "10", "15"}
    for level, cats in r.meta["missing"].items():
        assert ", ".join(cats) == whole.loc[int(level), "missing_categories"]
    # no school of any kind in this town: primary school is missing everywhere
    assert "primary_school" in r.meta["missing"]["10"]
