"""The privacy promise, on every public endpoint: no phone, name, address or exact point leaks."""

import json
import re

import pytest

from connect.geo import haversine_m, round_distance_m

from conftest import BAC_GIANG, new_phone, request_payload

API = "/api/v1/requests"
PRIVATE_KEYS = {
    "contact_name",
    "phone",
    "address",
    "exact_location",
    "claimed_by",
    "lease_expires_at",
    "source",
    "manage_token",
}
# Exact points with many decimals, > 800 m apart on both axes so that no request's blurred
# point (at most 400 m off) can pass for another's exact coordinate.
EXACT_POINTS = [
    (21.2812345, 106.2034567),
    (21.2654321, 106.1812345),
    (21.2923456, 106.1723456),
    (21.2567891, 106.2167891),
]
NUMBER = re.compile(r"-?\d+\.\d+")


# -- fixtures and helpers ------------------------------------------------------------


@pytest.fixture
def post_secret(client):
    """Post a request with distinctive personal data; returns the body plus its secrets."""
    tags = iter(("Qzvk", "Wxjp", "Ybfm", "Hrtd", "Lgns", "Cvwq"))

    def post(at, **overrides):
        tag = next(tags)
        phone = new_phone()
        payload = request_payload(
            at=at,
            phone=phone,
            contact_name=f"Trịnh Thị Xuyến {tag}",
            address=f"Số 77 Ngõ {tag}, Phường Đông Sơn",
            **overrides,
        )
        response = client.post(API, json=payload)
        assert response.status_code == 201, response.get_json()
        body = response.get_json()
        body["secret"] = {
            "strings": [
                phone,
                "0" + phone[3:],
                phone[3:],
                payload["contact_name"],
                tag,
                payload["address"],
            ],
            "point": at,
        }
        return body

    return post


def manage(posted):
    return {"X-Manage-Token": posted["manage_token"]}


