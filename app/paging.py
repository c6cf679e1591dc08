"""The total of a paginated list, without counting when the page already tells it."""


def page_total(rows, limit, offset, count):
    """How many items the whole list has, for a page of ``rows`` read at ``limit``/``offset``.

    A page with fewer than ``limit`` rows is the last one, so the total is ``offset`` +
    its rows: ``count()`` (a second query, SELECT count(*) ...) runs only for a full page,
    or for an empty page past the first (past the end: the total is still wanted).
    Most reads ask for a short list (one user's bookings, a search for a town): this
    saves them that query (RESULTS.md §0d). Read from the page, the total can never
    disagree with it, as a separate count can when a write lands between the two."""
    if len(rows) < limit and (rows or offset == 0):
        return offset + len(rows)
    return count()
