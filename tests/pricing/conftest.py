from tests.hospitals.helpers import world  # noqa: F401  (fixture)
