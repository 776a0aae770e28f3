#!/usr/bin/env python3
"""Generate the 공구마켓 (Gonggu Market) PWA icons.

Draws a white shopping basket with three neighbours peeking over its rim on
the brand orange (#ff7a00), using only Pillow primitives (no fonts needed).

Usage (Pillow is not a project dependency; use a throwaway venv):

    python3 -m venv /tmp/iconvenv && /tmp/iconvenv/bin/pip install pillow
    /tmp/iconvenv/bin/python tools/make_icons.py

Writes into crates/kernel/assets/icons/ relative to the repository root:
    icon-192.png, icon-512.png    rounded square, transparent corners ("any")
    maskable-512.png              full-bleed, artwork inside the 80% safe zone
    apple-touch-icon.png          180x180, opaque square (iOS rounds it)
    favicon-32.png                32x32, simplified artwork
"""

from pathlib import Path

from PIL import Image, ImageChops, ImageDraw

BRAND = (255, 122, 0, 255)
WHITE = (255, 255, 255, 255)
SUPERSAMPLE = 4

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "crates" / "kernel" / "assets" / "icons"


def _map(box, px, scale):
    """Map a box given in unit coordinates (0..1, centred on 0.5) to pixels,
    shrinking it around the centre by `scale`."""
    x0, y0, x1, y1 = box

    def m(v):
        return (0.5 + (v - 0.5) * scale) * px

    return [m(x0), m(y0), m(x1), m(y1)]


def _rounded_polygon(d, pts, r, fill):
    """Fill a convex polygon with rounded corners of radius r (pixels):
    the polygon of inset corners grown by r via a thick curved outline."""
    cx = sum(x for x, _ in pts) / len(pts)
    cy = sum(y for _, y in pts) / len(pts)
    inset = []
    for x, y in pts:
        dx, dy = cx - x, cy - y
        n = (dx * dx + dy * dy) ** 0.5
        inset.append((x + dx / n * r * 1.3, y + dy / n * r * 1.3))
    d.polygon(inset, fill=fill)
    d.line(inset + [inset[0]], fill=fill, width=round(2 * r), joint="curve")
    for x, y in inset:
        d.ellipse([x - r, y - r, x + r, y + r], fill=fill)


