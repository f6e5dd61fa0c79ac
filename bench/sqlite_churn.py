#!/usr/bin/env python3
"""sqlite_churn.py - the SQLite workload of bench/sync.sh: a database of
realistic rows, and a copy of it after a share of its rows changed.

  sqlite_churn.py make DB ROWS SEED
      makes DB (it must not exist) with ROWS rows in table orders: id,
      customer, email, city, status, amount, qty, created, note; about
      250 bytes a row. The same ROWS and SEED give the same rows.
  sqlite_churn.py churn OLD NEW PERCENT SEED
      copies OLD to NEW, then updates PERCENT percent of its rows, picked
      at random (seeded): UPDATE orders SET status, amount, qty, note
      WHERE id IN (the sample). The same OLD, PERCENT and SEED give the
      same changes.

Both write with journal_mode=DELETE and synchronous=OFF: the file is a
plain database, no -wal beside it, made fast. Nothing here is timed.
"""
import os
import random
import shutil
import sqlite3
import sys

FIRST = ("Ada Alan Barbara Claude Dennis Donald Edsger Frances Grace John "
         "Ken Leslie Linus Margaret Niklaus Radia Rob Sophie Tim Tony").split()
LAST = ("Lovelace Turing Liskov Shannon Ritchie Knuth Dijkstra Allen Hopper "
        "Backus Thompson Lamport Torvalds Hamilton Wirth Perlman Pike Wilson "
        "Berners-Lee Hoare").split()
CITIES = ("Amsterdam Berlin Cairo Dublin Edinburgh Florence Geneva Helsinki "
          "Istanbul Jakarta Kyoto Lisbon Madrid Nairobi Oslo Prague Quito "
          "Reykjavik Seoul Toronto Utrecht Valencia Warsaw Zurich").split()
STATUS = "new paid packed shipped delivered returned cancelled".split()
WORDS = ("the order was left at the front door as asked please call before "
         "delivery fragile handle with care gift wrap requested customer asked "
         "for an invoice with the company name partial shipment rest follows "
         "next week address changed after checkout refund issued for damaged "
         "item express delivery upgrade free of charge loyal customer").split()
BATCH = 10000


def note(rng):
    words = []
    n = rng.randint(80, 180)
    while sum(len(w) + 1 for w in words) < n:
        words.append(rng.choice(WORDS))
    return " ".join(words)


def row(rng, i):
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return (i, f"{first} {last}",
            f"{first.lower()}.{last.lower()}{rng.randint(1, 999)}@example.org",
            rng.choice(CITIES), rng.choice(STATUS),
            round(rng.uniform(1, 2000), 2), rng.randint(1, 20),
            f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
            f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
            f"{rng.randint(0, 59):02d}Z", note(rng))


def connect(path):
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=DELETE")
    db.execute("PRAGMA synchronous=OFF")
    return db


def make(path, rows, seed):
    if os.path.exists(path):
        sys.exit(f"sqlite_churn.py: {path} exists")
    rng = random.Random(seed)
    db = connect(path)
    db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, "
               "email TEXT, city TEXT, status TEXT, amount REAL, qty INTEGER, "
               "created TEXT, note TEXT)")
    for start in range(1, rows + 1, BATCH):
        end = min(start + BATCH, rows + 1)
        db.executemany("INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?)",
                       [row(rng, i) for i in range(start, end)])
    db.commit()
    db.close()


def churn(old, new, percent, seed):
    shutil.copyfile(old, new)
    rng = random.Random(seed)
    db = connect(new)
    (rows,) = db.execute("SELECT max(id) FROM orders").fetchone()
    sample = sorted(rng.sample(range(1, rows + 1), max(1, rows * percent // 100)))
    db.executemany("UPDATE orders SET status = ?, amount = ?, qty = ?, note = ? "
                   "WHERE id = ?",
                   [(rng.choice(STATUS), round(rng.uniform(1, 2000), 2),
                     rng.randint(1, 20), note(rng), i) for i in sample])
    db.commit()
    db.close()
    print(f"{len(sample)} of {rows} rows updated")


def main(argv):
    if len(argv) == 5 and argv[1] == "make":
        make(argv[2], int(argv[3]), int(argv[4]))
    elif len(argv) == 6 and argv[1] == "churn":
        churn(argv[2], argv[3], int(argv[4]), int(argv[5]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
