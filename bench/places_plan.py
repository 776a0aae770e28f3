#!/usr/bin/env python3
"""Query plans and SQLite-only timings of the local feed's list query (bench/places.sh, diagnostic).

    python3 bench/places_plan.py <deals.db> <scratch dir> <emd.bin> <동 code> <sparse 동 code> [seconds per timing] [keep.db]

Copies the seeded database with SQLite's backup API (the server's file is only read), then, on
the copy, for the feed's queries — the SQL text exactly as `crates/deals/src/store.rs` (`list`,
`cells_within`, `nearest_sql`, `reach_key`) builds it for `GET /?code=<동>` (open deals within
5 km, newest first), its 10 km variant, the JSON API's (no status filter) and the same for a
sparse 동 (few deals around it), with the integers formatted in as Rust computes them — prints
its `EXPLAIN QUERY PLAN`, how many open deals lie in the grid cells it reads and how many are
within reach, and how long SQLite alone takes to run it and fetch the page (µs per query,
Python's sqlite3: no HTTP, no sqlx, no HTML). Then a few candidate changes ("what if"), each on
its own fresh copy and checked to return the same rows, so that their effect is measured rather
than guessed. Writes Markdown to stdout and a last line `RESULT key=value ...` for
bench/places.sh. With keep.db, the compact copy (no WAL) is left there for a closer look.

Python's SQLite is not the one bundled into gonggu (sqlx's libsqlite3-sys) and the loop has its
own overhead: compare rows with each other, not with the HTTP figures.
"""

import math
import os
import shutil
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from places_points import METRES_PER_DEGREE, _trunc_div, micro, reach_key, read_centres  # noqa: E402

COLUMNS = (
    "seq, id, host_id, host_login_id, title, description, category_id, product_url, total_price, shares_total, shares_taken, "
    "min_shares, items_per_share, unit, deadline, meeting_name, meeting_lat, meeting_lon, meeting_code, keywords, images, status, views, created_at"
)
BASE = f"SELECT {COLUMNS} FROM deals WHERE 1 = 1"
OPEN = " AND is_open = TRUE"
ORDER = " ORDER BY seq DESC, seq DESC LIMIT ?"
PAGE = 21  # limit 20 + 1

# store.rs
CELL_E6 = 15_625
CELL_COLUMNS = 360 * 64
NO_PLACE = 9_000_000_000_000_000_000


def cells_within(frm, metres):
    """store.rs `cells_within`: the cells of the bounding box (a little wider) whose nearest point
    is within reach."""
    dlat = metres / METRES_PER_DEGREE + 0.0001
    dlon = dlat / max(math.cos(math.radians(frm[0])), 0.01)
    lat_lo, lat_hi = max(micro(frm[0] - dlat), -90_000_000), min(micro(frm[0] + dlat), 89_999_999)
    lon_lo, lon_hi = max(micro(frm[1] - dlon), -180_000_000), min(micro(frm[1] + dlon), 179_999_999)
    row_lo, row_hi = (lat_lo + 90_000_000) // CELL_E6, (lat_hi + 90_000_000) // CELL_E6
    col_lo, col_hi = (lon_lo + 180_000_000) // CELL_E6, (lon_hi + 180_000_000) // CELL_E6
    lat0, lon0, k = micro(frm[0]), micro(frm[1]), micro(math.cos(math.radians(frm[0])))
    reach = reach_key(metres)

    def gap(at, lo, hi):
        return lo - at if at < lo else at - hi if at > hi else 0

    cells = []
    for r in range(row_lo, row_hi + 1):
        lat_min = r * CELL_E6 - 90_000_000
        dy = gap(lat0, lat_min, lat_min + CELL_E6 - 1)
        for c in range(col_lo, col_hi + 1):
            lon_min = c * CELL_E6 - 180_000_000
            dx = _trunc_div(gap(lon0, lon_min, lon_min + CELL_E6 - 1) * k, 1_000_000)
            if dy * dy + dx * dx <= reach:
                cells.append(r * CELL_COLUMNS + c)
    return cells


def nearest_sql(frm):
    lat0, lon0, k = micro(frm[0]), micro(frm[1]), micro(math.cos(math.radians(frm[0])))
    return (f"(CASE WHEN meeting_lat_e6 IS NULL OR meeting_lon_e6 IS NULL THEN {NO_PLACE} ELSE "
            f"(meeting_lat_e6 - ({lat0})) * (meeting_lat_e6 - ({lat0})) + "
            f"((meeting_lon_e6 - ({lon0})) * {k} / 1000000) * ((meeting_lon_e6 - ({lon0})) * {k} / 1000000) END)")


