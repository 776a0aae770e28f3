#!/usr/bin/env python3
"""Query plans and SQLite-only timings of the local feed's list query (bench/places.sh, diagnostic).

    python3 bench/places_plan.py <deals.db> <scratch dir> <emd.bin> <동 code> [seconds per timing]

Copies the seeded database with SQLite's backup API (the server's file is only read), then, on
the copy, for the feed's queries — the SQL text exactly as `crates/deals/src/store.rs` (`list`,
`cells_within`, `nearest_sql`, `reach_key`) builds it for `GET /?code=<동>` (open deals within
5 km, newest first) and its 10 km variant, with the integers formatted in as Rust computes them —
prints its `EXPLAIN QUERY PLAN`, how many open deals lie in the grid cells it reads and how many
are within reach, and how long SQLite alone takes to run it and fetch the page (µs per query,
Python's sqlite3: no HTTP, no sqlx, no HTML). Then a few candidate changes ("what if"), each on
its own fresh copy, so that their effect is measured rather than guessed. Writes Markdown to
stdout and a last line `RESULT key=value ...` for bench/places.sh.

Python's SQLite is not the one bundled into gonggu (sqlx's libsqlite3-sys) and the loop has its
own overhead: compare rows with each other, not with the HTTP figures.
"""

import math
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from places_points import METRES_PER_DEGREE, micro, reach_key, read_centres  # noqa: E402

COLUMNS = (
    "seq, id, host_id, host_login_id, title, description, category_id, product_url, total_price, shares_total, shares_taken, "
    "min_shares, items_per_share, unit, deadline, meeting_name, meeting_lat, meeting_lon, meeting_code, keywords, images, status, views, created_at"
)
BASE = f"SELECT {COLUMNS} FROM deals WHERE 1 = 1"
OPEN = " AND is_open = TRUE"
ORDER = " ORDER BY seq DESC, seq DESC LIMIT ?"
PAGE = 21  # limit 20 + 1

# store.rs
CELL_E6 = 125_000
CELL_COLUMNS = 4096
NO_PLACE = 9_000_000_000_000_000_000


def cells_within(frm, metres, cell_e6=CELL_E6, columns=CELL_COLUMNS):
    dlat = metres / METRES_PER_DEGREE
    dlon = dlat / max(math.cos(math.radians(frm[0])), 0.01)
    lat_lo, lat_hi = max(micro(frm[0] - dlat), -90_000_000), min(micro(frm[0] + dlat), 89_999_999)
    lon_lo, lon_hi = max(micro(frm[1] - dlon), -180_000_000), min(micro(frm[1] + dlon), 179_999_999)
    row_lo, row_hi = (lat_lo + 90_000_000) // cell_e6, (lat_hi + 90_000_000) // cell_e6
    col_lo, col_hi = (lon_lo + 180_000_000) // cell_e6, (lon_hi + 180_000_000) // cell_e6
    return [r * columns + c for r in range(row_lo, row_hi + 1) for c in range(col_lo, col_hi + 1)]


def nearest_sql(frm):
    lat0, lon0, k = micro(frm[0]), micro(frm[1]), micro(math.cos(math.radians(frm[0])))
    return (f"(CASE WHEN meeting_lat_e6 IS NULL OR meeting_lon_e6 IS NULL THEN {NO_PLACE} ELSE "
            f"(meeting_lat_e6 - ({lat0})) * (meeting_lat_e6 - ({lat0})) + "
            f"((meeting_lon_e6 - ({lon0})) * {k} / 1000000) * ((meeting_lon_e6 - ({lon0})) * {k} / 1000000) END)")


def within(frm, metres, column="meeting_cell", cells=None):
    cells = cells if cells is not None else cells_within(frm, metres)
    sql = f" AND {column} IN (" + ", ".join("?" for _ in cells) + f") AND {nearest_sql(frm)} <= {reach_key(metres)}"
    return sql, tuple(cells)


