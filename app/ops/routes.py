"""Health and monitoring endpoints: /api/health, /api/health/detailed,
/api/monitoring/migrations and /metrics (outside /api, where scrapers look)."""
from flask import current_app, make_response
from flask.views import MethodView

from app.auth.guards import roles_required
from app.db import DatabaseError, act_as_system, get_db
from app.errors import ServiceUnavailable
from app.extensions.api import Blueprint
from app.ops import metrics, schemas, service
from app.timeutil import utcnow

blp = Blueprint("ops", __name__, url_prefix="", description="Health and monitoring")
blp.record_once(lambda state: metrics.init_app(state.app))
blp.after_app_request(metrics.record_request)


@blp.route("/api/health")
class Health(MethodView):
    @blp.response(200, schemas.HealthSchema)
    @blp.alt_response(503, description="The database is unreachable")
    def get(self):
        """Liveness and database reachability (cheap; public)"""
        try:
            get_db().execute("SELECT 1").fetchone()
        except DatabaseError as error:
            raise ServiceUnavailable(
                "Database unreachable.", extra={"database": "unreachable"}
            ) from error
        return {"status": "ok", "database": "ok"}


@blp.route("/api/health/detailed")
class DetailedHealth(MethodView):
    @blp.response(200, schemas.DetailedHealthSchema)
    @roles_required("admin")
    def get(self):
        """Database, backup, job and migration health (admin)

        Runs PRAGMA quick_check, so it costs a pass over the database, and the
        capacity and money invariants (a warning names each broken one).
        """
        return service.detailed_health(get_db(), current_app.config, now=utcnow())


@blp.route("/api/monitoring/migrations")
class Migrations(MethodView):
    @blp.response(200, schemas.MigrationStatusSchema)
    @roles_required("admin")
    def get(self):
        """Applied and pending migrations with their execution times (admin)"""
        return service.migration_status(get_db(), current_app.config)


@blp.route("/metrics")
class Metrics(MethodView):
    @blp.doc(responses={"200": {
        "description": "Prometheus text exposition format",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }})
    @blp.alt_response(401, description="Not an admin, and not a local scrape")
    @blp.alt_response(403, description="Logged in, but not an admin")
    @metrics.local_scrape_or_admin
    def get(self):
        """Prometheus metrics (admin, or a scrape from 127.0.0.1 when METRICS_ALLOW_LOCAL)

        A local scrape is a request from 127.0.0.1 or ::1 without an
        X-Forwarded-For, Forwarded or X-Real-IP header. Request metrics are summed
        over every gunicorn worker since the service started:
        `rapidcare_http_requests_total` and
        `rapidcare_http_request_duration_seconds`, labelled `method`, `endpoint`
        (the route pattern, e.g. `/api/bookings/<int:booking_id>`; `unmatched`
        for a path no route has) and `status`. Read from the database at scrape
        time: `rapidcare_database_size_bytes{file="main"|"wal"}`,
        `rapidcare_bookings{status}`, `rapidcare_backup_last_timestamp_seconds`
        and `rapidcare_backup_last_age_seconds` (once a backup exists),
        `rapidcare_job_last_success_timestamp_seconds{job}`; the mail outbox:
        `rapidcare_mail_messages{status="pending"|"sending"|"sent"|"failed"}`,
        `rapidcare_mail_failed_last_24h`, `rapidcare_mail_oldest_unsent_age_seconds`.
        Statements slower than SLOW_QUERY_MS, summed over every worker:
        `rapidcare_slow_queries_total` and `rapidcare_slow_query_seconds_total`,
        labelled `query_id` (a 12-hex-digit fingerprint), `query` (the statement with
        every literal and parameter replaced by `?`) and `backend`.
        """
        # Platform-wide counts (bookings by status), also for a local scrape with no
        # user: the database's row-level security must not confine them to one caller.
        act_as_system()
        body, content_type = service.metrics_text(get_db(), current_app.config, now=utcnow())
        response = make_response(body)
        response.headers["Content-Type"] = content_type
        return response
