#!/usr/bin/env python3
"""Query plans and SQLite-only timings of the deals list queries (bench/deals.sh, diagnostic).

    python3 bench/deals_plan.py <deals.db> <scratch dir> [seconds per timing]

Copies the seeded database with SQLite's backup API (the server's file is only read), then, on
the copy, for each list query the benchmark sends — the SQL text exactly as
`crates/deals/src/store.rs` (`list`) builds it, parameters included — prints its
`EXPLAIN QUERY PLAN`, how many rows match, and how long SQLite alone takes to run it and fetch
the page (µs per query, Python's sqlite3 module: no HTTP, no sqlx, no JSON, no HTML). Then the
same for a few candidate changes ("what if"), each on its own fresh copy, so the effect of an
index or of a different query shape is measured rather than guessed. Writes Markdown to stdout.

This is a diagnostic: Python's SQLite is not the one bundled into gonggu (sqlx's
libsqlite3-sys), and the loop here has its own overhead; compare rows with each other, not
with the HTTP figures.
"""

import os
import sqlite3
import sys
import time

COLUMNS = (
    "seq, id, host_id, host_login_id, title, description, category_id, product_url, total_price, shares_total, shares_taken, "
    "min_shares, items_per_share, unit, deadline, meeting_name, meeting_lat, meeting_lon, keywords, images, status, views, created_at"
)
BASE = f"SELECT {COLUMNS} FROM deals WHERE 1 = 1"
ORDER = " ORDER BY seq DESC, seq DESC LIMIT ?"
# The page size is limit + 1 (the extra row tells whether there is a next page).
PAGE = 21
LIKE = " AND (LOWER(title) LIKE ? ESCAPE '\\' OR LOWER(description) LIKE ? ESCAPE '\\' OR LOWER(keywords) LIKE ? ESCAPE '\\')"
# store.rs turns "recruiting + confirmed" into the generated column's index.
STATUS_OPEN = " AND is_open = TRUE"
# One semi-join per query bigram (crates/deals/src/search.rs; 휴지 and 냉장고 have one and two).
GRAM = " AND seq IN (SELECT deal_seq FROM deal_grams WHERE gram = ?)"


def like(word):
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").lower() + "%"


# name -> (what, sql, params); the SQL store.rs builds for each measured request.
QUERIES = {
    "home": ("`GET /` and `/api/v1/deals?status=open&limit=20` (open deals, newest first)",
             BASE + STATUS_OPEN + ORDER, (PAGE,)),
    "category": ("`/api/v1/deals?category=4&limit=20`", BASE + " AND category_id = ?" + ORDER, (4, PAGE)),
    "search": ("`/api/v1/deals?q=휴지&limit=20`", BASE + LIKE + GRAM + ORDER, (like("휴지"),) * 3 + ("휴지", PAGE)),
    "search_miss": ("`q` that matches nothing (`냉장고`)",
                    BASE + LIKE + GRAM + GRAM + ORDER, (like("냉장고"),) * 3 + ("냉장", "장고", PAGE)),
    "search_scan": ("`q` of one letter (`휴`): no bigram, every row read",
                    BASE + LIKE + ORDER, (like("휴"),) * 3 + (PAGE,)),
    "all": ("`/api/v1/deals?limit=20` (no filter: the floor)", BASE + ORDER, (PAGE,)),
}


def plan(con, sql, params):
    rows = con.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    return "; ".join(r[-1] for r in rows)


def matching(con, sql, params):
    where = sql[sql.index(" WHERE "): sql.index(" ORDER BY ")]
    return con.execute("SELECT count(*) FROM deals" + where, params[:-1]).fetchone()[0]


