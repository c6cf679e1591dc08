"""Swagger UI served by the service itself, so /docs works on a host without internet access.

flask-smorest renders /docs from its own template, which loads
``swagger-ui-bundle.js``, ``swagger-ui-standalone-preset.js`` and ``swagger-ui.css``
from OPENAPI_SWAGGER_UI_URL. By default that URL is ``ASSETS_URL`` below, a route of
this app that serves those files from the ``dist/`` folder of the flask-swagger-ui
package, pinned in pyproject.toml: the page works offline and is always the version
tests/browser/test_docs_offline.py rendered. (Only the package's files are used, not
its blueprint: flask-smorest's page stays the one page.) Before this, the URL was an
unpinned CDN address: offline the page was blank ("SwaggerUIBundle is not defined").

An operator may still point OPENAPI_SWAGGER_UI_URL elsewhere; the route stays.
"""
from pathlib import Path

import flask_swagger_ui
from flask import send_from_directory

ASSETS_DIR = Path(flask_swagger_ui.__file__).resolve().parent / "dist"
ASSETS_URL = "/docs/swagger-ui/"


def swagger_ui_version():
    """The Swagger UI version of the served files (the package's dist/VERSION, e.g. v5.34.0)."""
    return (ASSETS_DIR / "VERSION").read_text(encoding="utf-8").strip()


def serve_asset(filename):
    # send_from_directory refuses paths that leave ASSETS_DIR and answers 404 for
    # files that do not exist.
    return send_from_directory(ASSETS_DIR, filename)


def init_app(app):
    app.add_url_rule(f"{ASSETS_URL}<path:filename>", endpoint="swagger_ui_asset",
                     view_func=serve_asset, methods=["GET"])
