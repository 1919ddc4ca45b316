def test_health_check_answers_from_the_database(client):
    assert client.get("/healthz").get_json() == {"ok": True}