STATUS_OPEN = " AND status IN ('recruiting', 'confirmed')"


def feed(frm, metres, status=STATUS_OPEN, plus="+", seqs_first=True):
    """`list` with `within`, as store.rs builds it: the page's seqs from the cell index
    (`... AND meeting_cell IN (?, ...) AND <distance> <= <key> ORDER BY +seq DESC ...`), then
    their rows."""
    cells = cells_within(frm, metres)
    where = (status + " AND meeting_cell IN (" + ", ".join("?" for _ in cells)
             + f") AND {nearest_sql(frm)} <= {reach_key(metres)}")
    order = f" ORDER BY {plus}seq DESC, {plus}seq DESC LIMIT ?"
    if seqs_first:
        sql = f"SELECT {COLUMNS} FROM deals WHERE seq IN (SELECT seq FROM deals WHERE 1 = 1{where}{order}) ORDER BY seq DESC, seq DESC"
    else:
        sql = BASE + where + order
    return sql, tuple(cells) + (PAGE,)


def plan(con, sql, params):
    rows = con.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    return "; ".join(r[-1] for r in rows)


def short_plan(p, n=300):
    return p if len(p) <= n else p[:n] + " …"


def count(con, sql, params):
    inner = sql.split("seq IN (", 1)[1] if "seq IN (" in sql else sql
    return con.execute(f"SELECT count(*) FROM ({inner.split(' ORDER BY ', 1)[0]})", params[:-1]).fetchone()[0]


def in_cells(con, cells):
    return con.execute("SELECT count(*) FROM deals WHERE is_open = TRUE AND meeting_cell IN (" + ", ".join("?" for _ in cells) + ")",
                       tuple(cells)).fetchone()[0]


def time_us(con, sql, params, seconds):
    """The fastest of five rounds (each about seconds / 5): steadier on a shared machine."""
    con.execute(sql, params).fetchall()
    best = None
    for _ in range(5):
        n, t0 = 0, time.perf_counter()
        while True:
            con.execute(sql, params).fetchall()
            n += 1
            dt = time.perf_counter() - t0
            if dt >= seconds / 5 and n >= 3:
                break
        us = dt * 1e6 / n
        best = us if best is None else min(best, us)
    return best


def copy(src_path, dst_path):
    remove(dst_path)
    src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True)
    dst = sqlite3.connect(dst_path)
    src.backup(dst)
    src.close()
    return dst


def remove(path):
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)


def cell(s):
    return s.replace("|", "\\|")


