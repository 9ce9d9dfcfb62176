"""Server-side SVG bar charts: numbers in, an accessible SVG string out. No JavaScript."""

from __future__ import annotations

from html import escape

from services.common.money import yuan


def fen_to_yuan(fen: int) -> str:
    """123456 -> '1,234.56': the one writer of 元 for people (services/common/money.yuan)."""
    return yuan(int(fen))


def bar_chart(
    title: str,
    bars: list[tuple[str, int]],
    *,
    unit: str = "元",
    fen: bool = True,
) -> str:
    """Bars, one per (label, value), each label and value written out on a line of its own
    above a bar of the whole width, so the chart reads without colour and at any zoom: drawn
    360 wide, it reads at the size of the page's text on a 360 px phone (a chart drawn wider
    and scaled down to a phone had 9-pixel text)."""
    width, line_h, bar_h, gap, top = 360, 26, 22, 14, 44
    row_h = line_h + bar_h + gap
    height = top + max(len(bars), 1) * row_h
    biggest = max((abs(v) for _, v in bars), default=0) or 1
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="100%" role="img" aria-label="{escape(title)}" class="chart">'
        ),
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="26" font-size="20" font-weight="bold" fill="#111">{escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(bars):
        y = top + i * row_h
        shown = fen_to_yuan(value) if fen else f"{value:,}"
        w = max(round(width * abs(value) / biggest), 2 if value else 0)
        parts.append(
            f'<text x="0" y="{y + 19}" font-size="17" fill="#111">{escape(label)}：'
            f"{shown} {escape(unit)}</text>"
        )
        parts.append(
            f'<rect x="0" y="{y + line_h}" width="{width}" height="{bar_h}" fill="#e8eef6"/>'
        )
        parts.append(
            f'<rect x="0" y="{y + line_h}" width="{w}" height="{bar_h}" fill="#0b5394">'
            f"<title>{escape(label)}: {shown} {escape(unit)}</title></rect>"
        )
    if not bars:
        parts.append(f'<text x="0" y="{top + 20}" font-size="17" fill="#111">暂无数据</text>')
    parts.append("</svg>")
    return "".join(parts)


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Straight-line (great-circle) distance in km, as the anomaly rule measures it."""
    import math

    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))


def places_plot(
    title: str, places: list[tuple[str, float, float]], *, width: int = 340, height: int = 300
) -> tuple[str, list[tuple[str, str, float]]]:
    """The places of an alert's evidence drawn to scale (no map tiles: a plain plot of the
    points, north up), each pair joined by a line with its straight-line distance. Returns
    the SVG (places numbered 1, 2, ...) and the distances as ("1 name", "2 name", km) for
    the table beside it."""
    import math

    seen: dict[tuple[float, float], str] = {}
    for label, lat, lon in places:
        seen.setdefault((round(lat, 5), round(lon, 5)), label)
    # Numbered on the plot (names would collide on a phone); the pairs name them "1 name".
    points = [(f"{n} {label}", lat, lon) for n, ((lat, lon), label) in enumerate(seen.items(), 1)]
    pairs = [
        (a[0], b[0], _km((a[1], a[2]), (b[1], b[2])))
        for i, a in enumerate(points)
        for b in points[i + 1 :]
    ]
    pad = 40
    mid_lat = sum(p[1] for p in points) / len(points) if points else 0.0
    xs = [p[2] * math.cos(math.radians(mid_lat)) for p in points]
    ys = [p[1] for p in points]
    x_span = (max(xs) - min(xs)) if xs else 0.0
    y_span = (max(ys) - min(ys)) if ys else 0.0
    scale = (min(width, height) - 2 * pad) / (max(x_span, y_span) or 1e-6)
    # Centred in the box (one scale for both axes, so distances are true to each other).
    x0 = (width - x_span * scale) / 2
    y0 = (height - y_span * scale) / 2

    def at(i: int) -> tuple[float, float]:
        return (x0 + (xs[i] - min(xs)) * scale, height - y0 - (ys[i] - min(ys)) * scale)

    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="100%" role="img" aria-label="{escape(title)}" class="chart places">'
        ),
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fafafa" stroke="#ccc"/>',
        f'<text x="{width - 24}" y="22" font-size="14" fill="#333">北↑</text>',
    ]
    for i, a in enumerate(points):
        for j in range(i + 1, len(points)):
            (x1, y1), (x2, y2) = at(i), at(j)
            km = _km((a[1], a[2]), (points[j][1], points[j][2]))
            parts.append(
                f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                'stroke="#b00" stroke-width="2" stroke-dasharray="6 4"/>'
            )
            parts.append(
                f'<text x="{(x1 + x2) / 2:.1f}" y="{(y1 + y2) / 2 - 6:.1f}" font-size="14" '
                f'fill="#b00" text-anchor="middle" class="distance">{km:.1f} 公里</text>'
            )
    for i, (label, _, _) in enumerate(points):
        x, y = at(i)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="7" fill="#0b5394"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{y + 28:.1f}" font-size="18" font-weight="bold" '
            f'fill="#111" text-anchor="middle">{escape(label.split(" ", 1)[0])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts), pairs
