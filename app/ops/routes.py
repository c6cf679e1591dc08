"""Health and monitoring endpoints."""
import sqlite3

import marshmallow as ma
from flask.views import MethodView

from app.api import Blueprint
from app.db import get_db
from app.errors import ServiceUnavailable

blp = Blueprint("ops", __name__, url_prefix="/api", description="Health and monitoring")


class HealthSchema(ma.Schema):
    status = ma.fields.Str()
    database = ma.fields.Str()


@blp.route("/health")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, description="The database is unreachable")
    def get(self):
        """Liveness and database reachability (cheap; public)"""
        try:
            get_db().execute("SELECT 1").fetchone()
        except sqlite3.Error as error:
            raise ServiceUnavailable(
                "Database unreachable.", extra={"database": "unreachable"}
            ) from error
        return {"status": "ok", "database": "ok"}