def walk(node):
    """Every value in a JSON document, depth first."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def assert_no_leak(response, posted_requests, context=""):
    """No phone (any form), name, address or exact point of these requests is in the body."""
    assert response.status_code < 500, (context, response.get_data(as_text=True)[:300])
    raw = response.get_data(as_text=True)
    parsed = response.get_json(silent=True)
    texts = [raw] if parsed is None else [raw, json.dumps(parsed, ensure_ascii=False)]
    for posted in posted_requests:
        for secret in posted["secret"]["strings"]:
            for text in texts:
                assert secret not in text, (context, secret, raw[:500])
    # Blurred public points may be printed; remember them so they are not taken for a leak.
    blurred = set()
    for node in walk(parsed):
        if isinstance(node, dict) and _is_number(node.get("lat")) and _is_number(node.get("lon")):
            for posted in posted_requests:
                lat, lon = posted["secret"]["point"]
                assert not (abs(node["lat"] - lat) < 1e-6 and abs(node["lon"] - lon) < 1e-6), (
                    context,
                    node,
                )
            blurred.update((node["lat"], node["lon"]))
        if isinstance(node, list) and len(node) == 2 and all(map(_is_number, node)):
            for posted in posted_requests:
                lat, lon = posted["secret"]["point"]
                for a, b in ((lat, lon), (lon, lat)):
                    assert not (abs(node[0] - a) < 1e-6 and abs(node[1] - b) < 1e-6), (
                        context,
                        node,
                    )
    for text in texts:
        for token in NUMBER.findall(text):
            decimals = len(token.split(".")[1])
            value = float(token)
            if decimals < 4 or value in blurred:
                continue
            for posted in posted_requests:
                for exact in posted["secret"]["point"]:
                    # The exact coordinate printed with `decimals` digits, rounded or cut.
                    assert abs(value - exact) >= 10**-decimals, (context, token, exact)


def assert_public(body, context=""):
    assert not PRIVATE_KEYS & set(body), (context, body)


def assert_private(body, posted, context=""):
    assert body["phone"] == posted["phone"], context
    assert body["contact_name"] == posted["contact_name"], context
    assert body["address"] == posted["address"], context
    lat, lon = posted["secret"]["point"]
    assert body["exact_location"] == {"lat": lat, "lon": lon}, context


def nearby(client, at=BAC_GIANG, **params):
    response = client.get(
        f"{API}/nearby", query_string={"lat": at[0], "lon": at[1], "radius_m": 5000, **params}
    )
    assert response.status_code == 200, response.get_json()
    return response


# -- the crawl: every endpoint in the OpenAPI document -----------------------------------


def _nearby_calls(client, headers, posted_requests):
    calls = [
        nearby(client),
        nearby(client, limit=200, radius_m=50_000),
        nearby(client, categories="food,medicine,supplies,medical_advice,other"),
    ]
    for posted in posted_requests:  # centred on the exact point itself, smallest radius too
        calls.append(nearby(client, at=posted["secret"]["point"], radius_m=1))
        calls.append(nearby(client, at=posted["secret"]["point"], radius_m=500))
    return calls


def _map_calls(client, headers, posted_requests):
    boxes = ["105.9,21.0,106.5,21.5"]
    for posted in posted_requests:  # small boxes around each exact point too
        lat, lon = posted["secret"]["point"]
        boxes.append(f"{lon - 0.005},{lat - 0.005},{lon + 0.005},{lat + 0.005}")
    return [client.get(f"{API}/map", headers=headers, query_string={"bbox": box}) for box in boxes]


OFFERS = "/api/v1/offers"


def _offer_payload():
    return {
        "title": "Rau sạch",
        "description": "Rau từ vườn",
        "categories": ["food"],
        "location": {"lat": BAC_GIANG[0], "lon": BAC_GIANG[1]},
    }


def _duplicates_of(client, posted_requests):
    """Asks with the phone of each still active posted request: the duplicate answer must
    not name it (a closed one's phone is free, and asking with it would post anew)."""
    return [
        request_payload(phone=p["phone"])
        for p in posted_requests
        if client.get(f"{API}/{p['id']}").get_json()["status"] in ("open", "claimed")
    ]


def _an_offer(client):
    """The id of an open offer posted for a call by a fresh account."""
    phone = new_phone()
    client.post(
        "/api/v1/auth/register",
        json={"phone": phone, "password": "mat-khau-1", "name": "Người Bán"},
    )
    token = client.post("/api/v1/auth/token", json={"phone": phone, "password": "mat-khau-1"})
    response = client.post(
        OFFERS,
        json=_offer_payload(),
        headers={"Authorization": f"Bearer {token.get_json()['token']}"},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def _per_request(action):
    def call(client, headers, posted_requests, ids):
        return [client.post(f"{API}/{request_id}/{action}", headers=headers) for request_id in ids]

    return call


OPERATIONS = {
    ("post", "/api/v1/auth/register"): lambda client, headers, *_: [
        client.post(
            "/api/v1/auth/register",
            headers=headers,
            json={"phone": new_phone(), "password": "mat-khau-1", "name": "Người Mới"},
        )
    ],
    ("post", "/api/v1/auth/token"): lambda client, headers, *_: [
        client.post(
            "/api/v1/auth/token",
            headers=headers,
            json={"phone": new_phone(), "password": "mat-khau-1"},
        )
    ],
    ("get", "/api/v1/auth/me"): lambda client, headers, *_: [
        client.get("/api/v1/auth/me", headers=headers)
    ],
    ("post", API): lambda client, headers, *_: [
        client.post(API, headers=headers, json=request_payload())
    ],
    ("get", f"{API}/nearby"): lambda client, headers, posted_requests, _ids: _nearby_calls(
        client, headers, posted_requests
    ),
    ("get", f"{API}/map"): lambda client, headers, posted_requests, _ids: _map_calls(
        client, headers, posted_requests
    ),
    ("get", API + "/{request_id}"): lambda client, headers, posted_requests, _ids: [
        client.get(f"{API}/{p['id']}", headers=headers) for p in posted_requests
    ],
    ("patch", API + "/{request_id}"): lambda client, headers, posted_requests, _ids: [
        client.patch(f"{API}/{p['id']}", headers=headers, json={"household_size": 9})
        for p in posted_requests
    ],
    ("get", API + "/{request_id}/reveals"): lambda client, headers, posted_requests, _ids: [
        client.get(f"{API}/{p['id']}/reveals", headers=headers) for p in posted_requests
    ],
    ("post", API + "/{request_id}/claim"): _per_request("claim"),
    ("post", API + "/{request_id}/release"): _per_request("release"),
    ("post", API + "/{request_id}/helped"): _per_request("helped"),
    ("post", API + "/{request_id}/confirm"): _per_request("confirm"),
    ("post", API + "/{request_id}/cancel"): _per_request("cancel"),
    ("get", "/api/v1/volunteers/me"): lambda client, headers, *_: [
        client.get("/api/v1/volunteers/me", headers=headers)
    ],
    ("put", "/api/v1/volunteers/me"): lambda client, headers, *_: [
        client.put(
            "/api/v1/volunteers/me",
            headers=headers,
            json={
                "location": {"lat": BAC_GIANG[0], "lon": BAC_GIANG[1]},
                "radius_m": 5000,
                "categories": ["food"],
                "on_duty": True,
            },
        )
    ],
    ("get", "/api/v1/stats"): lambda client, headers, *_: [
        client.get("/api/v1/stats", headers=headers)
    ],
    # The caller's own inbox: pushed needs carry public fields only.
    ("get", "/api/v1/notifications"): lambda client, headers, *_: [
        client.get("/api/v1/notifications", headers=headers),
        client.get(
            "/api/v1/notifications", headers=headers, query_string={"after": 0, "limit": 100}
        ),
    ],
    ("post", "/api/v1/notifications/read"): lambda client, headers, *_: [
        client.post("/api/v1/notifications/read", headers=headers, json={})
    ],
    # One report per caller and request stays below the auto-hide threshold.
    ("post", API + "/{request_id}/report"): lambda client, headers, posted_requests, _ids: [
        client.post(
            f"{API}/{p['id']}/report",
            headers=headers,
            json={"reason": "scam", "comment": "Gọi hỏi tiền trước"},
        )
        for p in posted_requests
    ],
    ("post", API + "/{request_id}/hide"): lambda client, headers, posted_requests, _ids: [
        client.post(f"{API}/{p['id']}/hide", headers=headers, json={"reason": "test"})
        for p in posted_requests
    ],
    ("post", API + "/{request_id}/restore"): lambda client, headers, posted_requests, _ids: [
        client.post(f"{API}/{p['id']}/restore", headers=headers, json={"reason": "test"})
        for p in posted_requests
    ],
    ("post", API + "/{request_id}/manage-token"): lambda client, headers, posted_requests, _ids: [
        client.post(f"{API}/{p['id']}/manage-token", headers=headers) for p in posted_requests
    ],
    ("get", "/api/v1/moderation/queue"): lambda client, headers, *_: [
        client.get("/api/v1/moderation/queue", headers=headers)
    ],
    ("post", "/api/v1/moderation/flags/{flag_id}/resolve"): lambda client, headers, *_: [
        client.post(f"/api/v1/moderation/flags/{flag_id}/resolve", headers=headers, json={})
        for flag_id in (1, 2)
    ],
    ("post", "/api/v1/areas/{code}/assignments/preview"): lambda client, headers, *_: [
        client.post(f"/api/v1/areas/{code}/assignments/preview", headers=headers, json={})
        for code in ("24", "24-213", "nowhere")
    ],
    (
        "post",
        "/api/v1/areas/{code}/assignments/apply",
    ): lambda client, headers, posted_requests, _ids: [
        client.post(
            f"/api/v1/areas/{code}/assignments/apply",
            headers=headers,
            json={"pairs": [{"request_id": p["id"], "volunteer_id": 1} for p in posted_requests]},
        )
        for code in ("24", "24-213", "nowhere")
    ],
    # Offers of help: each call on an offer made for it by a fresh account (_an_offer).
    ("post", OFFERS): lambda client, headers, *_: [
        client.post(OFFERS, headers=headers, json=_offer_payload())
    ],
    ("get", f"{OFFERS}/nearby"): lambda client, headers, posted_requests, _ids: [
        client.get(
            f"{OFFERS}/nearby",
            headers=headers,
            query_string={"lat": at[0], "lon": at[1], "radius_m": radius},
        )
        for at in [BAC_GIANG] + [p["secret"]["point"] for p in posted_requests]
        for radius in (1, 50_000)
    ],
    ("get", f"{OFFERS}/map"): lambda client, headers, *_: [
        client.get(
            f"{OFFERS}/map", headers=headers, query_string={"bbox": "105.9,21.0,106.5,21.5"}
        )
    ],
    ("get", OFFERS + "/{offer_id}"): lambda client, headers, *_: [
        client.get(f"{OFFERS}/{_an_offer(client)}", headers=headers)
    ],
    ("patch", OFFERS + "/{offer_id}"): lambda client, headers, *_: [
        client.patch(f"{OFFERS}/{_an_offer(client)}", headers=headers, json={"quantity": "5 kg"})
    ],
    ("post", OFFERS + "/{offer_id}/close"): lambda client, headers, *_: [
        client.post(f"{OFFERS}/{_an_offer(client)}/close", headers=headers)
    ],
    ("post", OFFERS + "/{offer_id}/ask"): lambda client, headers, posted_requests, _ids: [
        client.post(f"{OFFERS}/{_an_offer(client)}/ask", headers=headers, json=payload)
        for payload in [request_payload()] + _duplicates_of(client, posted_requests)
    ],
    ("post", OFFERS + "/{offer_id}/report"): lambda client, headers, *_: [
        client.post(
            f"{OFFERS}/{_an_offer(client)}/report", headers=headers, json={"reason": "scam"}
        )
    ],
    # The coordinator console. Files are streamed: read them before the next call.
    **{
        ("get", f"/api/v1/console/exports/{name}"): (
            lambda name: (
                lambda client, headers, *_: [
                    client.get(f"/api/v1/console/exports/{name}", headers=headers, buffered=True)
                ]
            )
        )(name)
        for name in ("requests.csv", "requests.geojson", "assists.csv", "assists.geojson")
    },
    **{
        ("get", f"/api/v1/stats/{name}"): (
            lambda name: (
                lambda client, headers, *_: [
                    client.get(f"/api/v1/stats/{name}", headers=headers, buffered=True)
                ]
            )
        )(name)
        for name in ("areas.csv", "areas.geojson")
    },
    ("get", "/api/v1/console/map"): lambda client, headers, *_: [
        client.get(
            "/api/v1/console/map",
            headers=headers,
            query_string={"bbox": "105.9,21.0,106.5,21.5", "zoom": zoom},
        )
        for zoom in (10, 16)
    ],
    ("get", "/api/v1/stats/console"): lambda client, headers, *_: [
        client.get("/api/v1/stats/console", headers=headers)
    ],
    ("get", API + "/{request_id}/events"): lambda client, headers, posted_requests, _ids: [
        client.get(f"{API}/{p['id']}/events", headers=headers) for p in posted_requests
    ],
    ("get", API + "/{request_id}/candidates"): lambda client, headers, posted_requests, _ids: [
        client.get(f"{API}/{p['id']}/candidates", headers=headers, query_string={"limit": 50})
        for p in posted_requests
    ],
    ("post", API + "/{request_id}/assign"): lambda client, headers, posted_requests, _ids: [
        client.post(f"{API}/{p['id']}/assign", headers=headers, json={"volunteer_id": 1})
        for p in posted_requests
    ],
    ("post", "/api/v1/console/requests"): lambda client, headers, *_: [
        client.post(
            "/api/v1/console/requests",
            headers=headers,
            json={**request_payload(), "confirm_duplicate": True},
        )
    ],
    ("post", API + "/{request_id}/block-phone"): lambda client, headers, posted_requests, _ids: [
        client.post(f"{API}/{p['id']}/block-phone", headers=headers, json={"reason": "test"})
        for p in posted_requests
    ],
    ("get", "/api/v1/moderation/blocked-phones"): lambda client, headers, *_: [
        client.get("/api/v1/moderation/blocked-phones", headers=headers)
    ],
    ("post", "/api/v1/moderation/blocked-phones/{block_id}/lift"): lambda client, headers, *_: [
        client.post(
            f"/api/v1/moderation/blocked-phones/{block_id}/lift",
            headers=headers,
            json={"reason": "test"},
        )
        for block_id in (1, 2)
    ],
    # A code for the requesters' phones (202 whoever asks), and a wrong one for each.
    ("post", "/api/v1/auth/password-reset"): lambda client, headers, posted_requests, _: [
        client.post("/api/v1/auth/password-reset", json={"phone": p["phone"]})
        for p in posted_requests
    ],
    ("post", "/api/v1/auth/password-reset/confirm"): lambda client, headers, posted, _: [
        client.post(
            "/api/v1/auth/password-reset/confirm",
            json={"phone": p["phone"], "code": "000000", "password": "mat-khau-moi-1"},
        )
        for p in posted
    ],
    # Last: for a signed-in caller this revokes the token the crawl uses.
    ("delete", "/api/v1/auth/token"): lambda client, headers, *_: [
        client.delete("/api/v1/auth/token", headers=headers)
    ],
}


def crawl(client, headers, posted_requests, claim_ids):
    """Call every operation the OpenAPI document lists; returns (label, response) pairs."""
    spec = client.get("/api/v1/openapi.json")
    assert spec.status_code == 200
    listed = {
        (method, path)
        for path, item in spec.get_json()["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert listed == set(OPERATIONS), (
        "the API changed: teach the privacy crawl the new operations",
        listed ^ set(OPERATIONS),
    )
    results = [("GET /api/v1/openapi.json", spec)]
    # An unrelated requester's manage token opens nothing else.
    stranger = client.post(API, json=request_payload()).get_json()
    for posted in posted_requests:
        results.append(
            (
                f"GET {posted['id']} with another manage token",
                client.get(f"{API}/{posted['id']}", headers={**headers, **manage(stranger)}),
            )
        )
    all_ids = [p["id"] for p in posted_requests]
    for (method, path), call in OPERATIONS.items():
        ids = claim_ids if path.endswith("/claim") else all_ids
        for response in call(client, headers, posted_requests, ids):
            results.append((f"{method.upper()} {path}", response))
    return results


def test_public_endpoints_leak_nothing_about_open_or_cancelled_requests(client, post_secret):
    """Anonymous callers, on every endpoint, never see contact, address or exact point."""
    posted = [post_secret(at) for at in EXACT_POINTS[:3]]
    assert (
        client.post(f"{API}/{posted[2]['id']}/cancel", headers=manage(posted[2])).status_code
        == 200
    )
    for label, response in crawl(client, {}, posted, [p["id"] for p in posted]):
        assert_no_leak(response, posted, label)
    assert all(
        p["id"] in {i["id"] for i in nearby(client).get_json()["items"]} for p in posted[:2]
    )


@pytest.mark.parametrize("caller", ["anonymous", "volunteer"])
def test_every_endpoint_leaks_nothing_to_non_claiming_callers(
    client, post_secret, create_volunteer, caller
):
    """Open, claimed, released and helped requests stay private to anyone not holding a claim."""
    # A volunteer caller is on duty before the posts: its inbox holds them all, pushed.
    headers = create_volunteer() if caller == "volunteer" else {}
    opened, claimed, released, helped = (post_secret(at) for at in EXACT_POINTS)
    claimant = create_volunteer()
    # Helped first: until then a new volunteer holds one claim at a time.
    for posted in (helped, claimed, released):
        assert client.post(f"{API}/{posted['id']}/claim", headers=claimant).status_code == 200
        if posted is helped:
            assert client.post(f"{API}/{helped['id']}/helped", headers=claimant).status_code == 200
    assert client.post(f"{API}/{released['id']}/release", headers=claimant).status_code == 200
    if caller == "volunteer":
        inbox = client.get("/api/v1/notifications", headers=headers).get_json()["items"]
        assert {item["request_id"] for item in inbox} == {
            p["id"] for p in (opened, claimed, released, helped)
        }
    posted = [opened, claimed, released, helped]
    # A non-claiming volunteer claiming an open request would become its claimant: only try
    # the ones that are not open.
    claim_ids = (
        [p["id"] for p in posted] if caller == "anonymous" else [claimed["id"], helped["id"]]
    )
    results = crawl(client, headers, posted, claim_ids)
    for label, response in results:
        assert_no_leak(response, posted, f"{caller}: {label}")
    claims = {r.status_code for label, r in results if label.endswith("/claim")}
    assert claims == ({401} if caller == "anonymous" else {409})
    # Nothing the crawl did changed who holds what.
    states = {
        p["id"]: client.get(f"{API}/{p['id']}", headers=manage(p)).get_json() for p in posted
    }
    assert [states[p["id"]]["status"] for p in posted] == ["open", "claimed", "open", "helped"]


def test_the_leak_check_catches_each_kind_of_leak(app, client, post_secret):
    """The checker itself: a private view, either phone form, the name and the exact point
    printed with 4+ decimals, as a pair or a list, all count as leaks; the public view does not."""
    posted = post_secret(EXACT_POINTS[0])
    lat, lon = EXACT_POINTS[0]
    phone = posted["phone"]
    url = f"{API}/{posted['id']}"
    with pytest.raises(AssertionError):
        assert_no_leak(client.get(url, headers=manage(posted)), [posted])
    for leak in (
        {"n": phone},
        {"n": "0" + phone[3:]},
        {"n": posted["contact_name"]},
        {"n": posted["address"]},
        {"n": f"near {lat:.4f}"},
        {"n": round(lon, 4)},
        {"n": float(f"{lon:.6f}")},
        {"n": [lon, lat]},
        {"n": {"lat": lat, "lon": lon}},
    ):
        fake = app.response_class(json.dumps(leak), mimetype="application/json")
        with pytest.raises(AssertionError):
            assert_no_leak(fake, [posted])
    assert_no_leak(client.get(url), [posted])


# -- blurred location and rounded distance ------------------------------------------


def test_blurred_location_is_150_to_400_m_away_and_the_same_on_every_view(client, post_secret):
    """The public point is 150-400 m off, identical across views, GET and nearby."""
    posted = [post_secret(at) for at in EXACT_POINTS]
    items = {i["id"]: i for i in nearby(client).get_json()["items"]}
    items_elsewhere = {
        i["id"]: i for i in nearby(client, at=EXACT_POINTS[0], radius_m=20_000).get_json()["items"]
    }
    for p in posted:
        lat, lon = p["secret"]["point"]
        views = [client.get(f"{API}/{p['id']}").get_json()["location"] for _ in range(3)]
        views.append(client.get(f"{API}/{p['id']}", headers=manage(p)).get_json()["location"])
        views += [p["location"], items[p["id"]]["location"], items_elsewhere[p["id"]]["location"]]
        assert all(view == views[0] for view in views), views
        offset = haversine_m(lat, lon, views[0]["lat"], views[0]["lon"])
        # The public point is printed with 5 decimals (about a metre): allow for that rounding.
        assert 150 - 1 <= offset <= 400 + 1, (p["id"], offset)


def test_blurred_location_is_shared_by_a_households_requests_at_the_same_place(client):
    """One phone posting again from the same house gets the same blurred point: independent
    blurs of one house could be averaged back to it (see test_location_blur.py)."""
    phone = new_phone()
    locations = []
    for _ in range(2):
        posted = client.post(API, json=request_payload(at=EXACT_POINTS[0], phone=phone))
        assert posted.status_code == 201, posted.get_json()
        locations.append(posted.get_json()["location"])
        client.post(
            f"{API}/{posted.get_json()['id']}/cancel",
            json={},
            headers={"X-Manage-Token": posted.get_json()["manage_token"]},
        )
    assert locations[0] == locations[1]
    assert haversine_m(*EXACT_POINTS[0], locations[0]["lat"], locations[0]["lon"]) >= 150 - 1


def test_distance_is_the_exact_distance_rounded_to_100_m(client, post_secret):
    """distance_m is a multiple of 100: the distance from the real place, to the nearest 100 m."""
    posted = {p["id"]: p for p in (post_secret(at) for at in EXACT_POINTS)}
    queries = [BAC_GIANG, (21.2801, 106.1913), (21.2688, 106.2101), (21.2999, 106.2222)]
    for query in queries:
        items = nearby(client, at=query, radius_m=10_000).get_json()["items"]
        assert {i["id"] for i in items} == set(posted)
        for item in items:
            exact = haversine_m(*query, *posted[item["id"]]["secret"]["point"])
            assert item["distance_m"] % 100 == 0
            expected = {round_distance_m(exact)}
            if abs(exact % 100 - 50) < 0.5:  # too close to call: either neighbour is right
                expected |= {round_distance_m(exact - 0.5), round_distance_m(exact + 0.5)}
            assert item["distance_m"] in expected, (query, item, exact)


# -- who sees what ---------------------------------------------------------------------


def test_claimant_sees_contact_only_while_the_claim_holds(client, post_secret, create_volunteer):
    """The claimant gets the details on claim, and loses them on release and after helping."""
    posted = post_secret(EXACT_POINTS[0])
    claimant, bystander = create_volunteer(), create_volunteer()
    url = f"{API}/{posted['id']}"

    claim = client.post(f"{url}/claim", headers=claimant)
    assert claim.status_code == 200
    assert_private(claim.get_json(), posted, "claim response")
    assert_private(client.get(url, headers=claimant).get_json(), posted, "claimant GET")
    assert_public(client.get(url, headers=bystander).get_json(), "bystander GET")
    assert_no_leak(client.get(url, headers=bystander), [posted], "bystander GET")
    assert_no_leak(client.get(url), [posted], "anonymous GET")

    release = client.post(f"{url}/release", headers=claimant)
    assert release.status_code == 200
    assert_public(release.get_json(), "release response")
    assert_no_leak(release, [posted], "release response")
    assert_no_leak(client.get(url, headers=claimant), [posted], "GET after release")

    assert client.post(f"{url}/claim", headers=claimant).status_code == 200
    helped = client.post(f"{url}/helped", headers=claimant)
    assert helped.status_code == 200 and helped.get_json()["status"] == "helped"
    assert_no_leak(helped, [posted], "helped response")
    assert_no_leak(client.get(url, headers=claimant), [posted], "GET after helped")
    assert_public(client.get(url, headers=claimant).get_json(), "GET after helped")


def test_coordinators_see_everything(client, post_secret, create_volunteer, create_staff):
    """A coordinator sees contact, address and exact point, whoever holds the request."""
    opened, claimed, cancelled = (post_secret(at) for at in EXACT_POINTS[:3])
    staff = create_staff()
    claim = client.post(f"{API}/{claimed['id']}/claim", headers=create_volunteer())
    assert claim.status_code == 200
    assert (
        client.post(f"{API}/{cancelled['id']}/cancel", headers=manage(cancelled)).status_code
        == 200
    )
    for posted in (opened, claimed, cancelled):
        body = client.get(f"{API}/{posted['id']}", headers=staff).get_json()
        assert_private(body, posted, posted["id"])
    assert client.get(f"{API}/{claimed['id']}", headers=staff).get_json()["claimed_by"]


def test_requester_with_the_manage_token_sees_everything(client, post_secret, create_volunteer):
    """The manage token shows the requester all of their own request, in every state."""
    posted = post_secret(EXACT_POINTS[1])
    url = f"{API}/{posted['id']}"
    assert_private(posted, posted, "post response")
    assert_private(client.get(url, headers=manage(posted)).get_json(), posted, "open")
    claimant = create_volunteer()
    client.post(f"{url}/claim", headers=claimant)
    claimed = client.get(url, headers=manage(posted)).get_json()
    assert_private(claimed, posted, "claimed")
    assert claimed["claimed_by"] and claimed["lease_expires_at"]
    client.post(f"{url}/helped", headers=claimant)
    assert_private(client.get(url, headers=manage(posted)).get_json(), posted, "helped")
    confirmed = client.post(f"{url}/confirm", headers=manage(posted))
    assert confirmed.status_code == 200
    assert_private(confirmed.get_json(), posted, "confirm response")
    assert "manage_token" not in confirmed.get_json()


def test_requester_account_sees_its_own_request_only(client, create_user):
    """Posting while signed in lets that account see the request; other accounts do not."""
    _, owner = create_user()
    _, other = create_user()
    payload = request_payload(
        at=EXACT_POINTS[2], contact_name="Đặng Văn Ykqz", address="Số 5 Ngõ Ykqz, Phường Thọ Xương"
    )
    posted = client.post(API, json=payload, headers=owner).get_json()
    posted["secret"] = {"strings": [payload["phone"], "Ykqz"], "point": EXACT_POINTS[2]}
    assert_private(client.get(f"{API}/{posted['id']}", headers=owner).get_json(), posted)
    assert_no_leak(client.get(f"{API}/{posted['id']}", headers=other), [posted], "other")
