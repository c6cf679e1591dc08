"""Hospital resources: beds, ICU and operation theatres, counted per hospital and type."""
from app.vocabulary import RESOURCE_TYPES

# URL converter for a resource type in a path: anything else is a 404 (no such
# resource), and the OpenAPI document lists the three values as an enum.
RESOURCE_TYPE_CONVERTER = "any(" + ", ".join(RESOURCE_TYPES) + ")"

# ORDER BY expression listing rows in RESOURCE_TYPES' order.
TYPE_ORDER_SQL = "CASE resource_type WHEN 'beds' THEN 0 WHEN 'icu' THEN 1 ELSE 2 END"
