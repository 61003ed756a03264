"""A loopback stand-in for E2B: the control-plane REST API and envd's process service.

A development backend for tests and `make run`, not an isolation boundary: commands run
as the server's own user on the host.
"""

ENVD_VERSION = "0.2.4"
