"""`python -m deploy.production units` rewrites the systemd units and the compose file;
`python -m deploy.production render-nginx --server-name … --cert … --key …` prints the
nginx configuration; `python -m deploy.production smoke` is `make prod-smoke`."""

from __future__ import annotations

import argparse
import sys

from deploy.production import smoke
from deploy.production.units import PREFIX, write_units


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.production")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("units", help="rewrite deploy/production/systemd and compose.yaml")
    nginx = commands.add_parser("render-nginx", help="print nginx.conf for a site")
    nginx.add_argument("--server-name", required=True)
    nginx.add_argument("--cert", required=True)
    nginx.add_argument("--key", required=True)
    nginx.add_argument("--web", default="127.0.0.1:8000")
    nginx.add_argument("--streams", default="127.0.0.1:8001")
    nginx.add_argument("--metrics-allow", default="10.0.0.0/8")
    commands.add_parser("smoke", help="make prod-smoke")
    args, rest = parser.parse_known_args(argv)
    if args.command == "units":
        for path in write_units():
            print(path)
        return 0
    if args.command == "render-nginx":
        print(
            smoke.render_nginx(
                {
                    "pid": "/run/nginx.pid",
                    "error_log": "/var/log/nginx/error.log",
                    "access_log": "/var/log/nginx/access.log",
                    "mime_types": "/etc/nginx/mime.types",
                    "tmp": "/var/lib/nginx",
                    "web": args.web,
                    "streams": args.streams,
                    "http_port": "80",
                    "https_port": "443",
                    "server_name": args.server_name,
                    "cert": args.cert,
                    "key": args.key,
                    "static_root": f"{PREFIX}/var/static",
                    "metrics_allow": args.metrics_allow,
                }
            ),
            end="",
        )
        return 0
    return smoke.main(rest)


if __name__ == "__main__":
    sys.exit(main())
