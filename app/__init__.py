"""RapidCare: hospital resource booking and payments."""
import importlib

# Every domain's blueprint, registered in this order. A new domain adds one line.
BLUEPRINT_MODULES = [
    "app.ops.routes",
    "app.auth.routes",
    "app.blood.routes",
    "app.bookings.routes",
    "app.hospitals.routes",
    "app.resources.routes",
    "app.pricing.routes",
    "app.admin.routes",
    "app.payments.routes",
    "app.wallet.routes",
    "app.reconciliation.routes",
]


def create_app(config=None):
    """Build the app. ``config`` overrides defaults and RAPIDCARE_* environment variables."""
    from app import cli, console, db, errors, files, logging_setup
    from app.auth import guards, session
    from app.config import load_config
    from app.db.retry import RetryingFlask
    from app.extensions import api, swagger_ui
    from app.extensions.json import JsonRequest, OrjsonProvider

    files.owner_only_umask()  # the database, its WAL, mail files: owner-only (app/files.py)
    app = RetryingFlask(__name__)
    app.request_class = JsonRequest
    app.json = OrjsonProvider(app)
    load_config(app, config)
    db.init_app(app)
    errors.init_app(app)
    logging_setup.init_app(app)
    session.init_app(app)
    guards.init_app(app)  # after the CSRF check, before any view parses its body
    swagger_ui.init_app(app)  # /docs' scripts, from this service (offline hosts)
    smorest_api = api.init_app(app)
    for module_name in BLUEPRINT_MODULES:
        smorest_api.register_blueprint(importlib.import_module(module_name).blp)
    console.init_app(app)  # the staff console's pages (plain Flask, not in the OpenAPI document)
    cli.init_app(app)
    return app
