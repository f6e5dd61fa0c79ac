#!/usr/bin/env python3
"""sync_tree.py - bench/sync.sh's small stand-in for two releases of a
source tree (QUICK=1), made from a seed, so that a smoke run needs no
download.

  sync_tree.py OLD NEW FILES SEED

makes OLD: FILES files in nested folders (source-like text lines, a few
binary files, sizes from a few hundred bytes to 1 MiB, about 25 KB on
average), two symbolic links and an empty folder; and NEW: OLD after a
release's worth of change: 5% of the files edited (lines inserted,
deleted and changed at random places), 1% removed, 1% added, one folder
renamed. Every file of OLD has one mtime and every file of NEW a later
one, as the files of two unpacked release tarballs do. OLD and NEW must
not exist. The same FILES and SEED give the same trees.
"""
import os
import random
import shutil
import sys

OLD_MTIME = 1767225600          # 2026-01-01, the older release
NEW_MTIME = OLD_MTIME + 30 * 86400
TOKENS = ("static int struct void return if else for while unsigned long "
          "const char size_t err goto out NULL sizeof break case switch "
          "u32 u64 dev buf len flags lock unlock spin_lock mutex kfree "
          "kmalloc GFP_KERNEL EINVAL ENOMEM pr_err dev_dbg list_head").split()


def line_pool(rng, n):
    pool = []
    for _ in range(n):
        depth = "\t" * rng.randint(0, 3)
        words = " ".join(rng.choice(TOKENS) for _ in range(rng.randint(1, 12)))
        pool.append(f"{depth}{words};\n".encode())
    return pool


def text(rng, pool, size):
    out, n = [], 0
    while n < size:
        piece = rng.choice(pool)
        out.append(piece)
        n += len(piece)
    return b"".join(out)


def file_size(rng):
    return min(1 << 20, max(200, int(rng.lognormvariate(9.3, 1.2))))


def write(path, data, mtime):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path, (mtime, mtime))


def make_old(root, files, rng, pool):
    names = []
    for i in range(files):
        folder = f"d{rng.randint(0, 39):02d}/s{rng.randint(0, 7)}"
        name = f"{folder}/f{i:05d}.{'bin' if i % 50 == 0 else 'c'}"
        size = file_size(rng)
        data = rng.randbytes(size) if i % 50 == 0 else text(rng, pool, size)
        write(os.path.join(root, name), data, OLD_MTIME)
        names.append(name)
    os.makedirs(os.path.join(root, "empty"))
    os.symlink("d00", os.path.join(root, "link-to-d00"))
    os.symlink(names[0], os.path.join(root, "link-to-first"))
    return names


def edit(rng, pool, data):
    lines = data.splitlines(keepends=True) or [b""]
    for _ in range(rng.randint(1, 6)):
        at = rng.randrange(len(lines))
        what = rng.random()
        if what < 0.4:
            lines[at:at] = [rng.choice(pool) for _ in range(rng.randint(1, 20))]
        elif what < 0.7:
            del lines[at:at + rng.randint(1, 10)]
        else:
            lines[at] = rng.choice(pool)
    return b"".join(lines)


def make_new(old, new, names, rng, pool):
    shutil.copytree(old, new, symlinks=True)
    for name in rng.sample(names, len(names) // 100):
        os.remove(os.path.join(new, name))
    for name in rng.sample(names, len(names) // 20):
        path = os.path.join(new, name)
        if os.path.exists(path) and not name.endswith(".bin"):
            with open(path, "rb") as f:
                data = f.read()
            write(path, edit(rng, pool, data), NEW_MTIME)
    for i in range(len(names) // 100):
        write(os.path.join(new, f"d{rng.randint(0, 39):02d}/new{i:04d}.c"),
              text(rng, pool, file_size(rng)), NEW_MTIME)
    os.rename(os.path.join(new, "d39"), os.path.join(new, "d39-renamed"))
    for top, _, leaves in os.walk(new):
        for leaf in leaves:
            path = os.path.join(top, leaf)
            if not os.path.islink(path):
                os.utime(path, (NEW_MTIME, NEW_MTIME))


def main(argv):
    if len(argv) != 5:
        sys.exit(__doc__)
    old, new, files, seed = argv[1], argv[2], int(argv[3]), int(argv[4])
    if os.path.exists(old) or os.path.exists(new):
        sys.exit(f"sync_tree.py: {old} or {new} exists")
    rng = random.Random(seed)
    pool = line_pool(rng, 5000)
    names = make_old(old, files, rng, pool)
    make_new(old, new, names, rng, pool)


if __name__ == "__main__":
    main(sys.argv)
