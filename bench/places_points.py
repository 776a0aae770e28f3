#!/usr/bin/env python3
"""Meeting places for the 우리동네 benchmark (bench/places.sh): N points spread across Korea.

    python3 bench/places_points.py <emd.bin> <N> <seed> <out.tsv> [ORIGIN_CODE...]

Reads the 읍면동 centres straight from the gazetteer gonggu embeds (crates/places/data/emd.bin,
layout at the top of tools/gazetteer/derive.py) and writes N lines `lat<TAB>lon<TAB>code<TAB>name`,
one a deal, in a shuffled order (the seq order of the seeded deals, so "newest first" does not
walk one region after another). Every point is a 동's own centre: what the deal form's place
picker stores when a host picks a 동 (crates/deals/src/pages/form.rs), and a point that
reverse-resolves to its own 동 (derive.py checks that), so the server fills `meeting_code` with
the code written here.

Weighted like the population:
  * 45 % in the Seoul capital area: the 동 whose centre is within 30 km of Seoul city hall
    (37.5665, 126.9780);
  * 15 % around Busan: the 동 within 15 km of Busan city hall (35.1796, 129.0756);
  * 40 % over the rest of South Korea: every other 동 (읍면 included).
Within each group a deal picks a 동 uniformly (dense areas have small 동, so that follows density
too). Deterministic for a given seed and emd.bin.

Prints to stderr how many 동 each group has and, for each ORIGIN_CODE, how many of the N points
lie within 1/3/5/10 km of that 동's centre, with store.rs's own integer arithmetic
(`nearest_key` <= `reach_key`), also as `RESULT within_<code>_<km>km=<n>` lines.
"""

import math
import random
import sys

SCALE = 100_000
SEOUL = (37.5665, 126.9780)
BUSAN = (35.1796, 129.0756)
GROUPS = (("capital", SEOUL, 30_000, 0.45), ("busan", BUSAN, 15_000, 0.15))
REST_SHARE = 0.40
METRES_PER_DEGREE = 111_195.08


def read_centres(path):
    data = open(path, "rb").read()
    if data[:4] != b"GGPL" or data[4] != 1:
        sys.exit(f"{path}: not a version 1 GGPL file")
    pos = 5

    def varint():
        nonlocal pos
        n = shift = 0
        while True:
            b = data[pos]
            pos += 1
            n |= (b & 0x7F) << shift
            if b < 0x80:
                return n
            shift += 7

    def zigzag():
        n = varint()
        return (n >> 1) if n & 1 == 0 else -((n + 1) >> 1)

    strings = []
    for _ in range(varint()):
        n = varint()
        strings.append(data[pos:pos + n].decode("utf-8"))
        pos += n
    places = []
    code, cx, cy = 0, 0, 0
    for _ in range(varint()):
        code += varint()
        sido, sigungu, name = strings[varint()], strings[varint()], strings[varint()]
        cx += zigzag()
        cy += zigzag()
        places.append((code, sido, sigungu, name, cy / SCALE, cx / SCALE))
        for _ in range(varint()):  # parts
            for _ in range(varint()):  # rings
                for _ in range(varint()):  # points
                    varint()
                    varint()
    if pos != len(data):
        sys.exit(f"{path}: {len(data) - pos} trailing bytes")
    return places


def metres(a, b):
    """Equirectangular distance (cos of a's latitude), for choosing the groups."""
    dy = b[0] - a[0]
    dx = (b[1] - a[1]) * math.cos(math.radians(a[0]))
    return math.hypot(dy, dx) * METRES_PER_DEGREE


# The exact integer arithmetic of crates/deals/src/store.rs (`micro`, `nearest_key`, `reach_key`),
# so the counts "within reach" here are the server's to the deal.
def micro(deg):
    """Rust's `(deg * 1e6).round() as i64`: halves away from zero."""
    x = deg * 1_000_000.0
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def _trunc_div(a, b):
    """Integer division truncating toward zero, as Rust, SQLite and PostgreSQL divide."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def nearest_key(frm, lat, lon):
    lat0, lon0, k = micro(frm[0]), micro(frm[1]), micro(math.cos(math.radians(frm[0])))
    dy = micro(lat) - lat0
    dx = _trunc_div((micro(lon) - lon0) * k, 1_000_000)
    return dy * dy + dx * dx


def reach_key(metres_):
    r = math.floor(metres_ / METRES_PER_DEGREE * 1_000_000.0)
    return r * r


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    path, n, seed, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    origin_codes = sys.argv[5:]
    places = read_centres(path)
    groups, taken = [], set()
    for name, centre, radius, share in GROUPS:
        members = [p for p in places if p[0] not in taken and metres(centre, (p[4], p[5])) <= radius]
        taken.update(p[0] for p in members)
        groups.append((name, members, share))
    groups.append(("rest", [p for p in places if p[0] not in taken], REST_SHARE))

    rng = random.Random(seed)
    points = []
    for i, (name, members, share) in enumerate(groups):
        count = round(n * share) if i < len(groups) - 1 else n - len(points)
        points.extend(rng.choice(members) for _ in range(count))
        print(f"{name}: {len(members)} 동, {count} deals", file=sys.stderr)
    rng.shuffle(points)
    with open(out, "w", encoding="utf-8") as f:
        for code, _sido, _sigungu, name, lat, lon in points:
            f.write(f"{lat:.5f}\t{lon:.5f}\t{code}\t{name}\n")
    for origin_code in origin_codes:
        o = next((p for p in places if str(p[0]) == origin_code), None)
        if o is None:
            sys.exit(f"no 동 with code {origin_code}")
        for km in (1, 3, 5, 10):
            key = reach_key(km * 1000.0)
            k = sum(1 for p in points if nearest_key((o[4], o[5]), p[4], p[5]) <= key)
            print(f"within {km} km of {o[1]} {o[2]} {o[3]} ({origin_code}): {k} deals", file=sys.stderr)
            print(f"RESULT within_{origin_code}_{km}km={k}", file=sys.stderr)
    print(f"places: {len(places)}", file=sys.stderr)


if __name__ == "__main__":
    main()
