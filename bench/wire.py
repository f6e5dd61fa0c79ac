#!/usr/bin/env python3
"""wire.py NS_A NS_B DEV RATE_MBIT DELAY_MS [QUEUE_PACKETS] - a slow link in
user space, for kernels without sch_netem (slowlink.sh uses it then).

It opens a TUN device named DEV in each of the two network namespaces NS_A
and NS_B (as made by 'ip netns add') and forwards every packet from one to
the other, as a link would: each direction serialises packets at RATE_MBIT
megabits per second, then holds each one DELAY_MS milliseconds (netem's
'rate R delay D' on each end). A packet that finds more than QUEUE_PACKETS
(default 1000, netem's default limit) worth of bytes waiting is dropped, as
a full router queue drops it. Packets never leave the two devices: nothing
is routed anywhere else.

It prints 'ready' on standard output once both devices exist (the caller
then gives them addresses and brings them up), runs until SIGTERM or SIGINT,
and then prints counters on standard error. The devices vanish with it.
"""
import ctypes
import fcntl
import os
import select
import signal
import struct
import sys
import time
from collections import deque

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000
MTU_GUESS = 1514  # bytes of a full frame, for the queue limit


def tun_in(libc, ns, dev):
    nsfd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(nsfd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {ns}: {os.strerror(err)}")
    finally:
        os.close(nsfd)
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", dev.encode(), IFF_TUN | IFF_NO_PI))
    return fd


class Direction:
    def __init__(self, src, dst, bits_per_s, delay_s, queue_bytes):
        self.src, self.dst = src, dst
        self.s_per_byte = 8.0 / bits_per_s if bits_per_s > 0 else 0.0
        self.delay = delay_s
        self.queue_s = queue_bytes * self.s_per_byte
        self.next_free = 0.0
        self.q = deque()
        self.passed = self.dropped = self.write_errors = 0

    def take(self, now):
        # Read what is there (bounded, so the other direction gets its turn).
        for _ in range(256):
            try:
                pkt = os.read(self.src, 65536)
            except BlockingIOError:
                return
            start = self.next_free if self.next_free > now else now
            if start - now > self.queue_s:
                self.dropped += 1
                continue
            self.next_free = start + len(pkt) * self.s_per_byte
            self.q.append((self.next_free + self.delay, pkt))

    def give(self, now):
        q = self.q
        while q and q[0][0] <= now:
            _, pkt = q.popleft()
            try:
                os.write(self.dst, pkt)
                self.passed += 1
            except OSError:
                # the device is down or its queue full: a lost packet.
                self.write_errors += 1

    def due(self):
        return self.q[0][0] if self.q else None


def main():
    if len(sys.argv) not in (6, 7):
        sys.exit(__doc__.split("\n\n")[0])
    ns_a, ns_b, dev = sys.argv[1:4]
    rate_bps = float(sys.argv[4]) * 1e6
    delay_s = float(sys.argv[5]) / 1000.0
    queue_bytes = int(sys.argv[6] if len(sys.argv) == 7 else 1000) * MTU_GUESS
    libc = ctypes.CDLL(None, use_errno=True)
    fa = tun_in(libc, ns_a, dev)
    fb = tun_in(libc, ns_b, dev)
    ab = Direction(fa, fb, rate_bps, delay_s, queue_bytes)
    ba = Direction(fb, fa, rate_bps, delay_s, queue_bytes)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    print("ready", flush=True)
    poller = select.epoll()
    poller.register(fa, select.EPOLLIN)
    poller.register(fb, select.EPOLLIN)
    by_fd = {fa: ab, fb: ba}
    clock = time.monotonic
    while not stop:
        now = clock()
        due = [d for d in (ab.due(), ba.due()) if d is not None]
        timeout_s = -1 if not due else max(0.0, min(due) - now)
        try:
            events = poller.poll(timeout_s)
        except InterruptedError:
            continue
        now = clock()
        for fd, _ in events:
            by_fd[fd].take(now)
        ab.give(now)
        ba.give(now)
    for name, d in (("a->b", ab), ("b->a", ba)):
        print(f"wire {name}: {d.passed} packets passed, {d.dropped} dropped (queue full), "
              f"{d.write_errors} lost on write", file=sys.stderr)


if __name__ == "__main__":
    main()
