"""PNG pictures a user can open without TensorBoard (matplotlib, no display needed).

    reconstructions.png   fixed test images, their noisy versions (denoising), reconstructions
    filters.png           the first layer's filters
    curves.png            training and validation error per epoch
    bench compare --plot  the validation curves of many runs in one figure
    anomaly_scores.png    bench eval --anomaly: the scores of seen and unseen classes

Nothing here imports TensorFlow: arrays come in as NumPy.
"""

import math

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def tile(images, columns=None, gap=1.0):
    """(n, h, w, c) images in [0, 1] → one (1, H, W, c) grid with 1-pixel gaps of `gap` (a
    value, or one per channel)."""
    images = np.asarray(images, dtype=np.float32)
    count, height, width, depth = images.shape
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    grid = np.empty((rows * (height + 1) - 1, columns * (width + 1) - 1, depth), np.float32)
    grid[...] = gap
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        grid[row * (height + 1):row * (height + 1) + height, column * (width + 1):column * (width + 1) + width] = image
    return grid[np.newaxis]


def _show(axis, image):
    """Draw one image given in [0, 1] (grey or RGB) without axes."""
    if image.shape[-1] == 1:
        axis.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        axis.imshow(np.clip(image, 0.0, 1.0), interpolation="nearest")
    axis.set_xticks([])
    axis.set_yticks([])


def save_reconstructions(path, rows, title):
    """A grid: one row per (label, images in [-1, 1]) pair, one column per example."""
    plt = _pyplot()
    count = len(rows[0][1])
    figure, axes = plt.subplots(len(rows), 1, figsize=(1.2 * count, 1.3 * len(rows) + 0.5), squeeze=False)
    for axis, (label, images) in zip(axes[:, 0], rows):
        # one strip per row, one axes: drawing 8 images costs what drawing one does
        _show(axis, tile((np.asarray(images, np.float32) + 1.0) / 2.0, columns=count)[0])
        axis.set_ylabel(label, rotation=0, ha="right", va="center")
    figure.suptitle(title, fontsize=9)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


def filter_images(kernel, image_shape, limit=64):
    """The first layer's filters as images in [0, 1], each normalised on its own.

    A convolution kernel (kh, kw, in, out) gives one kh×kw image per output
    map (RGB when the input has 3 channels, else the mean over inputs); a dense
    kernel over flattened pixels (h·w·c, units) gives one image per unit.
    """
    kernel = np.asarray(kernel, dtype=np.float32)
    if kernel.ndim == 4:
        filters = np.moveaxis(kernel, 3, 0)  # out, kh, kw, in
        if filters.shape[-1] not in (1, 3):
            filters = filters.mean(axis=-1, keepdims=True)
    elif kernel.ndim == 2 and kernel.shape[0] == math.prod(image_shape):
        filters = kernel.T.reshape((-1,) + tuple(image_shape))
        if filters.shape[-1] not in (1, 3):
            filters = filters.mean(axis=-1, keepdims=True)
    else:
        return None
    filters = filters[:limit]
    low = filters.min(axis=(1, 2, 3), keepdims=True)
    span = filters.max(axis=(1, 2, 3), keepdims=True) - low
    return (filters - low) / np.where(span > 0, span, 1.0)


SEPARATORS = np.array([(1.0, 0.0, 1.0), (0.0, 1.0, 1.0), (1.0, 1.0, 0.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0),
                       (0.0, 0.0, 1.0)], np.float32)


def separator_colour(images):
    """An RGB colour for the gaps between (n, h, w, 1 or 3) images in [0, 1] that none of their
    pixels comes near: of a few saturated colours, the farthest from every pixel (grey images:
    magenta, which no grey is)."""
    pixels = np.asarray(images, np.float32).reshape(-1, np.shape(images)[-1])
    if pixels.shape[1] == 1:
        pixels = np.repeat(pixels, 3, axis=1)
    pixels = np.unique(np.round(pixels, 2), axis=0)
    nearest = [np.min(np.linalg.norm(pixels - colour, axis=1)) for colour in SEPARATORS]
    return SEPARATORS[int(np.argmax(nearest))]


def save_filters(path, filters, title):
    """A square-ish grid of filter images in [0, 1], the gaps in a colour no filter uses."""
    plt = _pyplot()
    columns = math.ceil(math.sqrt(len(filters)))
    rows = math.ceil(len(filters) / columns)
    figure, axis = plt.subplots(figsize=(0.9 * columns, 0.9 * rows + 0.4))
    rgb = np.repeat(filters, 3, axis=-1) if filters.shape[-1] == 1 else filters
    _show(axis, tile(rgb, columns=columns, gap=separator_colour(filters))[0])
    figure.suptitle(title, fontsize=9)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


