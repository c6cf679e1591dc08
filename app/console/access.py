"""Who may open which console page: the same roles as the API's operations.

Not signed in: to the sign-in page. Signed in with another role: a 403 page.
Which hospital's rows a page shows is the services' business (another hospital's
booking is a 404, exactly as in the API).
"""
from functools import wraps

from flask import flash, redirect, url_for
from flask_login import current_user

from app.errors import Forbidden

STAFF = "hospital-authority"
ADMIN = "admin"
CONSOLE_ROLES = (STAFF, ADMIN)


def home_endpoint(role):
    return "console.queue" if role == STAFF else "console.admin_hospitals"


def _page_for(role, description):
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                flash("Please sign in.", "error")
                return redirect(url_for("console.sign_in"))
            if current_user.role != role:
                raise Forbidden(f"This page is for {description}.")
            return view(*args, **kwargs)

        return wrapper

    return decorator


staff_page = _page_for(STAFF, "hospital staff")
admin_page = _page_for(ADMIN, "administrators")
