"""A static file server on loopback that logs every request: the mirror the mirror tests point builds at.

    python -m testsupport.mirror_server --root DIR --log FILE --port-file FILE [--cert PEM --key PEM]

Serves DIR (a PyPI simple index, download trees, a git repository over git's dumb HTTP
protocol, repository metadata) on 127.0.0.1 at a free port, written to --port-file once it
listens; with --cert/--key over TLS. Each request is one line `METHOD PATH STATUS` in --log,
flushed at once: what a test reads to know a build step reached the mirror. Started by the
tests with setsid and stopped by its pid.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import ssl
import sys
from pathlib import Path


class _Handler(http.server.SimpleHTTPRequestHandler):
    log_path: Path

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"{self.command} {self.path} {code}\n")

    def log_message(self, format: str, *args: object) -> None:  # quiet on stderr
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args(argv)
    handler = type("Handler", (_Handler,), {"log_path": args.log})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(handler, directory=str(args.root)))
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    tmp = args.port_file.with_suffix(".tmp")
    tmp.write_text(str(server.server_address[1]))
    tmp.replace(args.port_file)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
