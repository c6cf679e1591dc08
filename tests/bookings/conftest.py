"""The booking tests use the shared cast (``world``, tests/conftest.py) with the stock
their counts assume: 5 beds and 1 ICU unit, both priced, and priced beds at the other
hospital."""
import pytest

from tests.factories import build_world


@pytest.fixture
def world(make):
    return build_world(make, resources={"beds": 5, "icu": 1},
                       prices={"beds": 150000, "icu": 500000}, other_prices={"beds": 100000})
