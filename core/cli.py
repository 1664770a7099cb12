"""The server's console script, `ddiffusion-server serve`; the client's `ddiffusion serve` calls it too."""

import argparse

from core.launcher import serve
from core.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ddiffusion-server", description="deferred-diffusion platform")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="start Redis (embedded unless DDIFFUSION_REDIS_URL is set), the api and the workers")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(Settings())
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
