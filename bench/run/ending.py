"""The end of a run, its own step after the last epoch: the best model measured on
validation and test, its pictures and its projector (each a Piece), the final metrics
recorded last (so that a run stopped in its ending ends it at the next start), and the
results shown. A finished run makes only what is missing of its ending; with --extras none
it makes no pictures and no projector (a later bench train of the run makes them)."""

from typing import NamedTuple

import tensorflow as tf

from bench import pictures
from bench.model import architecture, embedding
from bench.model.metrics import METRICS, metrics_table
from bench.run.results import final_metrics, measured
from bench.run.runs import CURVES_PNG, FILTERS_PNG, PROJECTOR, RECONSTRUCTIONS_PNG, RESULTS_TXT
from bench.run.stopping import stop_if_signalled

GRID_IMAGES = 8


class RunEnd(NamedTuple):
    """What the ending of a run uses, handed over by its Trainer (bench.run.train), and nothing
    else of it.

    Attributes:
        run, config, report: the RunFolder, its TrainConfig, the console.
        state: the loop's LoopState (its best checkpoint restored here).
        recorder: the Recorder of results.json.
        writers: the run's RunWriters (TensorBoard).
        view, noisy_view: the ModelView of the model, and of its noisy inputs (None: no noise).
        splits: {name: Split}.
        class_names: the dataset's class names (the projector's labels), or None.
    """

    run: object
    config: object
    report: object
    state: object
    recorder: object
    writers: object
    view: object
    noisy_view: object
    splits: dict
    class_names: object


class Piece:
    """A part of a run's ending that writes files: its name, the files that say it is
    done, and how it makes them from the RunEnd (`loop`) and the results so far."""

    name = ""

    def files(self, run):
        """The files that, all present, mean this piece is done."""
        raise NotImplementedError

    def make(self, loop, results):
        """Write the piece's files."""
        raise NotImplementedError


class Pictures(Piece):
    """reconstructions.png, filters.png and curves.png of the best model."""

    name = "pictures"

    def files(self, run):
        return [run.sub(RECONSTRUCTIONS_PNG), run.sub(CURVES_PNG)]

    def make(self, loop, results):
        run, config = loop.run, loop.config
        title = f"{config.model} on {config.dataset}, best model (epoch {results['best_epoch']})"
        test_images = tf.convert_to_tensor(loop.splits["test"].first(GRID_IMAGES)[0])
        clean = loop.view.reconstruct(test_images)
        rows = [("input", clean[0].numpy())]
        if loop.noisy_view is not None:
            noisy = loop.noisy_view.reconstruct(test_images)
            rows += [(f"noisy ({config.noise_factor:g})", noisy[0].numpy()), ("reconstruction", noisy[1].numpy())]
        else:
            rows.append(("reconstruction", clean[1].numpy()))
        pictures.save_reconstructions(run.sub(RECONSTRUCTIONS_PNG), rows, f"{title}: test images")
        kernel = architecture.first_kernel(loop.view.model)
        filters = pictures.filter_images(kernel.numpy(), clean[0].shape[1:]) if kernel is not None else None
        if filters is not None:
            pictures.save_filters(run.sub(FILTERS_PNG), filters, f"{title}: first-layer filters ({kernel.path})")
        history = results.get("history", [])
        pictures.save_curves(run.sub(CURVES_PNG), [
            ("train (epoch mean)", [h["epoch"] for h in history], [h["train_error"] for h in history]),
            ("validation", [h["epoch"] for h in history], [h["validation_error"] for h in history]),
        ], f"{config.model} on {config.dataset}: {run.path.name}")


class Projector(Piece):
    """The test codes, labels and sprite for TensorBoard's projector."""

    name = "projector"

    def files(self, run):
        return [run.sub(PROJECTOR) / embedding.CONFIG_FILE]

    def make(self, loop, results):
        embedding.write_projector(loop.run.sub(PROJECTOR), loop.view, loop.splits["test"], loop.class_names,
                                  loop.config.batch_size)


PIECES = (Pictures(), Projector())


def missing(run):
    """The pieces of the ending whose files are not all in the run folder."""
    return [piece for piece in PIECES if not all(path.is_file() for path in piece.files(run))]


def end_run(loop, signals):
    """The ending of a run (`loop`: its RunEnd); returns the results dict."""
    run, recorder = loop.run, loop.recorder
    results = run.read_results()
    finished = (results.get("status") == "finished" and results.get("epochs_done") == loop.state.value("epochs_done")
                and "test" in results.get("best", {}))
    pieces = [] if loop.config.extras == "none" else missing(run) if finished else PIECES
    if finished and not pieces:
        show_results(loop.report, run, loop.config, results)
        return results
    stop_if_signalled(signals, "before the end of the run", recorder)
    loop.state.restore_best()
    if not finished:
        validation, test = measure_best(loop, results)
        results = final_metrics(results, validation, test)
        loop.writers.final_metrics(loop.state.value("step"), validation, test)
    for piece in pieces:
        stop_if_signalled(signals, f"before the {piece.name} of the best model", recorder)
        piece.make(loop, results)
    if not finished:
        results = recorder.record("finished", lambda saved: final_metrics(saved, validation, test))
    show_results(loop.report, run, loop.config, results)
    return results


def measure_best(loop, results):
    """The best model's validation and test metrics, with their provenance (its weights loaded).
    Its validation metrics were measured at the end of its epoch, on these very weights, and
    recorded (results' best.validation): they are taken as they are, not measured twice."""
    epoch, step = loop.state.best_saved_at()
    recorded = results.get("best", {}).get("validation", {})
    if (recorded.get("epoch"), recorded.get("step")) == (epoch, step) and all(
            metric.name in recorded for metric in METRICS):
        validation = recorded
    else:
        validation = dict(loop.view.measure(loop.splits["validation"], loop.config.batch_size),
                          **measured("best", epoch, step, "validation"))
    test = dict(loop.view.measure(loop.splits["test"], loop.config.batch_size), **measured("best", epoch, step, "test"))
    return validation, test


def show_results(report, run, config, results):
    """The best model's validation and test metrics, and where the run's files are."""
    validation, test = results["best"]["validation"], results["best"]["test"]
    report.info(f"best model (epoch {results['best_epoch']} of {results['epochs_done']}): {run.path}")
    report.table(metrics_table({"validation": validation, "test": test}))
    report.info(f"results in {run.sub(RESULTS_TXT)}; curves: tensorboard --logdir {config.log_dir}")
