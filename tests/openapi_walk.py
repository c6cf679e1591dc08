"""Walking the service's own OpenAPI document, for table-driven tests that must
cover every operation, present and future, without naming them."""
import re

from flask_smorest.spec.plugins import FlaskPlugin

from app.auth.guards import declared_roles


def operations(spec, wanted):
    """(METHOD, path) of every operation in ``spec`` for which ``wanted(operation)`` holds."""
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and wanted(operation):
                yield method.upper(), path


def concrete(path):
    """A callable URL for a templated path: ids become 1, a resource type becomes beds."""
    return re.sub(r"\{[^}]+\}", lambda m: "beds" if "resource_type" in m.group(0) else "1", path)


def guarded_operations(app):
    """{(METHOD, documented path): the roles its guard declares} for every guarded
    operation of ``app`` (empty roles: any signed-in user), read from the real routes."""
    guarded = {}
    for rule in app.url_map.iter_rules():
        for method in rule.methods:
            roles = declared_roles(app.view_functions[rule.endpoint], method)
            if roles is not None:
                guarded[(method, FlaskPlugin.flaskpath2openapi(rule.rule))] = roles
    return guarded
