"""One real gunicorn service (4 sync workers) per stress module, on a temporary database."""
import pytest

from tests.live_server import LiveServer


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with LiveServer(tmp_path_factory.mktemp("stress"), workers=4) as server:
        yield server
