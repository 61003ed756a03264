"""`/healthz` for load balancers and container health checks.

Answered before host validation, HTTPS redirects and sessions, so a probe that knows
neither the public host name nor HTTPS still learns whether this process can reach the
database.
"""

from django.db import connection
from django.http import JsonResponse

HEALTH_PATH = "/healthz"


def database_reachable():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return False
    return True


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path != HEALTH_PATH:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return JsonResponse({"status": "error", "message": "use GET"}, status=405)
        if database_reachable():
            return JsonResponse({"status": "ok", "database": "ok"})
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503)
