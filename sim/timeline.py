"""Per-job timelines: when the doorbell rang, the engines were busy and the interrupt rose.

:func:`job_windows` cuts a recorded run into jobs; :func:`render_svg` draws them, one panel per
job, as a standalone SVG (no plotting library needed).
"""

from html import escape

__all__ = ["job_windows", "render_svg"]

_COLOURS = {
    "doorbell": "#444444",
    "fetch": "#4e79a7",
    "walk": "#b07aa1",
    "dma": "#f28e2b",
    "array": "#59a14f",
    "irq": "#e15759",
}
_ROW, _LEFT, _WIDTH, _TOP = 18, 90, 760, 34


def job_windows(doorbells, completions, busy, irqs):
    """One dictionary per job: its window and what happened in it.

    Parameters
    ----------
    doorbells : list of float
        Times of the doorbell writes, one per job, in order.
    completions : list of float
        Times at which the driver read each job's completion, in the same order.
    busy : dict
        Lane name -> list of ``[start, end]`` intervals (``end`` is ``None`` while still busy).
    irqs : list of float
        Rising edges of the interrupt line.

    Returns
    -------
    list of dict
        ``start``, ``end`` (ns), ``lanes`` (lane -> intervals clipped to the window), ``irqs``.
    """
    jobs = []
    for start, end in zip(doorbells, completions, strict=True):
        lanes = {
            lane: [
                (max(a, start), min(end if b is None else b, end))
                for a, b in intervals
                if a < end and (b is None or b > start)
            ]
            for lane, intervals in busy.items()
        }
        jobs.append(
            {
                "start": start,
                "end": end,
                "lanes": lanes,
                "irqs": [t for t in irqs if start <= t <= end],
            }
        )
    return jobs


def _panel(job, title, top):
    """The SVG elements of one job's panel, ``top`` pixels down."""
    start, span = job["start"], max(job["end"] - job["start"], 1.0)

    def x(t):
        return _LEFT + (t - start) / span * _WIDTH

    rows = ["doorbell", *job["lanes"], "irq"]
    out = [f'<text x="4" y="{top - 8}" font-weight="bold">{escape(title)}</text>']
    for i, lane in enumerate(rows):
        y = top + i * _ROW
        out.append(f'<text x="4" y="{y + 13}">{lane}</text>')
        out.append(
            f'<line x1="{_LEFT}" y1="{y + _ROW - 2}" x2="{_LEFT + _WIDTH}" y2="{y + _ROW - 2}" '
            'stroke="#dddddd"/>'
        )
        colour = _COLOURS.get(lane, "#888888")
        if lane in ("doorbell", "irq"):
            marks = [start] if lane == "doorbell" else job["irqs"]
            out += [
                f'<rect x="{x(t) - 1:.1f}" y="{y + 2}" width="3" height="{_ROW - 6}" '
                f'fill="{colour}"/>'
                for t in marks
            ]
            continue
        out += [
            f'<rect x="{x(a):.1f}" y="{y + 2}" width="{max(x(b) - x(a), 0.8):.1f}" '
            f'height="{_ROW - 6}" fill="{colour}"/>'
            for a, b in job["lanes"][lane]
        ]
    axis = top + len(rows) * _ROW + 12
    for tick in range(5):
        t = start + span * tick / 4
        out.append(
            f'<text x="{x(t):.1f}" y="{axis}" text-anchor="middle">'
            f"{(t - start) / 1000:.1f} µs</text>"
        )
    return out, len(rows) * _ROW + 40


def render_svg(jobs, titles):
    """An SVG document with one panel per job (``titles`` label them)."""
    body, top = [], _TOP
    for job, title in zip(jobs, titles, strict=True):
        elements, height = _panel(job, title, top)
        body += elements
        top += height
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_LEFT + _WIDTH + 40}" height="{top}" '
        'font-family="sans-serif" font-size="11">'
    )
    return "\n".join([head, '<rect width="100%" height="100%" fill="white"/>', *body, "</svg>"])
