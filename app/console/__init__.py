"""The staff console: server-rendered pages under /console for hospital staff and admins.

Pages call the same services as the HTTP API (never the API over HTTP), with the
API's cookie session (app/auth/session.py) and its CSRF token, carried in a hidden
form field. Every action is a plain HTML form: POST, then a redirect to a page
(post/redirect/get), so the console works without JavaScript; static/console.js
only refreshes the triage queue and asks before a decline. Patients keep the API.

Modules, one job each:
- csrf.py: the form token check;      - responses.py: security headers, error pages;
- access.py: who may open which page;  - forms.py: form fields through the API's schemas;
- chart.py: the occupancy chart's SVG geometry;
- idempotency.py: a wallet adjustment runs once per form;
- auth_views.py, staff_views.py, admin_views.py: the pages.
"""
from flask import Blueprint

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")


def init_app(app):
    # The view modules attach their routes to ``bp`` when first imported.
    from app.console import admin_views, auth_views, csrf, responses, staff_views, templating  # noqa: F401

    responses.init_app(app)
    app.register_blueprint(bp)