PATTERNS = (("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"))


def line_styles(count):
    """`count` line styles no two of which are alike: up to 40, the 10 default colours with 4
    dash patterns and markers; beyond, as many colours spread over a colour map, each with a
    dash pattern and marker in turn."""
    import itertools

    if count <= 10 * len(PATTERNS):
        styles = [{"color": colour, "linestyle": dash, "marker": marker}
                  for (dash, marker), colour in itertools.product(PATTERNS, [f"C{index}" for index in range(10)])]
        return styles[:count]
    from matplotlib import colormaps

    colours = colormaps["turbo"](np.linspace(0.0, 1.0, count))
    return [{"color": tuple(colours[index]), "linestyle": PATTERNS[index % 4][0], "marker": PATTERNS[index % 4][1]}
            for index in range(count)]


def _draw_series(axis, series, styles=None):
    """Curves of [(label, epochs, errors[, band or None])] on a log scale, each band shaded."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    for label, epochs, errors, *band in series:
        style = dict(next(styles)) if styles else {"marker": "o"}  # (styles: an iterator of line_styles)
        if len(epochs) >= 30:
            style["marker"] = None
        line, = axis.plot(epochs, errors, markersize=3, label=label, **style)
        if band and band[0] is not None:
            lows, highs = band[0]
            axis.fill_between(epochs, [max(low, 1e-12) for low in lows], highs, color=line.get_color(), alpha=0.2)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    firsts, lasts = [min(epochs) for _, epochs, *_ in series if epochs], [max(epochs) for _, epochs, *_ in series
                                                                           if epochs]
    if firsts and min(firsts) == max(lasts):  # one epoch: a narrow axis around it, not 0.945 to 1.050
        axis.set_xlim(min(firsts) - 1, min(firsts) + 1)
    axis.set_xlabel("epoch")
    axis.set_yscale("log")
    axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.2g}"))  # 0.3, not 3×10⁻¹
    axis.yaxis.set_minor_formatter(FuncFormatter(_two_and_five))
    axis.grid(True, which="both", alpha=0.3)


def _two_and_five(value, _):
    """A log axis' minor label: only at 2 and 5 of each decade, written plainly."""
    if value <= 0:
        return ""
    leading = round(value / 10 ** math.floor(math.log10(value)))
    return f"{value:.2g}" if leading in (2, 5) else ""


def save_curves(path, series, title):
    """Error per epoch on a log scale: `series` is [(label, epochs, errors)] or
    [(label, epochs, errors, (lows, highs) or None)], the band shaded around the curve."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 4.2))
    _draw_series(axis, series)
    axis.set_ylabel("error: ½·mean((x − x̃)²), pixels in [-1, 1]")
    axis.legend(fontsize=7)
    axis.set_title(title, fontsize=9)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


def save_curve_panels(path, panels, title):
    """One panel per dataset ({dataset: series}, series as `save_curves` takes them), each
    curve in its own colour, dash and marker, each panel's legend outside it, on the right."""
    plt = _pyplot()
    longest = max(len(series) for series in panels.values())
    height = max(3.2, 0.22 * longest + 1.0)
    figure, axes = plt.subplots(len(panels), 1, figsize=(11, height * len(panels)), squeeze=False,
                                layout="constrained")  # titles, labels and legends laid out without overlap
    for axis, (dataset, series) in zip(axes[:, 0], panels.items()):
        _draw_series(axis, series, iter(line_styles(len(series))))
        axis.set_ylabel("validation error", fontsize=8)
        axis.set_title(dataset, fontsize=9)
        axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    figure.suptitle(f"{title}; error: ½·mean((x − x̃)²), pixels in [-1, 1]", fontsize=9)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


def save_score_histogram(path, seen, unseen, title):
    """Two overlaid histograms of anomaly scores on shared bins: seen and unseen classes."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 4.2))
    bins = np.histogram_bin_edges(np.concatenate([seen, unseen]), bins=40)
    axis.hist(seen, bins=bins, alpha=0.6, label=f"seen classes ({len(seen):,} images)", color="tab:blue")
    axis.hist(unseen, bins=bins, alpha=0.6, label=f"unseen classes ({len(unseen):,} images)", color="tab:red",
              hatch="//")
    axis.set_xlabel("score: the image's error ½·mean((x − x̃)²), pixels in [-1, 1]")
    axis.set_ylabel("test images")
    axis.legend(fontsize=8)
    axis.set_title(title, fontsize=9)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
