"""``python -m tools.sandbox_portal --port 8765 [--seed N --docs N --state-file F --gstin G ...]``."""

from __future__ import annotations

import argparse
import logging
import sys

from tools.sandbox_portal.portal import DEFAULT_GSTINS, Portal
from tools.sandbox_portal.server import SandboxServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.sandbox_portal", description="Sandbox GST portal (loopback)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--allow-private-network",
        action="store_true",
        help="inside a container network: bind 0.0.0.0, answer private-range clients only",
    )
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (printed on start)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--docs", type=int, default=40, help="documents generated per recipient GSTIN")
    parser.add_argument("--gstin", action="append", help="recipient GSTIN to seed (repeatable)")
    parser.add_argument("--state-file", help="JSON file that keeps documents and 2B across restarts")
    parser.add_argument("--client-id", default="sandbox-client")
    parser.add_argument("--client-secret", default="sandbox-secret")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    portal = Portal(
        seed=args.seed,
        docs=args.docs,
        gstins=tuple(args.gstin or DEFAULT_GSTINS),
        client_id=args.client_id,
        client_secret=args.client_secret,
        state_file=args.state_file,
    )
    try:
        server = SandboxServer(portal, args.host, args.port, allow_private=args.allow_private_network)
    except ValueError as exc:
        parser.error(str(exc))
    print(f"sandbox portal listening on {server.url}", flush=True)  # noqa: T201
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
