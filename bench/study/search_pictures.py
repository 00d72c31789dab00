"""The pictures of `bench search --show`, drawn from its rows (bench.study.search_results):
the history of the trials (pruned ones marked, at the value their run reached), the
parallel coordinates of their settings (whole axis names), and the expected best score
against the number of trials (Dodge et al., 2019) with its spread."""

import math

FINISHED, PRUNED = "COMPLETE", "PRUNED"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_history(rows, heading, path, lower_is_better=True):
    """Each ended trial's value by its number (finished: dots, pruned: crosses) and the best so
    far; False when no trial has a value."""
    ended = sorted((row for row in rows if row["state"] in (FINISHED, PRUNED) and row["value"] is not None),
                   key=lambda row: row["number"])
    if not ended:
        return False
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4))
    for state, marker, label in ((FINISHED, "o", "finished"), (PRUNED, "x", "pruned (its run's best when stopped)")):
        chosen = [row for row in ended if row["state"] == state]
        if chosen:
            axes.scatter([row["number"] for row in chosen], [row["value"] for row in chosen], marker=marker,
                         label=label, color="tab:blue" if state == FINISHED else "tab:red")
    finished = [row for row in ended if row["state"] == FINISHED]
    if finished:
        best, lower = [], lower_is_better
        for row in finished:
            value = row["value"] if not best else (min if lower else max)(best[-1], row["value"])
            best.append(value)
        axes.step([row["number"] for row in finished], best, where="post", color="tab:green",
                  label="best finished so far")
    axes.set_xlabel("trial number")
    axes.set_ylabel(heading)
    axes.legend(fontsize="small")
    axes.set_title("the study's trials")
    _save(plt, figure, path)
    return True


def draw_parallel(rows, heading, path, lower_is_better=True, log_keys=()):
    """One vertical axis per drawn setting and one for the objective; a line per ended trial,
    coloured by its value (pruned trials dashed). Axis names are written whole, across lines
    when long. False with no ended trial."""
    ended = [row for row in rows if row["state"] in (FINISHED, PRUNED) and row["value"] is not None and row["params"]]
    if not ended:
        return False
    keys = sorted({key for row in ended for key in row["params"]})
    columns = [_axis_positions([row["params"].get(key) for row in ended], key in log_keys) for key in keys]
    values = [row["value"] for row in ended]
    columns.append(_axis_positions(values, False))
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(max(6, 1.8 * (len(keys) + 1)), 4.5))
    low, high = min(values), max(values)
    colours = plt.get_cmap("viridis" if lower_is_better else "viridis_r")
    for index, row in enumerate(ended):
        shade = 0.5 if high == low else (row["value"] - low) / (high - low)
        axes.plot(range(len(columns)), [column[0][index] for column in columns], color=colours(shade),
                  linestyle="--" if row["state"] == PRUNED else "-", alpha=0.8, linewidth=1.2)
    for position, (_, ticks) in enumerate(columns):
        axes.axvline(position, color="black", linewidth=0.8)
        for place, text in ticks:
            axes.text(position + 0.03, place, text, fontsize=7, va="center")
    axes.set_xticks(range(len(columns)))
    axes.set_xticklabels([_wrapped(name) for name in [*keys, heading]], fontsize=8)
    axes.set_yticks([])
    axes.set_xlim(-0.2, len(columns) - 0.5)
    axes.set_title("settings of the ended trials (dashed: pruned; dark: better)")
    _save(plt, figure, path)
    return True


def _axis_positions(values, log_scale):
    """([position in 0..1 of each value], [(position, tick text)]) of one axis: numbers on a
    linear or log scale, anything else as evenly spaced categories."""
    numbers = [value for value in values if isinstance(value, (int, float)) and not isinstance(value, bool)]
    if len(numbers) == len(values):
        scale = (lambda v: math.log10(v)) if log_scale and min(numbers) > 0 else (lambda v: float(v))
        low, high = scale(min(numbers)), scale(max(numbers))
        spread = (high - low) or 1.0
        positions = [(scale(value) - low) / spread for value in values]
        ticks = [(0.0, f"{min(numbers):.3g}"), (1.0, f"{max(numbers):.3g}")] if high != low else [(0.0, f"{low:.3g}")]
        return positions, ticks
    categories = sorted({str(value) for value in values})
    step = 1.0 / max(1, len(categories) - 1)
    place = {category: index * step for index, category in enumerate(categories)}
    return [place[str(value)] for value in values], [(place[c], c) for c in categories]


def _wrapped(name, width=14):
    """An axis name on lines of about `width` characters, broken after dots and underscores."""
    lines, line = [], ""
    for piece in name.replace(".", ".\n").replace("_", "_\n").split("\n"):
        if line and len(line) + len(piece) > width:
            lines.append(line)
            line = ""
        line += piece
    return "\n".join(lines + [line])


def draw_expected_best(curve, heading, path):
    """The expected best value against the number of trials, ± its standard deviation."""
    if not curve:
        return False
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 4))
    ks = [point["k"] for point in curve]
    means = [point["mean"] for point in curve]
    axes.plot(ks, means, marker="o", color="tab:blue", label="expected best of k trials")
    axes.fill_between(ks, [m - p["std"] for m, p in zip(means, curve)], [m + p["std"] for m, p in zip(means, curve)],
                      color="tab:blue", alpha=0.2, label="± its standard deviation")
    axes.set_xlabel("trials (k)")
    axes.set_ylabel(heading)
    axes.set_title("expected best validation score (Dodge et al., 2019)")
    axes.legend(fontsize="small")
    _save(plt, figure, path)
    return True


def _save(plt, figure, path):
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
