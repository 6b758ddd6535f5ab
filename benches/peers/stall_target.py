"""A keep-alive HTTP/1.1 target that answers 204 at once, except during a
stall: for the last STALL seconds of every EVERY seconds (of its own clock)
it holds every answer until the stall ends, as a server does in a long GC
pause or behind a saturated database.

    python3 stall_target.py PORT [EVERY] [STALL]
"""
import asyncio
import sys
import time

PORT = int(sys.argv[1])
EVERY = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
STALL = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
STARTED = time.monotonic()
ANSWER = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"


def stall_left():
    into = (time.monotonic() - STARTED) % EVERY
    return EVERY - into if into >= EVERY - STALL else 0.0


async def serve(reader, writer):
    try:
        while True:
            await reader.readuntil(b"\r\n\r\n")
            wait = stall_left()
            if wait:
                await asyncio.sleep(wait)
            writer.write(ANSWER)
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", PORT, backlog=1024)
    async with server:
        await server.serve_forever()


asyncio.run(main())
