"""Role checks as reusable view decorators.

Put them directly under the ``@blp.response``/``@blp.arguments`` decorators:
unauthenticated callers get 401, callers whose role is not listed get 403.
Whether a caller may touch a particular hospital or booking is the service's
job (it answers 404, so other people's objects are never confirmed to exist).
"""
from functools import wraps

from flask_login import current_user

from app.errors import Forbidden, Unauthorized

ROLES = ("user", "hospital-authority", "admin")


def login_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            raise Unauthorized("Authentication required.")
        return view(*args, **kwargs)

    _document_security(wrapper)
    return wrapper


def roles_required(*roles):
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                raise Unauthorized("Authentication required.")
            if current_user.role not in roles:
                raise Forbidden(f"This action needs the role: {' or '.join(roles)}.")
            return view(*args, **kwargs)

        _document_security(wrapper)
        return wrapper

    return decorator


def _document_security(view):
    """Mark the operation as needing the bearer token in the OpenAPI document."""
    apidoc = view.__dict__.setdefault("_apidoc", {})
    apidoc.setdefault("manual_doc", {})["security"] = [{"bearerAuth": []}]


def get_current_user():
    """The CurrentUser, or None for anonymous callers."""
    return current_user if current_user.is_authenticated else None