def artwork_mask(px, scale, simple=False):
    """Return an 'L' mask (255 = white artwork) of size px x px.

    Motif: a shopping basket with neighbours peeking over its rim."""
    mask = Image.new("L", (px, px), 0)
    d = ImageDraw.Draw(mask)
    unit = px * scale  # pixels per unit of artwork

    def pt(x, y):
        return (0.5 + (x - 0.5) * scale) * px, (0.5 + (y - 0.5) * scale) * px

    gap = max(1, round((0.06 if simple else 0.028) * unit))

    # Handle: a thick arc spanning the basket.
    handle_w = max(1, round((0.085 if simple else 0.055) * unit))
    handle_box = (0.16, 0.13, 0.84, 0.87)
    d.arc(_map(handle_box, px, scale), start=180, end=360, fill=255, width=handle_w)
    # Short legs joining the handle to the rim.
    for x0 in (0.16, 0.84 - handle_w / unit):
        d.rectangle(_map((x0, 0.49, x0 + handle_w / unit, 0.56), px, scale), fill=255)
    rim = (0.15, 0.54, 0.85, 0.62) if not simple else (0.12, 0.52, 0.88, 0.63)
    rx0, ry0, rx1, ry1 = _map(rim, px, scale)

    # Neighbours (head + shoulders) standing in the basket; only one in the
    # favicon so it stays legible at 32 px.
    people = Image.new("L", (px, px), 0)
    p = ImageDraw.Draw(people)
    if simple:
        figures = [((0.41, 0.25, 0.59, 0.43), (0.34, 0.45, 0.66, 0.7))]
    else:
        figures = [
            ((0.28, 0.335, 0.38, 0.435), (0.25, 0.45, 0.41, 0.64)),  # left
            ((0.62, 0.335, 0.72, 0.435), (0.59, 0.45, 0.75, 0.64)),  # right
            ((0.435, 0.265, 0.565, 0.395), (0.395, 0.415, 0.605, 0.66)),  # centre
        ]
    for i, (head, shoulders) in enumerate(figures):
        hx = _map(head, px, scale)
        sx = _map(shoulders, px, scale)
        if i == 2:
            # Gap around the centre figure: it stands in front.
            p.ellipse([hx[0] - gap, hx[1] - gap, hx[2] + gap, hx[3] + gap], fill=0)
            p.rounded_rectangle(
                [sx[0] - gap, sx[1] - gap, sx[2] + gap, sx[3] + gap],
                radius=(sx[2] - sx[0]) / 2 + gap,
                fill=0,
            )
        p.ellipse(hx, fill=255)
        p.rounded_rectangle(sx, radius=(sx[2] - sx[0]) / 2, fill=255)
    # Keep the people clear of the handle.
    clear = Image.new("L", (px, px), 0)
    cd = ImageDraw.Draw(clear)
    cd.arc(_map(handle_box, px, scale), 180, 360, fill=255, width=handle_w + gap)
    # ... and clear of the rim: they stand *inside* the basket.
    cd.rectangle([0, ry0 - gap, px, px], fill=255)
    people = ImageChops.subtract(people, clear)
    mask = ImageChops.lighter(mask, people)
    d = ImageDraw.Draw(mask)

    # Rim: a rounded bar across the top of the basket.
    d.rounded_rectangle([rx0, ry0, rx1, ry1], radius=(ry1 - ry0) / 2, fill=255)

    # Body: a trapezoid below the rim, narrower at the bottom.
    top = ry1 + gap
    body_top_y = (top / px - 0.5) / scale + 0.5
    bottom_y = 0.86 if not simple else 0.88
    corners = [
        pt(0.19 if not simple else 0.16, body_top_y),
        pt(0.81 if not simple else 0.84, body_top_y),
        pt(0.72 if not simple else 0.74, bottom_y),
        pt(0.28 if not simple else 0.26, bottom_y),
    ]
    _rounded_polygon(d, corners, 0.035 * unit, 255)

    # Vertical slats cut into the body.
    slats = [0.37, 0.5, 0.63] if not simple else [0.5]
    slat_w = (0.045 if not simple else 0.08) * unit
    for sx in slats:
        x, y0 = pt(sx, body_top_y + (0.06 if not simple else 0.045))
        _, y1 = pt(sx, bottom_y - (0.06 if not simple else 0.045))
        d.rounded_rectangle(
            [x - slat_w / 2, y0, x + slat_w / 2, y1], radius=slat_w / 2, fill=0
        )
    return mask


def render(size, *, shape, scale, simple=False):
    """shape: 'rounded' (transparent corners), 'square' (full bleed)."""
    px = size * SUPERSAMPLE
    bg_mask = Image.new("L", (px, px), 0)
    bd = ImageDraw.Draw(bg_mask)
    if shape == "rounded":
        bd.rounded_rectangle([0, 0, px - 1, px - 1], radius=px * 0.22, fill=255)
    else:
        bd.rectangle([0, 0, px, px], fill=255)

    img = Image.new("RGBA", (px, px), (255, 122, 0, 0))
    img.paste(Image.new("RGBA", (px, px), BRAND), (0, 0), bg_mask)
    art = artwork_mask(px, scale, simple=simple)
    img.paste(Image.new("RGBA", (px, px), WHITE), (0, 0), art)
    img = img.resize((size, size), Image.LANCZOS)
    if shape == "square":
        img = img.convert("RGB")  # opaque
    return img


def save(img, name):
    path = OUT / name
    if img.mode == "RGBA":
        # Palette PNGs are much smaller; keep alpha via quantisation.
        q = img.quantize(colors=64, method=Image.Quantize.FASTOCTREE)
        q.save(path, optimize=True)
    else:
        q = img.quantize(colors=64)
        q.save(path, optimize=True)
    print(f"{path.relative_to(ROOT)}: {img.size[0]}x{img.size[1]}, {path.stat().st_size} bytes")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    save(render(192, shape="rounded", scale=1.0), "icon-192.png")
    save(render(512, shape="rounded", scale=1.0), "icon-512.png")
    # Maskable: full bleed; artwork shrunk so it sits inside the central
    # circle of radius 40% (the safe zone).
    save(render(512, shape="square", scale=0.8), "maskable-512.png")
    save(render(180, shape="square", scale=0.92), "apple-touch-icon.png")
    save(render(32, shape="rounded", scale=1.12, simple=True), "favicon-32.png")


if __name__ == "__main__":
    main()
