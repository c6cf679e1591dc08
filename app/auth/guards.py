"""Role checks as reusable view decorators.

Put them directly under the ``@blp.response``/``@blp.arguments`` decorators:
unauthenticated callers get 401, callers whose role is not listed get 403.
Whether a caller may touch a particular hospital or booking is the service's
job (it answers 404, so other people's objects are never confirmed to exist).

The decorators also declare their roles on the view (``REQUIRED_ROLES``), and
``init_app`` checks that declaration in a before_request hook. Sitting below
``@blp.arguments``, the decorators alone would run only after the body was
parsed and validated, so an anonymous caller with a bad body got a 422 with the
validation messages instead of a 401. With the hook, a protected operation
answers 401 (not logged in), then 403 (role not allowed), and only then looks
at the body (400/415/422). The decorators stay the one place that says who may
call what; their own check also holds where the hook is not installed.
"""
from flask import current_app, request
from flask_login import current_user

from app.errors import Forbidden, Unauthorized
from app.extensions.api import with_doc

ROLES = ("user", "hospital-authority", "admin")

# Attribute a guarded view carries: the roles it allows (empty: any logged-in user).
# functools.wraps copies it onto every decorator stacked above (as it does the OpenAPI doc).
REQUIRED_ROLES = "_rapidcare_required_roles"


def allows(roles, role):
    """Whether a guard declaring ``roles`` (empty: any signed-in user) admits a signed-in
    caller of ``role``."""
    return not roles or role in roles


def check_access(roles):
    """401 for an anonymous caller; 403 when ``roles`` does not allow the caller's role."""
    if not current_user.is_authenticated:
        raise Unauthorized("Authentication required.")
    if not allows(roles, current_user.role):
        raise Forbidden(f"This action needs the role: {' or '.join(roles)}.")


def login_required(view):
    return _guard(view, ())


def roles_required(*roles):
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")
    return lambda view: _guard(view, tuple(roles))


def _guard(view, roles):
    def wrapper(*args, **kwargs):
        check_access(roles)
        return view(*args, **kwargs)

    # The OpenAPI operation needs the bearer token.
    wrapper = with_doc(view, wrapper, security=[{"bearerAuth": []}])
    setattr(wrapper, REQUIRED_ROLES, roles)
    return wrapper


def declared_roles(view_function, method):
    """The roles a guard declared on the view serving ``method``, or None if unguarded."""
    view_class = getattr(view_function, "view_class", None)
    if view_class is not None:  # a MethodView: each HTTP method has its own function
        handler = getattr(view_class, method.lower(), None)
        if handler is None and method == "HEAD":
            handler = getattr(view_class, "get", None)
        view_function = handler
    return getattr(view_function, REQUIRED_ROLES, None)


def check_access_before_parsing():
    """before_request: a guarded operation's access check, before its body is read."""
    req = request._get_current_object()  # once: each use of the proxy looks it up again
    if req.url_rule is None:
        return  # no route: the 404/405 answers
    roles = declared_roles(current_app.view_functions.get(req.endpoint), req.method)
    if roles is not None:
        check_access(roles)


def get_current_user():
    """The CurrentUser, or None for anonymous callers."""
    return current_user if current_user.is_authenticated else None


def init_app(app):
    app.before_request(check_access_before_parsing)
