"""The occupancy chart's geometry (app/console/chart.py)."""
from datetime import date, timedelta

import pytest

from app.console import chart

pytestmark = pytest.mark.no_database

DAYS = [date(2026, 3, 1) + timedelta(days=n) for n in range(4)]


def test_bars_scale_to_the_largest_value_and_skip_days_without_data():
    drawn = chart.occupancy_chart(DAYS, [None, {"peak": 5, "total": 10},
                                         {"peak": 10, "total": 10}, {"peak": 0, "total": 8}])
    assert len(drawn["bars"]) == 3
    bottom = chart.TOP + chart.PLOT_HEIGHT
    half, full, empty = drawn["bars"]
    assert full["y"] + full["height"] == bottom == empty["y"] + empty["height"]
    assert half["height"] == chart.PLOT_HEIGHT / 2
    assert full["height"] == chart.PLOT_HEIGHT  # 10 of a top value of 10
    assert empty["height"] == 0
    assert half["label"] == "02 Mar: at most 5 of 10 occupied"
    assert [tick["label"] for tick in drawn["y_ticks"]] == [0, 5, 10]
    assert drawn["total_path"].startswith("M")
    assert [row["point"] for row in drawn["rows"]][0] is None


def test_a_series_without_data_draws_nothing():
    drawn = chart.occupancy_chart(DAYS, [None] * 4)
    assert drawn["bars"] == [] and drawn["total_path"] == ""
