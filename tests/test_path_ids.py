"""Path ids beyond SQLite's INTEGER range are an ordinary 404, never an OverflowError."""
import pytest

from app.db import get_db


@pytest.mark.own_app
def test_int_path_parameter_beyond_sqlite_range_is_404(app):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/probe/<int:n>")
    def probe(n):
        return {"n": get_db().execute("SELECT ? AS n", (n,)).fetchone()["n"]}

    client = app.test_client()
    assert client.get(f"/probe/{2**63 - 1}").json == {"n": 2**63 - 1}
    r = client.get(f"/probe/{2**63}")
    assert r.status_code == 404 and r.json["code"] == 404
    assert client.get("/probe/" + "9" * 40).status_code == 404
