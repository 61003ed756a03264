import importlib
import pkgutil

from django.urls import URLPattern, URLResolver, get_resolver

import tests
from tests.isolation import COVERED

EXEMPT_NAMESPACES = {"admin"}


def walk(resolver=None, prefix="", namespaces=()):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            ns = (*namespaces, entry.namespace) if entry.namespace else namespaces
            yield from walk(entry, route, ns)
        elif isinstance(entry, URLPattern):
            yield route, entry, namespaces


def load_all_test_modules():
    for info in pkgutil.iter_modules(tests.__path__):
        if info.name.startswith("test_"):
            importlib.import_module(f"tests.{info.name}")


def test_it_gives_every_view_an_access_decision():
    undecided = []
    for route, pattern, namespaces in walk():
        if EXEMPT_NAMESPACES.intersection(namespaces) or "api" in "".join(namespaces):
            continue
        if not getattr(pattern.callback, "access_decision", None):
            undecided.append(route)
    assert undecided == []


def test_it_has_a_tenant_isolation_test_for_every_scoped_url():
    load_all_test_modules()
    scoped = set()
    for route, pattern, namespaces in walk():
        if EXEMPT_NAMESPACES.intersection(namespaces):
            continue
        decision = getattr(pattern.callback, "access_decision", "") or ""
        in_api = any(ns.startswith("api") for ns in namespaces)
        if decision.startswith("org:") or (in_api and "<" in route):
            name = pattern.name or route
            scoped.add(f"{namespaces[-1]}:{name}" if in_api and namespaces else name)
    assert scoped, "the walk found no organization-scoped URL"
    assert sorted(scoped - COVERED) == []
