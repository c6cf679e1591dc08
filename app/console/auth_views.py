"""Signing in and out of the console. Patients are refused with a clear message:
their apps use the HTTP API."""
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, logout_user

from app.auth import service as auth_service
from app.auth.schemas import LoginSchema
from app.auth.session import start_cookie_session
from app.console import bp, forms
from app.console.access import CONSOLE_ROLES, home_endpoint
from app.db import get_db
from app.errors import Forbidden, TooManyRequests, Unauthorized
from app.timeutil import utcnow

PATIENT_REFUSED = (
    "This console is for hospital staff and administrators. Patient accounts cannot "
    "sign in here: please use the RapidCare app to book and follow your bookings."
)


@bp.get("/")
def home():
    if not current_user.is_authenticated:
        return redirect(url_for("console.sign_in"))
    if current_user.role not in CONSOLE_ROLES:
        raise Forbidden(PATIENT_REFUSED)
    return redirect(url_for(home_endpoint(current_user.role)))


def _sign_in_page(message=None, status=200, email=""):
    return render_template("console/sign_in.html", message=message, email=email), status


@bp.get("/sign-in")
def sign_in():
    if current_user.is_authenticated and current_user.role in CONSOLE_ROLES:
        return redirect(url_for(home_endpoint(current_user.role)))
    return _sign_in_page()


@bp.post("/sign-in")
def sign_in_submit():
    email = (request.form.get("email") or "").strip()
    try:
        credentials = forms.load(LoginSchema(), request.form, texts=("email", "password"))
    except forms.FormError as error:
        return _sign_in_page(error.message, 422, email)
    try:
        login = auth_service.login(
            get_db(), email=credentials["email"], password=credentials["password"],
            ip_address=request.remote_addr, now=utcnow(), config=current_app.config,
            roles=CONSOLE_ROLES,
        )
    except Forbidden:
        return _sign_in_page(PATIENT_REFUSED, 403, email)
    except Unauthorized as error:
        return _sign_in_page(error.message, 401, email)
    except TooManyRequests as error:
        page, status = _sign_in_page(error.message, 429, email)
        return page, status, error.headers
    start_cookie_session(login.session_id)
    return redirect(url_for(home_endpoint(login.user["role"])))


@bp.post("/sign-out")
def sign_out():
    if current_user.is_authenticated and current_user.session_id is not None:
        auth_service.logout(get_db(), session_id=current_user.session_id, now=utcnow())
    logout_user()
    flash("You are signed out.", "ok")
    return redirect(url_for("console.sign_in"))
