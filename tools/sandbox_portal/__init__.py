"""A sandbox GST portal: same endpoints and encryption as GSTN, in-memory state, switchable faults.

Run it with ``python -m tools.sandbox_portal --port 8765``; see ``server.py`` for the endpoints and ``portal.py`` for
the behaviour. Loopback only; for development and tests, never for production data.
"""
