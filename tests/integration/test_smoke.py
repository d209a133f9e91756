"""The core flow end to end on both databases: post, find nearby, claim, help, confirm."""


def test_post_find_claim_help_confirm(client, post_request, create_volunteer):
    """A posted need is found nearby, claimed, marked helped, confirmed, and counted."""
    posted = post_request()
    volunteer = create_volunteer()
    nearby = client.get("/api/v1/requests/nearby?lat=21.2731&lon=106.1946").get_json()
    assert [item["id"] for item in nearby["items"]] == [posted["id"]]
    claim = client.post(f"/api/v1/requests/{posted['id']}/claim", headers=volunteer)
    assert claim.status_code == 200 and claim.get_json()["phone"] == posted["phone"]
    assert client.get("/api/v1/requests/nearby?lat=21.2731&lon=106.1946").get_json() == {
        "items": []
    }
    assert (
        client.post(f"/api/v1/requests/{posted['id']}/helped", headers=volunteer).get_json()[
            "status"
        ]
        == "helped"
    )
    confirmed = client.post(
        f"/api/v1/requests/{posted['id']}/confirm",
        headers={"X-Manage-Token": posted["manage_token"]},
    )
    assert confirmed.get_json()["status"] == "confirmed"
    stats = client.get("/api/v1/stats").get_json()
    assert stats["assists"] == {"helped": 1, "confirmed": 1}
