"""A byte relay for the backup plane (sysgenpro.odoo_ops docker_postgres): pgBackRest's TLS to the
object store passes through untouched (it is never decrypted here).

    python3 s3_relay.py LISTEN TARGET    each tcp:HOST:PORT or unix:PATH

In PostgreSQL's network namespace it listens on tcp:127.0.0.1:<object store port> and forwards to
a Unix socket; in the host's, it listens on that socket and forwards to the object store. With
--netns-watch it exits once its namespace has lost every interface but lo (the container it joined
was restarted), so that Docker restarts it in the new one.
"""

import asyncio
import os
import sys

TIMEOUT = 30


def _parse(spec):
    kind, _sep, rest = spec.partition(":")
    if kind == "unix":
        return kind, rest
    host, _sep, port = rest.rpartition(":")
    return kind, (host, int(port))


async def _open(target):
    kind, where = target
    if kind == "unix":
        return await asyncio.wait_for(asyncio.open_unix_connection(where), TIMEOUT)
    return await asyncio.wait_for(asyncio.open_connection(*where), TIMEOUT)


async def _pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except OSError:
            pass


def _handler(target):
    async def handle(reader, writer):
        try:
            up_reader, up_writer = await _open(target)
        except (OSError, asyncio.TimeoutError) as exc:
            print("relay: cannot reach %s: %s" % (target[1], exc), file=sys.stderr, flush=True)
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    return handle


async def _watch_netns():
    while True:
        await asyncio.sleep(5)
        if set(os.listdir("/sys/class/net")) <= {"lo"}:
            print("relay: network namespace lost its interfaces; exiting to be restarted", file=sys.stderr, flush=True)
            os._exit(1)


async def main(argv):
    watch = "--netns-watch" in argv
    listen, target = [_parse(spec) for spec in argv if not spec.startswith("--")]
    if listen[0] == "unix":
        if os.path.exists(listen[1]):
            os.unlink(listen[1])
        server = await asyncio.start_unix_server(_handler(target), path=listen[1])
        os.chmod(listen[1], 0o600)
    else:
        server = await asyncio.start_server(_handler(target), *listen[1])
    print("relay: %s -> %s" % (listen[1], target[1]), flush=True)
    if watch:
        asyncio.ensure_future(_watch_netns())
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
