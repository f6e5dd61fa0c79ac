#!/usr/bin/env python3
"""delay.py LISTEN_PORT TARGET_PORT ONE_WAY_MS - a long path without root:
a TCP relay on 127.0.0.1 that accepts on LISTEN_PORT, connects each client
to TARGET_PORT and holds every byte ONE_WAY_MS milliseconds in each
direction (a round trip of twice that), order kept. No rate and no loss:
it shows what costs round trips, not what fills a link (wire.py does that,
as root). Prints 'ready' once it listens; runs until SIGTERM or SIGINT.
"""
import asyncio
import signal
import sys
import time


async def pump(reader, writer, delay):
    """Copies reader to writer, each chunk delay seconds after it came."""
    queue = asyncio.Queue()

    async def deliver():
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()

    task = asyncio.ensure_future(deliver())
    try:
        while True:
            data = await reader.read(1 << 20)
            queue.put_nowait((time.monotonic() + delay, data))
            if not data:
                break
    finally:
        await task


async def main():
    listen_port, target_port = int(sys.argv[1]), int(sys.argv[2])
    delay = float(sys.argv[3]) / 1000.0

    async def serve(client_r, client_w):
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pump(client_r, server_w, delay),
                             pump(server_r, client_w, delay),
                             return_exceptions=True)
        client_w.close()
        server_w.close()

    server = await asyncio.start_server(serve, "127.0.0.1", listen_port)
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    print("ready", flush=True)
    async with server:
        await stop


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    asyncio.run(main())
