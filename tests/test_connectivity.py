import logging
import time

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from portal.e2b_services import check_connection
from portal.models import AuditEvent, E2BApiKey
from tests.isolation import covers


def connect(org, server, api_key=None):
    org.api_url = org.sandbox_url = server.url
    org.save()
    key = E2BApiKey(organization=org, label="local", is_active=True)
    key.set_secret(api_key or server.api_key)
    key.save()
    return key


def test_it_reports_ok_with_latency_and_stores_it(org, e2b):
    key = connect(org, e2b)
    result = check_connection(None, org)
    assert result.outcome == "ok"
    assert result.latency_ms is not None and result.latency_ms < 5000
    org.refresh_from_db()
    assert org.last_check_outcome == "ok"
    assert org.last_check_latency_ms == result.latency_ms
    assert org.last_check_at is not None
    key.refresh_from_db()
    assert key.last_used_at == org.last_check_at
    event = AuditEvent.objects.get(action="e2b.check")
    assert event.details == {"outcome": "ok", "latency_ms": result.latency_ms}


def test_it_reports_a_stopped_backend_as_unreachable_naming_the_host(org, fresh_e2b):
    connect(org, fresh_e2b)
    fresh_e2b.stop()
    result = check_connection(None, org)
    assert result.outcome == "unreachable"
    assert "127.0.0.1" in result.message
    assert "refused" in result.message


def test_it_reports_an_unknown_host_as_unreachable(org, e2b):
    connect(org, e2b)
    org.api_url = "http://no-such-host.invalid:3000"
    org.save()
    result = check_connection(None, org, timeout=5)
    assert result.outcome == "unreachable"
    assert "no-such-host.invalid" in result.message


def test_it_reports_a_key_the_backend_does_not_know_as_rejected(org, e2b):
    connect(org, e2b, api_key="e2b_" + "0" * 40)
    assert check_connection(None, org).outcome == "key rejected"


def test_it_reports_an_injected_401_as_key_rejected(org, e2b):
    connect(org, e2b)
    e2b.set_fault("/v2/sandboxes", status=401)
    result = check_connection(None, org)
    assert result.outcome == "key rejected"
    assert "rejected the E2B API key" in result.message


def test_it_reports_an_injected_503_as_an_e2b_error_with_status(org, e2b):
    connect(org, e2b)
    e2b.set_fault("/v2/sandboxes", status=503, should_retry=False)
    result = check_connection(None, org)
    assert result.outcome == "E2B error"
    assert "503" in result.message


def test_it_reports_an_unhealthy_backend_as_an_e2b_error(org, e2b):
    connect(org, e2b)
    e2b.set_fault("/health", status=500, message="database down")
    result = check_connection(None, org)
    assert result.outcome == "E2B error"
    assert "500" in result.message and "database down" in result.message


@pytest.mark.parametrize("path", ["/health", "/v2/sandboxes"])
def test_it_gives_up_at_the_time_limit(org, e2b, path):
    connect(org, e2b)
    e2b.set_fault(path, latency=3)
    started = time.monotonic()
    result = check_connection(None, org, timeout=1)
    assert time.monotonic() - started < 1.5
    assert result.outcome == "unreachable"
    assert "did not answer" in result.message


def test_it_reports_no_key_without_calling_e2b(org):
    result = check_connection(None, org)
    assert result.outcome == "no key"
    org.refresh_from_db()
    assert org.last_check_outcome == "no key"


def test_it_keeps_the_key_out_of_logs_and_audit(org, e2b, caplog):
    connect(org, e2b)
    e2b.set_fault("/v2/sandboxes", status=401, times=1)
    with caplog.at_level(logging.DEBUG):
        check_connection(None, org)
        check_connection(None, org)
    assert e2b.api_key not in caplog.text
    assert e2b.api_key not in repr(list(AuditEvent.objects.values("details", "target")))


def test_it_runs_in_place_with_htmx(client, org_admin, org, e2b):
    connect(org, e2b)
    client.force_login(org_admin)
    response = client.post(reverse("e2b_check", args=[org.slug]), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b'data-outcome="ok"' in response.content
    assert e2b.api_key.encode() not in response.content


def test_it_shows_the_result_on_the_home_page(client, org_member, org, e2b):
    connect(org, e2b)
    client.force_login(org_member)
    response = client.post(reverse("e2b_check", args=[org.slug]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("org_home", args=[org.slug])
    assert b'data-outcome="ok"' in response.content
    assert b"Test connection" in response.content


def test_it_lets_support_run_the_check(client, support, org, e2b):
    connect(org, e2b)
    client.force_login(support)
    response = client.post(reverse("e2b_check", args=[org.slug]), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert AuditEvent.objects.get(action="e2b.check").actor_user == support


@covers("e2b_check")
def test_it_refuses_checks_of_other_organizations(client, other_admin, org, e2b):
    connect(org, e2b)
    client.force_login(other_admin)
    assert client.post(reverse("e2b_check", args=[org.slug])).status_code == 404
    assert not AuditEvent.objects.filter(action="e2b.check").exists()


def test_the_command_prints_ok(org, e2b, capsys):
    connect(org, e2b)
    call_command("check_e2b", "acme")
    assert capsys.readouterr().out.startswith("acme: ok in ")


def test_the_command_exits_non_zero_unless_ok(org, e2b):
    connect(org, e2b, api_key="e2b_" + "0" * 40)
    with pytest.raises(CommandError, match="key rejected") as caught:
        call_command("check_e2b", "acme")
    assert caught.value.returncode == 2
    with pytest.raises(CommandError, match="No organization"):
        call_command("check_e2b", "nope")


def test_it_keeps_a_non_e2b_body_off_the_page(org, db):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Internal(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"<html>internal admin console: secret=hunter2</html>")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Internal)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        key = E2BApiKey(organization=org, label="k", is_active=True)
        key.set_secret("e2b_" + "0" * 40)
        key.save()
        org.api_url = f"http://127.0.0.1:{server.server_port}"
        org.save()
        result = check_connection(None, org, timeout=3)
    finally:
        server.shutdown()
    assert result.outcome == "E2B error"
    assert "500" in result.message and "hunter2" not in result.message
