"""`make bench`: run every benchmark module in bench/ and print `name: value` per result.

A benchmark is a module bench/<name>.py with `run() -> dict[str, float]`; each ratio is
measured within one run, so it does not depend on the speed of the machine.
`python -m bench NAME ...` runs only the named modules.
"""

import importlib
import os
import pkgutil
import shutil
import sys
import tempfile
import time

import bench


def prepare_django(workdir):
    """One migrated SQLite database in a temporary folder, shared by every benchmark."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ["DATABASE_URL"] = f"sqlite:///{os.path.join(workdir, 'bench.sqlite3')}"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def main(names):
    workdir = tempfile.mkdtemp(prefix="portal-bench-")
    prepare_django(workdir)
    modules = sorted(info.name for info in pkgutil.iter_modules(bench.__path__) if not info.name.startswith("_"))
    selected = [m for m in modules if not names or m in names]
    unknown = set(names) - set(modules)
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(sorted(unknown))}; have {', '.join(modules)}")
    failed = False
    for name in selected:
        started = time.monotonic()
        try:
            results = importlib.import_module(f"bench.{name}").run()
        except Exception as exc:  # one broken benchmark does not hide the others
            print(f"{name}: failed: {exc!r}", flush=True)
            failed = True
            continue
        for metric, value in results.items():
            print(f"{metric}: {value:.3f}", flush=True)
        print(f"  ({name} took {time.monotonic() - started:.1f} s)", file=sys.stderr, flush=True)
    shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
