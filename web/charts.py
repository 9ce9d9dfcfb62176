"""Server-side SVG bar charts: numbers in, an accessible SVG string out. No JavaScript."""

from __future__ import annotations

from html import escape


def fen_to_yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    fen = abs(int(fen))
    return f"{sign}{fen // 100:,}.{fen % 100:02d}"


def bar_chart(
    title: str,
    bars: list[tuple[str, int]],
    *,
    unit: str = "元",
    fen: bool = True,
    width: int = 640,
    bar_h: int = 40,
    gap: int = 16,
) -> str:
    """Horizontal bars, one per (label, value); labels and values written out in text so
    the chart reads without colour and at any zoom."""
    label_w, value_w = 180, 170
    plot_w = max(width - label_w - value_w, 60)
    top = 48
    height = top + len(bars) * (bar_h + gap) + 8
    biggest = max((abs(v) for _, v in bars), default=0) or 1
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="100%" role="img" aria-label="{escape(title)}" class="chart">'
        ),
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="30" font-size="24" font-weight="bold" fill="#111">{escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(bars):
        y = top + i * (bar_h + gap)
        w = round(plot_w * abs(value) / biggest)
        shown = fen_to_yuan(value) if fen else f"{value:,}"
        parts.append(
            f'<text x="0" y="{y + bar_h * 0.7:.0f}" font-size="20" fill="#111">'
            f"{escape(label)}</text>"
        )
        parts.append(
            f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}" '
            f'fill="#0b5394"><title>{escape(label)}: {shown} {unit}</title></rect>'
        )
        parts.append(
            f'<text x="{label_w + w + 8}" y="{y + bar_h * 0.7:.0f}" font-size="20" '
            f'fill="#111">{shown} {escape(unit)}</text>'
        )
    if not bars:
        parts.append(f'<text x="0" y="{top + 24}" font-size="20" fill="#111">暂无数据</text>')
    parts.append("</svg>")
    return "".join(parts)