def feed(frm, metres, status=OPEN):
    w, cells = within(frm, metres)
    return BASE + status + w + ORDER, cells + (PAGE,)


def per_cell_union(frm, metres):
    """Each cell newest-first through (is_open, meeting_cell, seq), at most a page from each, then
    the newest page of those: no cell is read further than its own page."""
    dist = f"{nearest_sql(frm)} <= {reach_key(metres)}"
    cells = cells_within(frm, metres)
    arm = f"SELECT * FROM (SELECT {COLUMNS} FROM deals WHERE is_open = TRUE AND meeting_cell = ? AND {dist} ORDER BY seq DESC LIMIT ?)"
    sql = " UNION ALL ".join(arm for _ in cells)
    sql = f"SELECT * FROM ({sql}) ORDER BY seq DESC LIMIT ?"
    params = tuple(x for c in cells for x in (c, PAGE)) + (PAGE,)
    return sql, params


def plan(con, sql, params):
    rows = con.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    return "; ".join(r[-1] for r in rows)


def count(con, sql, params):
    return con.execute(f"SELECT count(*) FROM ({sql.rsplit(' ORDER BY ', 1)[0]})", params[:-1]).fetchone()[0]


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
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(dst_path + suffix):
            os.remove(dst_path + suffix)
    src = sqlite3.connect(src_path)
    dst = sqlite3.connect(dst_path)
    src.backup(dst)
    src.close()
    return dst


def cell(s):
    return s.replace("|", "\\|")


