"""Every place this service departs from stock Flask, flask-smorest, webargs, marshmallow,
apispec and flask-login: what changes, why, the measured reason, and the private hook
each one relies on. tests/test_extension_hooks.py fails, naming the deviation, when an
upgrade renames or drops one of those hooks.

Figures: benchmarks/RESULTS.md §5 and "Second performance pass" (CPU per request, in
process, 100k bookings) and the commit that made each change.

api.py (flask-smorest Api and Blueprint, webargs parser, apispec converter, werkzeug)
  1. Argument parser reuses one Schema instance per class. Stock webargs builds the
     Schema of ``@blp.arguments(SomeSchema)`` and of the pagination parameters on
     every request (~0.05 ms each, two per paginated read; commit 1f57d3d, RESULTS.md:
     webargs' per-request Schema was part of the read-path cost). A marshmallow 4
     Schema holds no per-load state. Hook: ``webargs FlaskParser._get_schema``.
  2. JSON bodies go through ``request.get_json`` (the one strict parser in json.py), a
     body in another content type is a 415 and not "every field missing". Not a
     speed-up: strictness (issue #12). Hook: ``webargs FlaskParser._raw_load_json``.
  3. ``Blueprint.arguments`` enforces ``required`` for JSON bodies (flask-smorest only
     documents it): a missing body is a 422. Public method, extended.
  4. One ``PaginationMetadataSchema`` for every paginated response; flask-smorest builds
     one per response, field deep-copies included: 8 % of a my-bookings request
     (commit c84d1b0; with the login rows below: my-bookings -16 %, search -9 % CPU).
     The metadata is computed as flask-smorest computes it (tests/test_pagination.py).
     Hook: ``flask_smorest.Blueprint._make_pagination_metadata`` (a static method
     flask-smorest calls from ``_set_pagination_metadata``).
  5. ``Blueprint.paginate``: the default page size is read from DEFAULT_PAGE_SIZE when a
     request has no ``page_size`` (``ConfigDefault``: flask-smorest fixes it when the
     view is decorated, at import, before any config), a ``page_size`` above
     MAX_PAGE_SIZE is capped, ``page`` is bounded by HARD_MAX_PAGE (a larger OFFSET
     overflows SQLite: a 500). Hooks: the parameter schema flask-smorest keeps in the
     view's ``_apidoc["pagination"]["parameters"]["schema"]`` and its ``page`` field
     (``_declared_fields``); ``paginate(page_size=...)`` becoming the field's
     ``load_default``.
  6. ``Api._init_spec``: apispec's converter also writes what a schema enforces beyond
     its fields (``at_least_one_of``) and a ``ConfigDefault``'s configured value into
     the OpenAPI document. Hooks: ``flask_smorest.Api._init_spec`` (its
     ``marshmallow_plugin`` keyword), ``Api._app``, ``Api.ma_plugin``.
  7. ``Api._register_error_handlers`` does nothing: every error body comes from
     app/errors.py. Hook: ``flask_smorest.Api._register_error_handlers``.
  8. ``Api._register_pagination_header`` documents X-Pagination as JSON ``content``;
     flask-smorest's bare ``schema`` means OpenAPI's "simple" style, which every real
     header contradicted (found by fuzzing). Hook: that method.
  9. ``<int:...>`` path converter bounded to SQLite's INTEGER range (a larger id was an
     OverflowError, a 500; now no route matches: 404). werkzeug's public converter API.
  ``with_doc`` lets decorators without a blueprint (guards, idempotency, metrics) use
  flask-smorest's ``Blueprint.doc`` (a staticmethod) without its extra wrapper call
  (~2 us per request, measured). Hook: ``Blueprint.doc`` staying a staticmethod.

json.py (Flask's JSON provider and request class)
  10. Responses encoded with orjson: the standard library's encoder was 12-14 % of a
      hospital search; search -17 % CPU (commit bf7eb76). Dates and dataclasses still go
      through Flask's own ``default``; what orjson refuses (ints beyond 64 bits) falls
      back to the standard encoder; non-ASCII is UTF-8 rather than ``\\uXXXX``.
      Hooks: ``DefaultJSONProvider._prepare_response_obj`` and ``JSONProvider._app``.
  11. Request bodies parsed strictly in one place (depth 100, no lone surrogates, no
      over-long numbers, no NaN) with the reason in a 400 (issue #12, not a speed-up).
      Public hook: ``Request.on_json_loading_failed``.

dumping.py (marshmallow)
  12. ``ResponseSchema`` dumps plain fields of dict rows (Str, Int, lists of Str, lists
      of hook-free nested ResponseSchemas, fields with ``plain_dump`` such as Money)
      directly; everything else goes through marshmallow unchanged. marshmallow's
      per-field path was 35-40 % of a hospital search and ~30 % of a my-bookings page:
      search 1.49-1.91 -> 0.89-1.15 ms, my-bookings 0.89-1.26 -> 0.64-0.76 ms (commits
      51695fd, 58b7678); exact-type copy and Money ``plain_dump``: page dump -11 %,
      my-bookings at 1M -6 % (9ce8bec, d8c8746). Output identical: tests/test_dumping.py
      (a property test against marshmallow, nested schemas included). Hooks:
      ``marshmallow.Schema._serialize`` (overridden; ``dump`` calls it), ``Schema._hooks``
      (read for nested schemas), ``marshmallow.utils.ensure_text_type``.

login.py (flask-login, Flask sessions)
  13. Bearer-token requests (no session cookie) skip flask-login's session-protection
      hash of address and user agent, computed and then ignored for an empty session.
      Hook: ``flask_login.LoginManager._session_protection_failed``.
  14. ...and skip building the itsdangerous cookie signer, which Flask builds before it
      looks for the cookie. Public ``open_session`` and ``get_cookie_name``.
      13 and 14 together: ~4 % of a small request (RESULTS.md §5; commit 50d0a68's
      profile put the signer alone at ~5 %).

swagger_ui.py (flask-smorest's Swagger UI page)
  15. The page's scripts and styles come from this service (a route serving the pinned
      flask-swagger-ui package's files), not from a CDN: /docs works offline (issue #19).
      Public settings only: ``OPENAPI_SWAGGER_UI_URL`` points at that route.

Outside this package, two per-request costs cut without any library's private hook
(RESULTS.md §0d, issue #13 item 9):
  - app/logging_setup.py: the request line goes straight to the service's own
    BufferedStreamHandler when nothing else would see the record (``_sole_handler``:
    no other handler, no filter, the stock record factory, found with the loggers'
    public attributes); otherwise through ``Logger.info`` as before. About 15 µs per
    request: no LogRecord, no stack walk for the caller's frame.
  - app/ops/metrics.py: the labelled counter and histogram of each (method, route,
    status) are kept instead of found again through ``labels()`` on every request.
"""
