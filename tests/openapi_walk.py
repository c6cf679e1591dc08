"""Walking the service's own OpenAPI document, for table-driven tests that must
cover every operation, present and future, without naming them."""
import re


def operations(spec, wanted):
    """(METHOD, path) of every operation in ``spec`` for which ``wanted(operation)`` holds."""
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and wanted(operation):
                yield method.upper(), path


def concrete(path):
    """A callable URL for a templated path: ids become 1, a resource type becomes beds."""
    return re.sub(r"\{[^}]+\}", lambda m: "beds" if "resource_type" in m.group(0) else "1", path)
