"""Small SVG charts drawn by the service itself (no plotting library), for staff pages."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _


def bar_chart(points: list[tuple], *, title: str, width: int = 640, height: int = 200) -> SafeString:
    """Vertical bars with their values; labels under every bar when they fit, else every few.

    A point is (label, value) or (label, value, hover text) when the label under the bar is a short form.
    """
    if not points:
        empty = _("%(title)s: no data in this window.") % {"title": title}
        return mark_safe(f'<p class="help">{escape(empty)}</p>')
    top = max(point[1] for point in points) or 1
    step = min((width - 40) / len(points), 56.0)  # a lone bar stays a bar, not a wall
    every = max(1, len(points) // 12)
    parts = [
        f'<svg role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" font-family="sans-serif" font-size="10">',
        f"<title>{escape(title)}</title>",
    ]
    for index, (label, value, *hover) in enumerate(points):
        bar = value / top * (height - 50)
        x = 30 + index * step
        parts.append(
            f'<rect x="{x:.1f}" y="{height - 25 - bar:.1f}" width="{max(step - 2, 1):.1f}" height="{bar:.1f}" '
            f'fill="#417690"><title>{escape(hover[0] if hover else label)}: {value:g}</title></rect>'
        )
        if value and step >= 14:
            parts.append(
                f'<text x="{x + step / 2:.1f}" y="{height - 28 - bar:.1f}" text-anchor="middle">{value:g}</text>'
            )
        if index % every == 0:
            parts.append(f'<text x="{x:.1f}" y="{height - 10}">{escape(label)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))
