#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets from docs/PROTOCOL.md's
encodings. Run it from tests/fuzz/ after a change to the wire format; the
corpus it writes is committed, so CI needs no Python."""
import hashlib
import os
import struct
import zlib


def frame(t, p=b''):
    return struct.pack('>IB', len(p), t) + p


MAGIC = b'\x89FT\n'
PLAIN = 0x9  # ZLIB | PLAINTEXT: the targets run the plaintext channel
LIST_PACKED = 0x400


def hello(feat=PLAIN):
    return frame(1, MAGIC + struct.pack('>HI', 2, feat))


def welcome(feat=PLAIN):
    return frame(2, MAGIC + struct.pack('>HII', 2, feat, 262208))


def s(b):
    return struct.pack('>H', len(b)) + b


def put(name, size, flags=2, mtime=1700000000, mode=0o644):
    return frame(4, struct.pack('>IQ', flags, size) + s(name) + struct.pack('>qI', mtime, mode))


def get(name, flags=2):
    return frame(5, struct.pack('>I', flags) + s(name))


def ls(folder=b'', flags=0):
    return frame(6, struct.pack('>I', flags) + s(folder))


def rm(name, flags=0):
    return frame(7, struct.pack('>I', flags) + s(name))


def data(b):
    return frame(9, b)


def dataz(b):
    return frame(10, struct.pack('>I', len(b)) + zlib.compress(b))


def end(b):
    return frame(11, struct.pack('>Q', len(b)) + hashlib.blake2b(b, digest_size=32).digest())


def ready(size=0, mtime=0, mode=0, offset=0):
    return frame(8, struct.pack('>QqIQ', size, mtime, mode, offset))


CHUNK = 4 * 1024 * 1024


def sums(digests=b'', size=0, mtime=0):
    return frame(19, struct.pack('>IQq', CHUNK, size, mtime) + digests)


def resume_at(offset):
    return frame(20, struct.pack('>Q', offset))


def keepalive():
    return frame(18)


def done(n):
    return frame(12, struct.pack('>Q', n))


def entry(name, size, mtime, mode=0o100644):
    return frame(13, struct.pack('>QqI', size, mtime, mode) + s(name))


def varint(n):
    out = b''
    while n >= 0x80:
        out += bytes([n & 0x7f | 0x80])
        n >>= 7
    return out + bytes([n])


def entries(items, prev=b'', prev_mtime=0):
    """An ENTRIES frame (PROTOCOL.md 5.29) of (name, size, mtime, mode)."""
    p = b''
    for name, size, mtime, mode in items:
        k = 0
        while k < min(len(name), len(prev)) and name[k] == prev[k]:
            k += 1
        d = (mtime - prev_mtime) & (2**64 - 1)
        z = ((d << 1) ^ (2**64 - 1 if d >> 63 else 0)) & (2**64 - 1)
        p += varint(k) + varint(len(name) - k) + name[k:] + varint(size) + varint(z) + varint(mode)
        prev, prev_mtime = name, mtime
    return frame(33, p)


def err(code, text):
    return frame(3, struct.pack('>H', code) + text)


def stat(name):
    return frame(15, s(name))


def move(a, b):
    return frame(17, s(a) + s(b))


def mkdir(name, flags=0):
    return frame(21, struct.pack('>I', flags) + s(name))


def stripe(offset, length):
    return frame(24, struct.pack('>QI', offset, length))


def join(ticket=bytes(16), proof=bytes(32)):
    return frame(23, ticket + proof)


def usage():
    return frame(25)


def usage_info(used=0, pending=0, quota=2**64 - 1, files=0, pending_files=0,
               quota_files=2**64 - 1):
    return frame(26, struct.pack('>6Q', used, pending, quota, files, pending_files,
                                 quota_files))


USAGE = 0x100
UNIT = 1024 * 1024
STRIPED = 0x20


DELTA = 0x200
CHUNKS = 0x40


def touch(name, digest, mtime=1700000000, mode=0o755):
    return frame(27, struct.pack('>qI', mtime, mode) + digest + s(name))


# TOUCHES (touches.h): a salt, then (name, mtime, mode, tag) entries, the
# names prefix-coded and the mtimes delta-coded as ENTRIES'.
def touches_payload(items, salt=bytes(16)):
    out, prev, prev_mtime = salt, b'', 0
    for name, mtime, mode, tag in items:
        k = 0
        while k < min(len(name), len(prev)) and name[k] == prev[k]:
            k += 1
        d = (mtime - prev_mtime) % 2**64
        zz = ((d << 1) ^ (2**64 - 1 if d >> 63 else 0)) % 2**64
        out += varint(k) + varint(len(name) - k) + name[k:] + varint(zz) + varint(mode) + tag
        prev, prev_mtime = name, mtime
    return out


def touches(items, salt=bytes(16)):
    return frame(34, touches_payload(items, salt))


def write(folder, seeds):
    os.makedirs(folder, exist_ok=True)
    for name, content in seeds.items():
        with open(os.path.join(folder, name), 'wb') as f:
            f.write(content)


c = b'hello'
text = b'the quick brown fox jumps over the lazy dog\n' * 50
write('corpus/server', {
    'hello': hello(),
    'list': hello() + ls(),
    'put-get-rm': hello() + put(b'a', 5) + data(c) + end(c) + get(b'a') + done(5) + rm(b'a') + ls(),
    'put-z': hello() + put(b'text.txt', len(text), 3 | 4, 1600000000, 0o755) + dataz(text) + end(text)
             + get(b'text.txt', 3) + done(len(text)),
    'put-unknown-size': hello() + put(b'b', 2**64 - 1) + data(c) + data(c) + end(c + c),
    'bad-name': hello() + put(b'../x', 5) + get(b'/etc/passwd') + rm(b'..'),
    'stat-move': hello() + put(b'a', 5, 6) + data(c) + end(c) + stat(b'a') + move(b'a', b'b')
                 + stat(b'b') + move(b'b', b'../c'),
    'folders': hello() + put(b'd/e/f.txt', 5) + data(c) + end(c) + ls(b'd', 1) + stat(b'd')
               + move(b'd/e', b'g/h') + rm(b'g', 1) + ls(),
    'resume-get': hello() + put(b'r', 5) + data(c) + end(c)
                  + get(b'r', 2 | 8) + sums(hashlib.blake2b(c, digest_size=32).digest(), 5, 1700000000)
                  + sums() + done(5) + keepalive(),
    'resume-put': hello() + put(b'p', 5, 2 | 4 | 8) + resume_at(0) + data(c) + end(c),
    'mkdir': hello(PLAIN | 0x40) + mkdir(b'd/e/f', 1) + mkdir(b'd') + mkdir(b'd/e/f', 1)
             + mkdir(b'g/h') + mkdir(b'../x', 1) + mkdir(b'.ft/x', 1) + ls(b'd', 1) + rm(b'd', 1),
    # A file of one unit goes as usual after STREAMS 0; one of two units
    # takes STRIPEs (its short last unit, then one off the grid); a JOIN
    # of a transfer that does not exist is refused.
    'striped': hello(PLAIN | 0x80) + put(b's', 5, 2 | STRIPED) + data(c) + end(c)
               + put(b't', UNIT + 1, 2 | STRIPED) + stripe(UNIT, 1) + data(b'x')
               + stripe(3, 1) + data(b'y'),
    'join': hello(PLAIN | 0x80) + join(),
    'usage': hello(PLAIN | USAGE) + usage() + put(b'u', 5) + data(c) + end(c) + usage()
             + frame(25, b'x'),
    # TOUCH of the same content, another, a folder, a missing name; a PUT
    # that asks for its chunk list (too small to get one)
    'touch': hello(PLAIN | DELTA) + put(b'a', 5, 2 | CHUNKS) + data(c) + end(c)
             + touch(b'a', hashlib.blake2b(c, digest_size=32).digest())
             + touch(b'a', bytes(32), 1, 0) + put(b'd/e', 5) + data(c) + end(c)
             + touch(b'd', bytes(32)) + touch(b'missing', bytes(32)) + stat(b'a'),
    # a packed listing, asked for with the bit and without it (refused)
    'list-packed': hello(PLAIN | LIST_PACKED) + put(b'd/a', 5) + data(c) + end(c)
                   + ls(b'', 3) + ls(b'd', 2),
    'list-packed-refused': hello() + ls(b'', 2) + ls(),
    'http': b'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
    'text': b'Hello, Server! This is Client.\n',
    'huge-length': b'\xff\xff\xff\xff\x01',
})
up = b'fuzz upload\0'
write('corpus/client', {
    # the first byte picks the order of operations: 2 bits each,
    # 0 list, 1 get, 2 put, 3 rm
    'list-get-put-rm': bytes([0 | 1 << 2 | 2 << 4 | 3 << 6]) + welcome()
                       + entry(b'a', 5, 1700000000) + entry(b'd', 0, 1700000000, 0o40755) + done(2)
                       + ready(5, 1700000000, 0o755) + data(c) + end(c) + ready() + done(len(up)) + done(0),
    'get-z': bytes([1 | 1 << 2]) + welcome() + ready(len(text), 0, 0o644) + dataz(text) + end(text)
             + err(13, b"no such file 'name'"),
    'busy': bytes([0]) + err(17, b'server busy'),
    'not-ft': bytes([0]) + b'SSH-2.0-OpenSSH_9.2\r\n',
    'refusals': bytes([2 | 3 << 2]) + welcome() + err(16, b'server is read-only')
                + err(16, b'server is read-only'),
    # four lists, then df: its answer, or refusals of the rights
    'usage': bytes([0]) + welcome(PLAIN | USAGE) + done(0) * 4
             + usage_info(1000, 5, 1 << 20, 3, 1, 100),
    'rights': bytes([2 | 3 << 2 | 1 << 4]) + welcome(PLAIN | USAGE)
              + err(27, b'not allowed: this client may not write (its allow= is list,read)')
              + err(27, b'not allowed: this client may not delete (its allow= is list,read)')
              + err(28, b'quota exceeded: 10 of 10 files used') + done(0) + keepalive()
              + usage_info(),
    'keepalives': bytes([0 | 1 << 2]) + welcome() + keepalive() + done(0) + keepalive()
                  + ready(5, 0, 0o644) + keepalive() + data(c) + end(c),
    # packed listings: two frames whose names share prefixes across them;
    # then one whose prefix runs past the previous name
    'entries': bytes([0 | 1 << 2]) + welcome(PLAIN | LIST_PACKED)
               + entries([(b'd', 0, 1700000000, 0o40755), (b'd/a.c', 5, 1700000003, 0o100644)])
               + entries([(b'd/b.c', 7, 1699999999, 0o100755)], b'd/a.c', 1700000003) + done(3)
               + ready(5, 1700000000, 0o644) + data(c) + end(c),
    'entries-bad-prefix': bytes([0]) + welcome(PLAIN | LIST_PACKED)
                          + entries([(b'ab', 1, 1, 0o100644)])
                          + frame(33, b'\x05\x01x\x00\x00\xa4\x83\x02') + done(2),
})


# fuzz_delta: its old version (fuzz_delta.c makes the same bytes) and the
# cut rule of PROTOCOL.md 9.12, so that the seeds copy real chunks.
def gear_table():
    x, out = 0x667420676561722e, []
    for _ in range(256):
        x = (x + 0x9e3779b97f4a7c15) & (2**64 - 1)
        z = x
        z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & (2**64 - 1)
        z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & (2**64 - 1)
        out.append(z ^ (z >> 31))
    return out


def cut(b, level=0):
    gear, bits = gear_table(), 11 + level
    avg = 1 << bits
    lo, hi = avg // 4, avg * 8
    small = ((1 << (bits + 2)) - 1) << (64 - bits - 2)
    large = ((1 << (bits - 2)) - 1) << (64 - bits + 2)
    chunks, start = [], 0
    while start < len(b):
        end, h = min(start + lo, len(b)), 0
        while end < len(b):
            h = ((h << 1) + gear[b[end]]) & (2**64 - 1)
            end += 1
            n = end - start
            if h & (small if n < avg else large) == 0 or n >= hi:
                break
        chunks.append(b[start:end])
        start = end
    return chunks


def chunk_hash(b):
    return int.from_bytes(hashlib.blake2b(b, digest_size=32).digest()[:8], 'little')


def chunks_frame(entries, level=0):
    return frame(30, bytes([level]) + b''.join(struct.pack('>IQ', n, h) for n, h in entries))


def dcopy(first, count):
    return frame(31, struct.pack('>II', first, count))


def dchunk(n):
    return frame(32, struct.pack('>I', n))


old = bytes(((i * 2654435761) & 0xffffffff) >> 13 & 0xff for i in range(96 * 1024))
old_chunks = cut(old)
new = old_chunks[0] + b'inserted' * 10 + b''.join(old_chunks[1:3])
lit = b'inserted' * 10
write('corpus/delta', {
    'recv-copy-literal': b'\0' + dcopy(0, 1) + dchunk(len(lit)) + data(lit) + dcopy(1, 2) + end(new),
    'recv-literal-z': b'\0' + dchunk(len(text)) + dataz(text) + end(text),
    'recv-bad-digest': b'\0' + dcopy(0, 3) + frame(11, struct.pack('>Q', 0) + bytes(32)),
    'recv-out-of-range': b'\0' + dcopy(len(old_chunks) - 1, 2),
    'sign-and-send': b'\1' + chunks_frame([(len(x), chunk_hash(x)) for x in old_chunks[:5]])
                     + chunks_frame([]),
    'sign-empty': b'\1' + chunks_frame([], 3),
})
DELTA = PLAIN | 0x200
write('corpus/server', {
    'delta-put': hello(DELTA) + frame(28, struct.pack('>IQqI', 2, len(c), 0, 0o644) + s(b'd'))
                 + dchunk(len(c)) + data(c) + end(c),
    'delta-get': hello(DELTA) + frame(29, struct.pack('>I', 0) + s(b'd'))
                 + chunks_frame([(5, chunk_hash(c))]) + chunks_frame([]) + done(5),
})


# A chunk list as the store keeps it (store_chunks.c), for fuzz_chunks: the
# first byte asks the harness to fix the magic (1) and the stamp (2) of its
# file of 300 KiB, "f".
def chunk_list(entries, name=b'f', level=0, count=None, magic=b'ftchunk1'):
    n = len(entries) if count is None else count
    head = magic + struct.pack('>B3xIQ', level, len(name), n) + bytes(48)
    return head + b''.join(struct.pack('>IQ', ln, h) for ln, h in entries) + name


even = [(2048, i * 0x9e3779b97f4a7c15 % 2**64) for i in range(150)]
uneven = [(2048, i) for i in range(148)] + [(3072, 1), (1024, 2)]
write('corpus/chunks', {
    'valid': bytes([3]) + chunk_list(even),
    'uneven': bytes([3]) + chunk_list(uneven),
    'stale-stamp': bytes([1]) + chunk_list(even),
    'too-long': bytes([3]) + chunk_list([(20000, 0)] + even[1:]),
    'short-sum': bytes([3]) + chunk_list(even[1:]),
    'bad-name': bytes([3]) + chunk_list(even, name=b'../f'),
    'empty': bytes([3]),
})
TOUCH_PACKED = 0x800
one = [(b'a', 1700000000, 0o644, bytes(16)), (b'ab', 1700000001, 0o755, bytes(16)),
       (b'missing', 1, 0o644, bytes(16))]
write('corpus/server', {
    'touches': hello(PLAIN | DELTA | TOUCH_PACKED) + put(b'a', 5, 2 | CHUNKS) + data(c) + end(c)
               + touches(one) + ls(),
    'touches-too-many': hello(PLAIN | DELTA | TOUCH_PACKED)
                        + touches([(b'a', 1, 0o644, bytes(16))] * 257) + ls(),
    'touches-cut': hello(PLAIN | DELTA | TOUCH_PACKED) + frame(34, bytes(20)) + ls(),
    'touches-not-negotiated': hello(PLAIN | DELTA) + touches(one) + ls(),
})
# For fuzz_touches: a TOUCHES payload, or (first byte 1) a TOUCHED answer
# for the number of entries its second byte says.
write('corpus/touches', {
    'request': bytes([0]) + touches_payload(one),
    'request-long-name': bytes([0]) + touches_payload([(b'x' * 300, 5, 0o600, bytes(16))]),
    'answer': bytes([1, 10]) + bytes([0x05, 0x00]) + varint(1) + varint(13) + varint(9) + varint(12),
    'answer-stray-bit': bytes([1, 3]) + bytes([0xff]),
})
write('regressions/chunks', {
    # count * 12 wraps to 8 in 64 bits
    'count-wraps': bytes([3]) + chunk_list(even[:1], count=0x1555555555555556),
})