def time_us(con, sql, params, seconds):
    """The fastest of five rounds (each about seconds / 5): steadier on a shared machine."""
    con.execute(sql, params).fetchall()  # warm the page cache and the statement cache
    best = None
    for _ in range(5):
        n, t0 = 0, time.perf_counter()
        while True:
            for _ in range(5):
                con.execute(sql, params).fetchall()
            n += 5
            dt = time.perf_counter() - t0
            if dt >= seconds / 5 and n >= 10:
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


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    src_path, scratch = sys.argv[1], sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 0.5
    os.makedirs(scratch, exist_ok=True)
    base_copy = os.path.join(scratch, "plan-base.db")
    con = copy(src_path, base_copy)
    total = con.execute("SELECT count(*) FROM deals").fetchone()[0]
    by_status = ", ".join(f"{s} {n}" for s, n in con.execute("SELECT status, count(*) FROM deals GROUP BY status ORDER BY 2 DESC"))
    indexes = ", ".join(f"`{r[0]}`" for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'deals' ORDER BY name"))
    has_stat = con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone()[0] > 0

    print(f"On a copy of the seeded `deals.db`: {total} deals ({by_status}); indexes on `deals`: {indexes}; "
          f"`ANALYZE` statistics: {'yes' if has_stat else 'none'}. SQLite {sqlite3.sqlite_version} (Python's; gonggu bundles its own). "
          f"Every query fetches a page of {PAGE} rows (limit 20 + 1), all {len(COLUMNS.split(','))} columns.")
    print()
    print("| query | rows matching | plan | SQLite µs/query |")
    print("| --- | ---: | --- | ---: |")
    now = {}
    for name, (what, sql, params) in QUERIES.items():
        us = time_us(con, sql, params, seconds)
        now[name] = us
        print(f"| {what} | {matching(con, sql, params)} | `{cell(plan(con, sql, params))}` | {us:.0f} |")
    con.close()
    # For bench/deals.sh (it takes this line out of the Markdown).
    result = " ".join(f"{name}_us={us:.1f}" for name, us in now.items())

    # Candidate changes, each on a fresh copy of the same data. A "regime" first changes the
    # data itself: "history" marks 95 % of the deals completed, as on a site that has run for a
    # while, where open deals are few and a plan that walks all deals newest-first reads many
    # closed ones before it finds 20 open.
    no_lower = BASE + " AND (title LIKE ? ESCAPE '\\' OR description LIKE ? ESCAPE '\\' OR keywords LIKE ? ESCAPE '\\')" + GRAM + ORDER
    regimes = {"history": ["UPDATE deals SET status = 'completed' WHERE seq % 20 <> 0"]}
    what_ifs = [
        # (change, regime, statements, query, sql or None, params or None)
        ("`ANALYZE` once (planner statistics), query unchanged", None, ["ANALYZE"], "home", None, None),
        ("new index `(category_id, seq)`", None, ["CREATE INDEX deals_category_seq ON deals (category_id, seq)"], "category", None, None),
        ("`LIKE` without `LOWER()` (SQLite's LIKE already ignores ASCII case)", None, [], "search", no_lower, (like("휴지"),) * 3 + ("휴지",)),
        ("as today", "history", [], "home", None, None),
        ("`ANALYZE` once", "history", ["ANALYZE"], "home", None, None),
    ]
    print()
    print("What if (each on a fresh copy of the same data; *history*: the same deals with 95 % of them marked completed first):")
    print()
    print("| change | data | query | rows matching | plan | SQLite µs/query | as today µs/query |")
    print("| --- | --- | --- | ---: | --- | ---: | ---: |")
    regime_now = {}
    for i, (change, regime, ddl, qname, sql, params) in enumerate(what_ifs):
        path = os.path.join(scratch, f"plan-whatif-{i}.db")
        c = copy(src_path, path)
        for stmt in regimes.get(regime, []) + ddl:
            c.execute(stmt)
        c.commit()
        what, q_sql, q_params = QUERIES[qname]
        sql = sql or q_sql
        if params is None:
            params = q_params
        else:
            params = tuple(params) + (PAGE,)
        us = time_us(c, sql, params, seconds)
        if regime and change == "as today":
            regime_now[regime] = us
        ref = regime_now.get(regime, us) if regime else now[qname]
        print(f"| {change} | {regime or 'as seeded'} | {qname} | {matching(c, sql, params)} | `{cell(plan(c, sql, params))}` | {us:.0f} | {ref:.0f} |")
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
