"""GCJ-02 / BD-09 conversions and the local metric CRS."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from gridder.io import crs

GEOD = Geod(ellps="WGS84")

# China's extent (mainland, Hainan, the north-east and the far west)
LON = st.floats(min_value=73.5, max_value=135.0, allow_nan=False)
LAT = st.floats(min_value=18.0, max_value=53.5, allow_nan=False)


def _metres(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    _, _, dist = GEOD.inv(lon1, lat1, lon2, lat2)
    return np.asarray(dist)


def test_published_reference_values() -> None:
    # values published with the widely used coordtransform implementations
    lon, lat = crs.wgs84_to_gcj02(116.404, 39.915)
    assert lon == pytest.approx(116.41024449916938, abs=1e-9)
    assert lat == pytest.approx(39.91640428150164, abs=1e-9)
    lon, lat = crs.gcj02_to_bd09(116.404, 39.915)
    assert lon == pytest.approx(116.41036949371029, abs=1e-9)
    assert lat == pytest.approx(39.92133699351022, abs=1e-9)


def test_offset_is_hundreds_of_metres_in_china() -> None:
    lon, lat = crs.wgs84_to_gcj02(118.78, 32.04)
    assert 200 < _metres(np.array(118.78), np.array(32.04), lon, lat) < 900
    blon, blat = crs.wgs84_to_bd09(118.78, 32.04)
    assert _metres(lon, lat, blon, blat) > 500


def test_outside_china_unchanged() -> None:
    lon, lat = crs.wgs84_to_gcj02(np.array([24.94, -74.0]), np.array([60.17, 40.7]))
    np.testing.assert_array_equal(lon, [24.94, -74.0])
    np.testing.assert_array_equal(lat, [60.17, 40.7])


@settings(max_examples=300, deadline=None)
@given(lon=LON, lat=LAT)
def test_gcj02_round_trip_under_half_a_metre(lon: float, lat: float) -> None:
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    wlon, wlat = crs.gcj02_to_wgs84(glon, glat)
    assert _metres(np.array(lon), np.array(lat), wlon, wlat) < 0.5
    # and the other way round: a GCJ-02 point read and shown again
    wlon, wlat = crs.gcj02_to_wgs84(lon, lat)
    glon, glat = crs.wgs84_to_gcj02(wlon, wlat)
    assert _metres(np.array(lon), np.array(lat), glon, glat) < 0.5


@settings(max_examples=300, deadline=None)
@given(lon=LON, lat=LAT)
def test_bd09_round_trip_under_half_a_metre(lon: float, lat: float) -> None:
    blon, blat = crs.wgs84_to_bd09(lon, lat)
    wlon, wlat = crs.bd09_to_wgs84(blon, blat)
    assert _metres(np.array(lon), np.array(lat), wlon, wlat) < 0.5
    wlon, wlat = crs.bd09_to_wgs84(lon, lat)
    blon, blat = crs.wgs84_to_bd09(wlon, wlat)
    assert _metres(np.array(lon), np.array(lat), blon, blat) < 0.5


def test_vectorised_million_points_agree_with_scalar() -> None:
    rng = np.random.default_rng(0)
    lon = rng.uniform(73.5, 135.0, 1000)
    lat = rng.uniform(18.0, 53.5, 1000)
    vlon, vlat = crs.bd09_to_wgs84(lon, lat)
    for i in range(0, 1000, 97):
        slon, slat = crs.bd09_to_wgs84(lon[i], lat[i])
        assert vlon[i] == pytest.approx(float(slon), abs=1e-10)
        assert vlat[i] == pytest.approx(float(slat), abs=1e-10)


@pytest.mark.parametrize(
    ("name", "forward"),
    [
        ("gcj02", crs.wgs84_to_gcj02),
        ("bd09", crs.wgs84_to_bd09),
        ("wgs84", None),
        ("cgcs2000", None),
    ],
)
def test_to_wgs84_by_name(name: str, forward: object) -> None:
    lon, lat = np.array([118.78]), np.array([32.04])
    src = forward(lon, lat) if callable(forward) else (lon, lat)
    back = crs.to_wgs84(*src, name)
    assert _metres(lon, lat, *back)[0] < 0.01


def test_unknown_names_refused() -> None:
    with pytest.raises(ValueError, match="unknown"):
        crs.to_wgs84(1.0, 2.0, "mars")
    with pytest.raises(ValueError, match="unknown CRS"):
        crs.parse_crs("EPSG:999999")
    assert crs.parse_crs("GCJ-02") == "gcj02"
    assert crs.parse_crs("cgcs2000").to_epsg() == 4490


@pytest.mark.parametrize(
    ("lon", "lat", "epsg"),
    [(118.78, 32.04, 32650), (121.47, 31.23, 32651), (87.6, 43.8, 32645), (24.94, 60.17, 32635)],
)
def test_local_metric_crs_is_the_utm_zone(lon: float, lat: float, epsg: int) -> None:
    assert crs.local_metric_crs(lon, lat).to_epsg() == epsg


def test_to_wgs84_takes_names_in_any_spelling() -> None:
    lon, lat = 118.78, 32.04
    for name in ("wgs84", "WGS84", "EPSG:4326", "epsg:4490", "CGCS2000"):
        assert crs.to_wgs84(lon, lat, name) == (lon, lat)
    want = crs.gcj02_to_wgs84(lon, lat)
    for name in ("gcj02", "GCJ-02", "gcj_02"):
        assert crs.to_wgs84(lon, lat, name) == want
    assert crs.to_wgs84(lon, lat, "BD09") == crs.bd09_to_wgs84(lon, lat)
    with pytest.raises(ValueError, match="unknown coordinate system"):
        crs.to_wgs84(lon, lat, "EPSG:3857")
