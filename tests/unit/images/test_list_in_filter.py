"""GET /v2/images?id=in:a,b and name=in:… (Glance's in: operator), as `openstack server list` asks."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from werkzeug.datastructures import MultiDict

from images.listing import MAX_IN_VALUES, parse_list_query
from tests.unit.images.conftest import PROJECT_B
from tests.unit.images.test_images_api import assert_error, create, upload

MISSING = "0f0f0f0f-0000-4000-8000-000000000000"


@pytest.fixture
def env(master, signer):
    app, _conf, _store = master()
    client = app.test_client()
    headers = signer.headers()
    made = [create(client, headers, name=name) for name in ("img-0", "img-1", "img,2", "img-3", "img-4")]
    return client, signer, headers, made


def listed(client, headers, query):
    response = client.get(f"/v2/images?{query}", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def names(client, headers, query):
    return [i["name"] for i in listed(client, headers, query)["images"]]


def test_id_equality_and_in_list(env):
    client, _, headers, made = env
    assert names(client, headers, f"id={made[1]['id']}") == ["img-1"]
    ids = ",".join(made[i]["id"] for i in (0, 3))
    # Newest first, the default order; an unknown id and a non-UUID simply match nothing.
    assert names(client, headers, f"id=in:{ids},{MISSING},nope") == ["img-3", "img-0"]
    assert names(client, headers, f"id=in:{made[4]['id'].upper()}") == ["img-4"]
    assert names(client, headers, "id=in:") == []


def test_in_list_keeps_visibility_and_other_filters(env):
    client, signer, headers, made = env
    other = signer.headers(project_id=PROJECT_B)
    private = create(client, other, name="theirs", visibility="private")
    ids = ",".join([made[0]["id"], made[1]["id"], private["id"]])
    assert names(client, headers, f"id=in:{ids}") == ["img-1", "img-0"]
    assert names(client, other, f"id=in:{ids}") == ["theirs"]
    upload(client, made[1]["id"], b"data", headers)
    assert names(client, headers, f"id=in:{ids}&status=active") == ["img-1"]
    assert names(client, headers, f"id=in:{ids}&status=in:queued,killed") == ["img-0"]
    assert names(client, headers, f"id=in:{ids}&name=in:img-1,img-3") == ["img-1"]


def test_name_in_list_with_quotes(env):
    client, _, headers, _ = env
    assert names(client, headers, 'name=in:"img,2",img-4&sort_key=name&sort_dir=asc') == ["img,2", "img-4"]
    assert names(client, headers, "name=in:img-0,img-0,unknown") == ["img-0"]


@pytest.mark.parametrize("sort", ["", "&sort_key=name&sort_dir=asc", "&sort=name:desc"])
def test_in_list_pages_without_repeats_or_gaps(env, sort):
    client, _, headers, made = env
    ids = ",".join(i["id"] for i in made)
    expected = names(client, headers, f"limit=10{sort}")
    seen, url, pages = [], f"/v2/images?id=in:{ids}&limit=2{sort}", 0
    while url:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        seen.extend(i["name"] for i in body["images"])
        url = body.get("next")
        pages += 1
        assert pages < 10
    assert pages == 3 and seen == expected


@pytest.mark.parametrize("query", ["visibility=in:public,private", "status=in:active,weird",
                                   "id=in:" + ",".join(["x"] * (MAX_IN_VALUES + 1)),
                                   f"id=in:a,b&marker={MISSING}", 'name=in:"open'])
def test_bad_in_lists_are_400(env, query):
    client, _, headers, _ = env
    assert_error(client.get(f"/v2/images?{query}", headers=headers), 400)


def test_parse_splits_equality_and_in_filters():
    parsed = parse_list_query(MultiDict([("name", "in:a,b"), ("status", "active"), ("os_distro", "in:x")]))
    assert parsed.any_of == {"name": ["a", "b"]}
    assert parsed.query.filters == {"status": "active"}
    assert parsed.query.properties == {"os_distro": "in:x"}  # a property filter is matched literally


def test_in_list_costs_one_select(env):
    client, _, headers, made = env
    engine = client.application.extensions["images"].registry.db.engine
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    ids = ",".join(i["id"] for i in made[:4])
    event.listen(engine, "before_cursor_execute", record)
    try:
        got = names(client, headers, f"id=in:{ids}&name=in:img-0,img-1,img-3,img-4&status=queued")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert got == ["img-3", "img-1", "img-0"]
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1, statements
    assert " IN " in selects[0].upper()
