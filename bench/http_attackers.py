#!/usr/bin/env python3
"""bench/http_attackers.py: hostile clients against an HTTP server on
127.0.0.1, for bench/http_attack.sh (one process, asyncio, bounded in time).

  http_attackers.py --port N [--seconds 10] [--slowloris 200] [--deaf 10]
                    [--garbage 10]

  slowloris  connections that send a request head one byte a second and
             never end it; one that the server closes is opened again
  deaf       connections that send pipelined GETs (64 KiB at a time) and
             never read a response
  garbage    connections that send 4 KiB of random bytes every 50 ms;
             reopened when closed

Prints, at the end, how many connections of each kind were opened and how
many the server closed (answered, timed out or reset).
"""
import argparse
import asyncio
import os
import time

STATS = {}


def stat(kind, key):
    STATS.setdefault(kind, {"opened": 0, "closed by server": 0})
    STATS[kind][key] += 1


async def connect(port):
    return await asyncio.open_connection("127.0.0.1", port)


async def slowloris(port, until):
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100000
    while time.monotonic() < until:
        try:
            r, w = await connect(port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        stat("slowloris", "opened")
        try:
            for b in head:
                if time.monotonic() >= until:
                    break
                w.write(bytes([b]))
                await w.drain()
                try:
                    # a second between bytes; what the server sends back
                    # (408) or its close ends this connection
                    await asyncio.wait_for(r.read(4096), 1.0)
                    stat("slowloris", "closed by server")
                    break
                except asyncio.TimeoutError:
                    pass
        except (ConnectionError, OSError):
            stat("slowloris", "closed by server")
        w.close()


async def deaf(port, until):
    reqs = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 2048
    while time.monotonic() < until:
        try:
            r, w = await connect(port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        stat("deaf", "opened")
        try:
            while time.monotonic() < until:
                w.write(reqs)
                await asyncio.wait_for(w.drain(), max(0.01, until - time.monotonic()))
        except asyncio.TimeoutError:
            pass  # blocked: the server stopped reading us, as it should
        except (ConnectionError, OSError):
            stat("deaf", "closed by server")
        # keep it open, unread, until the end
        while time.monotonic() < until and not r.at_eof():
            await asyncio.sleep(0.5)
        w.transport.abort()


async def garbage(port, until):
    while time.monotonic() < until:
        try:
            r, w = await connect(port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        stat("garbage", "opened")
        try:
            while time.monotonic() < until:
                w.write(os.urandom(4096))
                await asyncio.wait_for(w.drain(), 1.0)
                if r.at_eof():
                    break
                await asyncio.sleep(0.05)  # 80 KiB/s each: the attack, not
                # this process, is what the server should feel
            stat("garbage", "closed by server")
        except (asyncio.TimeoutError, ConnectionError, OSError):
            stat("garbage", "closed by server")
        w.transport.abort()
        await asyncio.sleep(0.05)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--slowloris", type=int, default=200)
    ap.add_argument("--deaf", type=int, default=10)
    ap.add_argument("--garbage", type=int, default=10)
    a = ap.parse_args()
    until = time.monotonic() + a.seconds
    tasks = [slowloris(a.port, until) for _ in range(a.slowloris)]
    tasks += [deaf(a.port, until) for _ in range(a.deaf)]
    tasks += [garbage(a.port, until) for _ in range(a.garbage)]
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), a.seconds + 15)
    for kind, s in sorted(STATS.items()):
        print(f"attackers: {kind}: {s['opened']} opened, {s['closed by server']} closed by server")


if __name__ == "__main__":
    asyncio.run(main())
