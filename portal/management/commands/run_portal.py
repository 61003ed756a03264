"""`make run`: the local E2B backend, a task worker and the web server, stopped together."""

import os
import signal
import subprocess
import sys
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from portal.management.commands.seed_demo import DEMO_E2B_KEYS


class Command(BaseCommand):
    help = "Run the portal with its local E2B backend and one task worker until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--no-e2b", action="store_true", help="do not start the local E2B backend")

    def handle(self, *args, addr, no_e2b, **options):
        if not settings.DEBUG:
            raise CommandError("run_portal is the development launcher; use gunicorn in production.")
        python = sys.executable
        processes = []
        if not no_e2b:
            e2b = urlsplit(settings.E2B_LOCAL_URL)
            keys = [arg for slug, key in DEMO_E2B_KEYS.items() for arg in ("--api-key", f"{key}={slug}")]
            processes.append(
                ("local E2B", [python, "-m", "e2b_local", "--host", e2b.hostname, "--port", str(e2b.port or 80), *keys])
            )
        processes.append(("task worker", [python, "manage.py", "db_worker", "--interval", "0.5", "--no-reload"]))
        # The periodic sandbox sync is a task chain; this starts it unless one is running.
        call_command("sync_sandboxes", "--schedule")
        processes.append(("web server", [python, "manage.py", "runserver", "--noreload", addr]))

        def stop(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGHUP, stop)
        running = []
        try:
            for name, command in processes:
                running.append((name, subprocess.Popen(command, start_new_session=True)))
                time.sleep(0.3)
            self.stdout.write(
                self.style.SUCCESS(
                    f"\nSandbox Portal: http://{addr}/  (log in as admin@acme.demo / portal-demo; "
                    "Ctrl-C stops everything)\n"
                )
            )
            while True:
                for name, proc in running:
                    if proc.poll() is not None:
                        raise CommandError(f"the {name} stopped (exit {proc.returncode})")
                time.sleep(0.5)
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
        finally:
            for _, proc in running:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            for _, proc in running:
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