def short(s, n=400):
    return s if len(s) <= n else s[:n] + " …"


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    src_path, scratch, emd, code = sys.argv[1:5]
    seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 0.5
    place = next((p for p in read_centres(emd) if str(p[0]) == code), None)
    if place is None:
        sys.exit(f"no 동 with code {code} in {emd}")
    frm = (place[4], place[5])
    os.makedirs(scratch, exist_ok=True)
    base_copy = os.path.join(scratch, "plan-base.db")
    con = copy(src_path, base_copy)
    total = con.execute("SELECT count(*) FROM deals").fetchone()[0]
    open_n = con.execute("SELECT count(*) FROM deals WHERE is_open = TRUE").fetchone()[0]
    indexes = ", ".join(f"`{r[0]}`" for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'deals' ORDER BY name"))
    has_stat = con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone()[0] > 0

    queries = {}
    for km in (5, 10):
        sql, params = feed(frm, km * 1000)
        cells = cells_within(frm, km * 1000)
        queries[f"feed{km}"] = (f"`GET /?code={code}`" + ("" if km == 5 else f"&reach={km}") + f" ({km} km, {len(cells)} cells)", sql, params, cells)
    sql, params = feed(frm, 5000, status="")
    queries["api5"] = (f"`GET /api/v1/deals?place={code}&reach_km=5` (no `status`: every status, so no `is_open` term)", sql, params,
                       cells_within(frm, 5000))
    queries["nation"] = ("`GET /` uncached (`/?cursor=…` minus the cursor: open deals nationwide)", BASE + OPEN + ORDER, (PAGE,), None)

    print(f"On a copy of the seeded `deals.db`: {total} deals, {open_n} open; indexes on `deals`: {indexes}; "
          f"`ANALYZE` statistics: {'yes' if has_stat else 'none'}. SQLite {sqlite3.sqlite_version} (Python's; gonggu bundles its own). "
          f"Origin: {place[3]} ({code}), centre {frm[0]:.5f}, {frm[1]:.5f}. Every query fetches a page of {PAGE} rows, all "
          f"{len(COLUMNS.split(','))} columns.")
    print()
    print("| query | open deals in the cells read | within reach | plan | SQLite µs/query |")
    print("| --- | ---: | ---: | --- | ---: |")
    now = {}
    for name, (what, sql, params, cells) in queries.items():
        us = time_us(con, sql, params, seconds)
        now[name] = us
        in_cells = "—"
        if cells:
            in_cells = con.execute("SELECT count(*) FROM deals WHERE is_open = TRUE AND meeting_cell IN (" + ", ".join("?" for _ in cells) + ")",
                                   tuple(cells)).fetchone()[0]
        print(f"| {what} | {in_cells} | {count(con, sql, params)} | `{cell(plan(con, sql, params))}` | {us:.0f} |")
    sql5, params5 = queries["feed5"][1], queries["feed5"][2]
    print()
    print("The 5 km query as gonggu sends it (parameters inlined here for reading):")
    print()
    shown = sql5
    for p in params5:
        shown = shown.replace("?", str(p), 1)
    print("```sql")
    print(shown)
    print("```")
    con.close()
    result = " ".join(f"{name}_us={us:.1f}" for name, us in now.items())

    # Candidate changes, each on a fresh copy, for the 5 km feed.
    fine_e6, fine_cols = 20_000, 18_000  # 0.02° cells (about 2.2 × 1.8 km in Seoul)
    fine_cells = cells_within(frm, 5000, fine_e6, fine_cols)
    fine_sql = BASE + OPEN + within(frm, 5000, "fine_cell", fine_cells)[0] + ORDER
    fine_params = tuple(fine_cells) + (PAGE,)
    union_sql, union_params = per_cell_union(frm, 5000)
    what_ifs = [
        # (change, statements, sql, params)
        ("`ANALYZE` once (planner statistics), query unchanged", ["ANALYZE"], sql5, params5),
        ("the newest-first walk instead: `INDEXED BY deals_open_newest` (every open deal newest first, distance checked on each)", [],
         sql5.replace("FROM deals WHERE", "FROM deals INDEXED BY deals_open_newest WHERE", 1), params5),
        ("the point in the cell index: `(is_open, meeting_cell, meeting_lat_e6, meeting_lon_e6, seq)` instead of `deals_open_by_cell`",
         ["DROP INDEX deals_open_by_cell", "CREATE INDEX deals_open_cell_point ON deals (is_open, meeting_cell, meeting_lat_e6, meeting_lon_e6, seq)"],
         sql5, params5),
        (f"each cell newest first, a page from each, merged (`UNION ALL` of {len(cells_within(frm, 5000))} `ORDER BY seq DESC LIMIT 21` arms)", [],
         union_sql, union_params),
        (f"finer cells: 0.02° (`fine_cell`, index `(is_open, fine_cell, seq)`; {len(fine_cells)} cells for 5 km)",
         ["ALTER TABLE deals ADD COLUMN fine_cell BIGINT",
          f"UPDATE deals SET fine_cell = ((meeting_lat_e6 + 90000000) / {fine_e6}) * {fine_cols} + (meeting_lon_e6 + 180000000) / {fine_e6}",
          "CREATE INDEX deals_open_by_fine_cell ON deals (is_open, fine_cell, seq)"],
         fine_sql, fine_params),
    ]
    print()
    print("What if (each on a fresh copy of the same data; 5 km feed; rows returned checked against the query as today):")
    print()
    print("| change | same 21 rows | plan | SQLite µs/query | as today µs/query |")
    print("| --- | --- | --- | ---: | ---: |")
    ref_con = sqlite3.connect(f"file:{base_copy}?mode=ro", uri=True)
    want = [r[0] for r in ref_con.execute(sql5, params5).fetchall()]
    ref_con.close()
    for i, (change, ddl, sql, params) in enumerate(what_ifs):
        path = os.path.join(scratch, f"plan-whatif-{i}.db")
        c = copy(src_path, path)
        for stmt in ddl:
            c.execute(stmt)
        c.commit()
        us = time_us(c, sql, params, seconds)
        got = [r[0] for r in c.execute(sql, params).fetchall()]
        print(f"| {change} | {'yes' if got == want else 'NO'} | `{cell(short(plan(c, sql, params)))}` | {us:.0f} | {now['feed5']:.0f} |")
        c.close()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    print()
    print(f"RESULT {result}")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(base_copy + suffix):
            os.remove(base_copy + suffix)


if __name__ == "__main__":
    main()
