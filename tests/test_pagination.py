"""Our Blueprint.paginate: DEFAULT_PAGE_SIZE when page_size is absent, capped page_size,
absurd page or page_size refused (never a 500)."""
import json

import pytest
from flask import Flask
from flask.views import MethodView

from app import errors
from app.config import ConfigError
from app.extensions.api import HARD_MAX_PAGE, Api, Blueprint, page_bounds


@pytest.fixture
def paged_client():
    app = Flask(__name__)
    app.config.update(API_TITLE="t", API_VERSION="1", OPENAPI_VERSION="3.0.3", MAX_PAGE_SIZE=5,
                      DEFAULT_PAGE_SIZE=3)
    errors.init_app(app)
    api = Api(app)
    blp = Blueprint("paged", __name__, url_prefix="/paged")

    @blp.route("")
    class Paged(MethodView):
        @blp.response(200)
        @blp.paginate()
        def get(self, pagination_parameters):
            limit, offset = page_bounds(pagination_parameters)
            pagination_parameters.item_count = 1000
            return {"limit": limit, "offset": offset}

    api.register_blueprint(blp)
    return app.test_client()


def test_page_size_is_capped_and_offset_follows(paged_client):
    r = paged_client.get("/paged?page=3&page_size=50")
    assert r.status_code == 200 and r.json == {"limit": 5, "offset": 10}
    assert json.loads(r.headers["X-Pagination"])["page"] == 3


def test_without_page_size_a_page_has_the_configured_default(paged_client):
    r = paged_client.get("/paged?page=2")
    assert r.status_code == 200 and r.json == {"limit": 3, "offset": 3}
    assert paged_client.get("/paged?page_size=4").json == {"limit": 4, "offset": 0}


def test_a_default_above_the_cap_is_capped(paged_client):
    paged_client.application.config["DEFAULT_PAGE_SIZE"] = 50
    assert paged_client.get("/paged").json == {"limit": 5, "offset": 0}


def test_openapi_states_the_configured_default(paged_client):
    api = paged_client.application.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    parameters = api.spec.to_dict()["paths"]["/paged"]["get"]["parameters"]
    page_size = next(p for p in parameters if p["name"] == "page_size")
    assert page_size["schema"]["default"] == 3


@pytest.fixture
def app_config(app_config):
    return {**app_config, "DEFAULT_PAGE_SIZE": 5}


def test_the_service_reads_default_page_size(client, make):
    for i in range(7):
        make.hospital(name=f"Hospital {i}")
    r = client.get("/api/hospitals")
    assert r.status_code == 200 and len(r.json) == 5
    assert json.loads(r.headers["X-Pagination"])["total_pages"] == 2
    assert len(client.get("/api/hospitals?page_size=7").json) == 7
    spec = client.get("/openapi.json").json
    page_size = next(p for p in spec["paths"]["/api/hospitals"]["get"]["parameters"]
                     if p["name"] == "page_size")
    assert page_size["schema"]["default"] == 5


@pytest.mark.parametrize("bad", [0, -1, "20", 2.5, True])
def test_a_bad_default_page_size_is_refused_at_start(app_config, bad):
    from app import create_app

    with pytest.raises(ConfigError, match="DEFAULT_PAGE_SIZE"):
        create_app({**app_config, "DEFAULT_PAGE_SIZE": bad})


@pytest.mark.parametrize(
    "query", [f"page={HARD_MAX_PAGE + 1}", "page=100000000000000000000000", "page=0",
              "page_size=0", "page_size=100000", "page=x"],
)
def test_absurd_pagination_is_a_422(paged_client, query):
    r = paged_client.get(f"/paged?{query}")
    assert r.status_code == 422 and r.json["code"] == 422


@pytest.mark.parametrize("page, page_size, item_count", [
    (1, 20, 0), (1, 20, 1), (1, 20, 20), (1, 20, 21), (2, 20, 21), (3, 20, 21),
    (2, 5, 100), (20, 5, 100), (21, 5, 100), (1, 1, 1), (7, 3, 19),
])
def test_pagination_metadata_matches_flask_smorest(page, page_size, item_count):
    # Blueprint reuses one metadata schema instead of building one per response; the
    # header must stay exactly what flask-smorest itself computes.
    import flask_smorest

    ours = Blueprint._make_pagination_metadata(page, page_size, item_count)
    theirs = flask_smorest.Blueprint._make_pagination_metadata(page, page_size, item_count)
    assert ours == theirs
