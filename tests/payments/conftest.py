"""Payments fixtures: a threaded stand-in SSLCommerz per session, reset per test, wired into
the app's configuration."""
import pytest
from pytest_httpserver import HTTPServer

from tests.payments.fake_gateway import FakeSslcommerz


@pytest.fixture(scope="session")
def gateway_server():
    # Threaded: a deliberately slow answer must not hold up the next request.
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def gateway(gateway_server):
    gateway_server.clear()
    return FakeSslcommerz(gateway_server)


@pytest.fixture
def app_config(app_config, gateway):
    return {**app_config, **gateway.config()}