def main():
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    src_path, scratch, emd, code, sparse_code = sys.argv[1:6]
    seconds = float(sys.argv[6]) if len(sys.argv) > 6 else 0.5
    keep = sys.argv[7] if len(sys.argv) > 7 else None
    centres = {str(p[0]): p for p in read_centres(emd)}
    for c in (code, sparse_code):
        if c not in centres:
            sys.exit(f"no 동 with code {c} in {emd}")
    origin, sparse = centres[code], centres[sparse_code]
    frm, sfrm = (origin[4], origin[5]), (sparse[4], sparse[5])
    os.makedirs(scratch, exist_ok=True)
    base_copy = os.path.join(scratch, "plan-base.db")
    con = copy(src_path, base_copy)
    total = con.execute("SELECT count(*) FROM deals").fetchone()[0]
    open_n = con.execute("SELECT count(*) FROM deals WHERE is_open = TRUE").fetchone()[0]
    indexes = ", ".join(f"`{r[0]}`" for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'deals' ORDER BY name"))
    has_stat = con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone()[0] > 0

    queries = {
        "feed5": (f"`GET /?code={code}` ({origin[3]}, 5 km, {len(cells_within(frm, 5000))} cells)", *feed(frm, 5000), cells_within(frm, 5000)),
        "feed10": (f"`GET /?code={code}&reach=10` (10 km, {len(cells_within(frm, 10000))} cells)", *feed(frm, 10000), cells_within(frm, 10000)),
        "api5": (f"`GET /api/v1/deals?place={code}&reach_km=5` (no `status`: no `is_open` term)", *feed(frm, 5000, status=""),
                 cells_within(frm, 5000)),
        "sparse5": (f"`GET /?code={sparse_code}` ({sparse[2]} {sparse[3]}, 5 km: few deals around)", *feed(sfrm, 5000), cells_within(sfrm, 5000)),
        "nation": ("`GET /?cursor=…` without the cursor (open deals nationwide, newest first)", BASE + OPEN + ORDER, (PAGE,), None),
    }
    print(f"On a copy of the seeded `deals.db`: {total} deals, {open_n} open; indexes on `deals`: {indexes}; "
          f"`ANALYZE` statistics: {'yes' if has_stat else 'none'}. SQLite {sqlite3.sqlite_version} (Python's; gonggu bundles its own). "
          f"Origins: {origin[3]} ({code}) at {frm[0]:.5f}, {frm[1]:.5f}; {sparse[3]} ({sparse_code}) at {sfrm[0]:.5f}, {sfrm[1]:.5f}. "
          f"Every query fetches a page of {PAGE} rows (limit 20 + 1), all {len(COLUMNS.split(','))} columns.")
    print()
    print("| query | open deals in the cells read | within reach | plan | SQLite µs/query |")
    print("| --- | ---: | ---: | --- | ---: |")
    now = {}
    for name, (what, sql, params, cells) in queries.items():
        us = time_us(con, sql, params, seconds)
        now[name] = us
        print(f"| {what} | {in_cells(con, cells) if cells else '—'} | {count(con, sql, params)} | `{cell(plan(con, sql, params))}` | {us:.0f} |")
    sql5, params5 = queries["feed5"][1], queries["feed5"][2]
    print()
    print("The 5 km query as gonggu sends it (its parameters inlined here for reading):")
    print()
    shown = sql5
    for p in params5:
        shown = shown.replace("?", str(p), 1)
    print("```sql")
    print(shown)
    print("```")
    con.close()
    result = " ".join(f"{name}_us={us:.1f}" for name, us in now.items())

    # Candidate changes, each on a fresh copy; each is a (DDL, query builder) applied to both
    # origins' 5 km feed.
    what_ifs = [
        ("`ANALYZE` once (planner statistics), query unchanged", ["ANALYZE"], lambda f: feed(f, 5000)),
        ("no unary `+` in the inner `ORDER BY` (the planner free to walk `deals_open_newest`)", [], lambda f: feed(f, 5000, plus="")),
        ("whole rows in one query, not the seqs first (every deal within reach read from the table)", [],
         lambda f: feed(f, 5000, seqs_first=False)),
    ]
    ref = sqlite3.connect(f"file:{base_copy}?mode=ro", uri=True)
    want = {k: [r[0] for r in ref.execute(*feed(f, 5000)).fetchall()] for k, f in (("o", frm), ("s", sfrm))}
    ref.close()
    print()
    print(f"What if (each on a fresh copy of the same data; the 5 km feed of {origin[3]} and of {sparse[3]}; "
          "every change returns the same rows as the query today):")
    print()
    print(f"| change | plan ({origin[3]}) | {origin[3]} µs/query | {sparse[3]} µs/query |")
    print("| --- | --- | ---: | ---: |")
    print(f"| as today | `{cell(short_plan(plan(sqlite3.connect(base_copy), sql5, params5)))}` | {now['feed5']:.0f} | {now['sparse5']:.0f} |")
    bad = []
    for i, (change, ddl, build) in enumerate(what_ifs):
        path = os.path.join(scratch, f"plan-whatif-{i}.db")
        c = copy(base_copy, path)
        for stmt in ddl:
            c.execute(stmt)
        c.commit()
        cols = []
        for k, f in (("o", frm), ("s", sfrm)):
            sql, params = build(f)
            got = [r[0] for r in c.execute(sql, params).fetchall()]
            if got != want[k]:
                bad.append(change)
            cols.append(time_us(c, sql, params, seconds))
        sql, params = build(frm)
        print(f"| {change} | `{cell(short_plan(plan(c, sql, params)))}` | {cols[0]:.0f} | {cols[1]:.0f} |")
        c.close()
        remove(path)
    if bad:
        print()
        print("**Returned other rows than today's query (a bug in this script, not a candidate):** " + "; ".join(bad))
    print()
    print(f"RESULT {result}")
    if keep:
        remove(keep)
        shutil.move(base_copy, keep)
    remove(base_copy)


if __name__ == "__main__":
    main()
