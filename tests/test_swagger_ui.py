"""/docs loads Swagger UI from this service (app/extensions/swagger_ui.py), never from
elsewhere; tests/browser/test_docs_offline.py renders it in Chromium, offline."""
import re

import pytest

from app.config import DEFAULTS
from app.extensions import swagger_ui


def test_the_default_url_is_the_route_of_the_served_files():
    assert DEFAULTS["OPENAPI_SWAGGER_UI_URL"] == swagger_ui.ASSETS_URL


def test_docs_page_refers_only_to_files_this_service_serves(client):
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "a script or style from elsewhere"
    references = re.findall(r"(?:src|href)=\"([^\"]+)\"", html)
    assert sorted(references) == [
        "/docs/swagger-ui/swagger-ui-bundle.js",
        "/docs/swagger-ui/swagger-ui-standalone-preset.js",
        "/docs/swagger-ui/swagger-ui.css",
    ]
    for url in references:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.data) > 10_000, url
    assert client.get("/docs/swagger-ui/swagger-ui-bundle.js").mimetype in (
        "text/javascript", "application/javascript")
    assert client.get("/docs/swagger-ui/swagger-ui.css").mimetype == "text/css"


def test_the_served_version_is_the_pinned_one(client):
    # pyproject.toml pins flask-swagger-ui==5.34.0, which ships Swagger UI v5.34.0.
    assert swagger_ui.swagger_ui_version() == "v5.34.0"
    bundle = client.get("/docs/swagger-ui/swagger-ui-bundle.js").get_data(as_text=True)
    assert "SwaggerUIBundle" in bundle


@pytest.mark.parametrize("path", [
    "/docs/swagger-ui/no-such-file.js",
    "/docs/swagger-ui/../../app/config.py",
    "/docs/swagger-ui/%2e%2e/%2e%2e/app/config.py",
    "/docs/swagger-ui/..%2f..%2fapp%2fconfig.py",
    "/docs/swagger-ui//etc/passwd",
])
def test_other_paths_are_404(client, path):
    response = client.get(path, follow_redirects=True)  # werkzeug merges double slashes (308)
    assert response.status_code == 404
    assert b"DEFAULTS" not in response.data and b"root:" not in response.data
