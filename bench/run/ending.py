"""The end of a run, its own step after the last epoch: the pictures and the
projector of the best model, and the results shown to the user (the Trainer
measures the final metrics and records them with `runs.final_metrics`, after
these pieces, so that a run stopped in its ending ends it at the next start).
"""

import tensorflow as tf

from bench import pictures
from bench.model import architecture, embedding
from bench.run.evaluate import metrics_table
from bench.run.runs import CURVES_PNG, FILTERS_PNG, PROJECTOR, RECONSTRUCTIONS_PNG, RESULTS_TXT

GRID_IMAGES = 8
PIECES = ("pictures", "projector")


def missing(run):
    """The pieces of the ending (PIECES) whose files are not all in the run folder."""
    files = {"pictures": [run.sub(RECONSTRUCTIONS_PNG), run.sub(CURVES_PNG)],
             "projector": [run.sub(PROJECTOR) / embedding.CONFIG_FILE]}
    return [piece for piece in PIECES if not all(path.is_file() for path in files[piece])]


def save_pictures(run, config, model, evaluator, noisy_evaluator, test_split, results):
    """reconstructions.png, filters.png and curves.png of the (best) model in the run folder."""
    name = f"{config.model} on {config.dataset}, best model (epoch {results['best_epoch']})"
    test_images = tf.convert_to_tensor(test_split.first(GRID_IMAGES)[0])
    clean = evaluator.reconstruct(test_images)
    rows = [("input", clean[0].numpy())]
    if noisy_evaluator is not None:
        noisy = noisy_evaluator.reconstruct(test_images)
        rows += [(f"noisy ({config.noise_factor:g})", noisy[0].numpy()), ("reconstruction", noisy[1].numpy())]
    else:
        rows.append(("reconstruction", clean[1].numpy()))
    pictures.save_reconstructions(run.sub(RECONSTRUCTIONS_PNG), rows, f"{name}: test images")
    kernel = architecture.first_kernel(model)
    filters = pictures.filter_images(kernel.numpy(), clean[0].shape[1:]) if kernel is not None else None
    if filters is not None:
        pictures.save_filters(run.sub(FILTERS_PNG), filters, f"{name}: first-layer filters ({kernel.path})")
    history = results.get("history", [])
    pictures.save_curves(run.sub(CURVES_PNG), [
        ("train (epoch mean)", [h["epoch"] for h in history], [h["train_error"] for h in history]),
        ("validation", [h["epoch"] for h in history], [h["validation_error"] for h in history]),
    ], f"{config.model} on {config.dataset}: {run.path.name}")


def save_projector(run, config, model, dataset, test_split):
    """The test codes, labels and sprite for TensorBoard's projector."""
    embedding.write_projector(run.sub(PROJECTOR), model, test_split, dataset.class_names, config.batch_size)


def show_results(report, run, config, results):
    """The best model's validation and test metrics, and where the run's files are."""
    validation, test = results["best"]["validation"], results["best"]["test"]
    report.info(f"best model (epoch {results['best_epoch']} of {results['epochs_done']}): {run.path}")
    report.table(metrics_table({"validation": validation, "test": test}))
    report.info(f"results in {run.sub(RESULTS_TXT)}; curves: tensorboard --logdir {config.log_dir}")
