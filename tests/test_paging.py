"""page_total: the page tells the total when it is the last one; otherwise count()."""
import pytest

from app.paging import page_total

pytestmark = pytest.mark.no_database


def _never():
    raise AssertionError("counted although the page tells the total")


@pytest.mark.parametrize("rows, limit, offset, expected", [
    ([], 20, 0, 0),  # nothing at all
    ([1, 2, 3], 20, 0, 3),  # a short first page
    ([1, 2], 20, 40, 42),  # a short later page: the last one
    ([1], 1_000, 999_999_000, 999_999_001),
])
def test_a_short_page_is_the_last_one(rows, limit, offset, expected):
    assert page_total(rows, limit, offset, _never) == expected


@pytest.mark.parametrize("rows, limit, offset", [
    ([1, 2], 2, 0),  # a full page: more may follow
    ([1, 2], 2, 6),
    ([], 20, 40),  # past the end: the total is still wanted
])
def test_otherwise_it_counts(rows, limit, offset):
    assert page_total(rows, limit, offset, lambda: 57) == 57
