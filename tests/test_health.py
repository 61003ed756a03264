from django.db import OperationalError


def test_it_reports_a_reachable_database(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_it_answers_probes_that_use_an_unknown_host_name(client, db, settings):
    settings.ALLOWED_HOSTS = ["portal.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz", HTTP_HOST="10.0.0.7:8000").status_code == 200
    assert client.get("/login/", HTTP_HOST="10.0.0.7:8000").status_code == 400


class UnreachableDatabase:
    def cursor(self):
        raise OperationalError("connection refused")


def test_it_reports_an_unreachable_database(client, db, monkeypatch):
    monkeypatch.setattr("portal.health.connection", UnreachableDatabase())
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"
