"""asyncio for AF_XDP sockets: wait for frames through the event loop.

An AF_XDP socket is readable (POLLIN) while its RX ring holds frames, so the
loop's reader callbacks (``loop.add_reader``) wake a coroutine exactly then.
Before waiting, :meth:`pyxsk.xsk.Socket.wakeup` kicks the driver if the kernel
set need_wakeup on the fill ring (zero-copy drivers sleep until told).

    async for frame in pyxsk.aio.frames(xsk):
        handle(frame)          # a memoryview, valid until the next batch
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

from .frames import Batch
from .xsk import GONE_CHECK_SECONDS, Socket


async def wait_readable(xsk: Socket) -> None:
    """Return once ``xsk`` has frames waiting (without blocking the loop).

    The reader callback never fires for a socket whose interface was
    deleted (AF_XDP's poll reports no event then), so the wait is cut in
    slices of GONE_CHECK_SECONDS and the socket checked after each:
    :class:`~pyxsk.errors.InterfaceGoneError` ends it."""
    if xsk.poll(0):
        return
    xsk.wakeup()
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def on_readable() -> None:
        if not ready.done():
            ready.set_result(None)

    fd = xsk.fileno()
    loop.add_reader(fd, on_readable)
    try:
        while not ready.done():
            await asyncio.wait([ready], timeout=GONE_CHECK_SECONDS)
            if not ready.done() and xsk.poll(0):
                return
    finally:
        loop.remove_reader(fd)


async def recv(xsk: Socket, max_frames: int = 64) -> Batch:
    """Wait for frames and take up to ``max_frames`` of them as a
    :class:`pyxsk.Batch` (the previous batch of this socket is released)."""
    while True:
        batch = xsk.recv(max_frames, timeout=0)
        if batch:
            return batch
        await wait_readable(xsk)


async def frames(xsk: Socket, max_frames: int = 64) -> AsyncIterator[memoryview]:
    """Every received frame, forever: ``async for frame in frames(xsk)``.

    Frames come in batches; a frame stays valid until the generator fetches
    the next batch (after the last frame of its own), so copy what you keep.
    """
    while True:
        batch = await recv(xsk, max_frames)
        for frame in batch:
            yield frame
