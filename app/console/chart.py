"""The occupancy chart's geometry, drawn as SVG by templates/console/staff/occupancy.html.

One chart per resource type over its days: a bar per day for the most units
occupied at any moment that day, and a line for the total. Pure arithmetic on the
series resources.service.occupancy_history returns; no markup here.
"""
WIDTH = 640
HEIGHT = 220
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 10, 30  # margins for the axis labels
PLOT_WIDTH = WIDTH - LEFT - RIGHT
PLOT_HEIGHT = HEIGHT - TOP - BOTTOM
DAY_LABEL_EVERY = 7


def _y(value, top_value):
    return round(TOP + PLOT_HEIGHT * (1 - value / top_value), 1)


def occupancy_chart(days, points):
    """``days``: dates; ``points``: per day {"peak", "total"} or None (no data yet)."""
    known = [point for point in points if point is not None]
    top_value = max([1] + [max(point["peak"], point["total"]) for point in known])
    slot = PLOT_WIDTH / len(days)
    bars, total_line = [], []
    for index, (day, point) in enumerate(zip(days, points)):
        x = LEFT + index * slot
        if point is None:
            continue
        y = _y(point["peak"], top_value)
        bars.append({
            "x": round(x + slot * 0.15, 1), "y": y, "width": round(slot * 0.7, 1),
            "height": round(TOP + PLOT_HEIGHT - y, 1),
            "label": f"{day:%d %b}: at most {point['peak']} of {point['total']} occupied",
        })
        total_y = _y(point["total"], top_value)
        total_line.append(f"{'M' if not total_line else 'L'}{round(x, 1)},{total_y}"
                          f" L{round(x + slot, 1)},{total_y}")
    return {
        "width": WIDTH, "height": HEIGHT,
        "bars": bars,
        "total_path": " ".join(total_line),
        "y_ticks": [{"y": _y(value, top_value), "label": value}
                    for value in sorted({0, top_value // 2, top_value})],
        "x_labels": [{"x": round(LEFT + index * slot + slot / 2, 1), "label": f"{day:%d %b}"}
                     for index, day in enumerate(days) if index % DAY_LABEL_EVERY == 0],
        "axis": {"x1": LEFT, "x2": WIDTH - RIGHT, "y": TOP + PLOT_HEIGHT,
                 "label_y": HEIGHT - 8},
        "rows": [{"day": day, "point": point} for day, point in zip(days, points)],
    }
