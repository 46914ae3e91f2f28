"""Command line: python -m tests.harness {up,down,status} --root DIR [--services a,b] [--local-ports]
[--bucket NAME ...] (up: also create these buckets, with object lock, when missing)"""

import argparse
import json
import sys

from .options import ensure_bucket
from .platform import LOCAL_PLATFORM_PORTS, ORDER, Platform
from .process import ServiceError

SECRET_KEYS = ("password", "secret_key", "admin_password")


def _public(state):
    """The state without secrets, for printing."""
    return {name: {key: ("********" if key in SECRET_KEYS else value) for key, value in entry.items()} for name, entry in state.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.harness", description=__doc__)
    parser.add_argument("action", choices=("up", "down", "status"))
    parser.add_argument("--root", required=True, help="directory for data, logs and state.json")
    parser.add_argument("--services", default=",".join(ORDER), help="comma-separated, default: all")
    parser.add_argument("--local-ports", action="store_true", help="the local platform's fixed ports")
    parser.add_argument("--bucket", action="append", default=[], help="up: create this bucket (object lock) if missing")
    args = parser.parse_args(argv)
    names = [name for name in args.services.split(",") if name]
    unknown = sorted(set(names) - set(ORDER))
    if unknown:
        parser.error("unknown services: %s (known: %s)" % (", ".join(unknown), ", ".join(ORDER)))
    platform = Platform(args.root, LOCAL_PLATFORM_PORTS if args.local_ports else None)
    try:
        if args.action == "up":
            state = platform.up(names)
            for bucket in args.bucket:
                ensure_bucket(state["s3"], bucket)
        elif args.action == "down":
            platform.down(names)
    except ServiceError as exc:
        print("harness: %s" % exc, file=sys.stderr)
        return 1
    print(json.dumps(_public(platform.load()), indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
