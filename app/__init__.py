"""RapidCare: hospital resource booking and payments."""
from flask import Flask


def create_app(config=None):
    """Build the app. ``config`` overrides defaults and RAPIDCARE_* environment variables."""
    from app import cli, db, errors, logging_setup
    from app.auth import guards, session
    from app.config import load_config
    from app.extensions import api
    from app.extensions.json import JsonRequest, OrjsonProvider

    app = Flask(__name__)
    app.request_class = JsonRequest
    app.json = OrjsonProvider(app)
    load_config(app, config)
    db.init_app(app)
    errors.init_app(app)
    logging_setup.init_app(app)
    session.init_app(app)
    guards.init_app(app)  # after the CSRF check, before any view parses its body
    api.init_app(app)
    cli.init_app(app)
    return app
