"""Resource charts as server-rendered SVG: no script, no inline style, no CDN."""

from django.utils.html import format_html, format_html_join

WIDTH = 600
HEIGHT = 160
PAD = 24

MIB = 1024 * 1024


def line_chart(title, points, ceiling, unit):
    """An SVG line chart of `points` [(unix seconds, value)] between 0 and `ceiling`."""
    if not points:
        return format_html(
            '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}: no samples">'
            '<text class="chart-empty" x="{}" y="{}" text-anchor="middle">No samples in this range</text></svg>',
            WIDTH, HEIGHT, title, WIDTH // 2, HEIGHT // 2,
        )
    ceiling = max(ceiling, max(v for _, v in points), 1e-9)
    first, last = points[0][0], points[-1][0]
    span = max(last - first, 1)

    def x(t):
        return PAD + (t - first) / span * (WIDTH - 2 * PAD)

    def y(v):
        return HEIGHT - PAD - v / ceiling * (HEIGHT - 2 * PAD)

    coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
    latest = points[-1][1]
    gridlines = format_html_join(
        "", '<line class="chart-grid" x1="{}" y1="{}" x2="{}" y2="{}"></line>',
        ((PAD, f"{y(ceiling * f):.1f}", WIDTH - PAD, f"{y(ceiling * f):.1f}") for f in (0, 0.5, 1)),
    )
    # The caption sits outside the SVG: the drawing stretches to the page's width, text must not.
    return format_html(
        '<figure class="chart-figure"><figcaption class="chart-caption">{title} · latest {latest} {unit} · '
        "max {top} {unit}</figcaption>"
        '<svg class="chart" viewBox="0 0 {w} {h}" preserveAspectRatio="none" role="img" '
        'aria-label="{title}: latest {latest} {unit}">'
        "<title>{title}</title>{grid}"
        '<polyline class="chart-line" points="{coords}"></polyline></svg></figure>',
        w=WIDTH, h=HEIGHT, title=title, latest=_fmt(latest), unit=unit, grid=gridlines,
        top=_fmt(ceiling), coords=coords,
    )


def _fmt(value):
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def resource_charts(metrics):
    """CPU, memory and disk charts for a list of the SDK's SandboxMetrics."""
    stamps = [int(m.timestamp.timestamp()) for m in metrics]
    mem_total = max((m.mem_total for m in metrics), default=0) / MIB
    disk_total = max((m.disk_total for m in metrics), default=0) / MIB
    return [
        line_chart("CPU", [(t, m.cpu_used_pct) for t, m in zip(stamps, metrics, strict=True)], 100, "%"),
        line_chart("Memory", [(t, m.mem_used / MIB) for t, m in zip(stamps, metrics, strict=True)], mem_total, "MiB"),
        line_chart("Disk", [(t, m.disk_used / MIB) for t, m in zip(stamps, metrics, strict=True)], disk_total, "MiB"),
    ]
