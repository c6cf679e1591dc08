"""What every response under /console gets: security headers and, for an error, a page.

Errors keep their one mapping (app/errors.py turns domain errors and the database's
refusals into a status and a message, whatever the backend); under /console that
answer is shown as an HTML page instead of the API's JSON body.
"""
from flask import make_response, render_template, request

PREFIX = "/console"

# Nothing inline and nothing from elsewhere: the console's own CSS and JS files only.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",  # console.js refreshes the queue from the same page
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# Headers of an error answer that still mean something on its page.
KEPT_HEADERS = ("Retry-After", "Allow")


def _is_console(path):
    return path == PREFIX or path.startswith(PREFIX + "/")


def _error_page(response):
    body = response.get_json(silent=True) or {}
    page = make_response(render_template(
        "console/error.html", code=response.status_code,
        status=body.get("status", ""), message=body.get("message", ""),
    ), response.status_code)
    for name in KEPT_HEADERS:
        if name in response.headers:
            page.headers[name] = response.headers[name]
    return page


def finish_console_response(response):
    if not _is_console(request.path):
        return response
    if response.status_code >= 400 and response.is_json:
        response = _error_page(response)
    response.headers.update(SECURITY_HEADERS)
    if not request.path.startswith(PREFIX + "/static/"):
        # Pages show patient data: no copy in a shared browser's or proxy's cache.
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app):
    app.after_request(finish_console_response)
