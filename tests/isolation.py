"""Which URL names have a tenant-isolation test.

A test that proves another organization's user gets 404 from a URL marks itself with
`@covers("url_name", ...)`; tests/test_urlconf.py fails for any organization-scoped URL
pattern (or API route with an ID in it) that no test covers.
"""

COVERED = set()


def covers(*url_names):
    def mark(test):
        COVERED.update(url_names)
        return test

    return mark
