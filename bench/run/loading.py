"""Loading what a run names: a dataset read as `bench train` would read it, and a
trained run's model loaded from its checkpoint, strictly, with its data (for eval,
embed, encode, export ...). Its configuration is resolved by bench.run.planning."""

from dataclasses import dataclass
from pathlib import Path

from bench import plugins
from bench.data import datasets, sources
from bench.data.datasets import load_data
from bench.errors import BenchUsageError
from bench.model import building, checkpoints
from bench.model.kept import held_latest
from bench.run import compute, fingerprint, runs
from bench.run.config import TrainConfig
from bench.run.results import measured, provenance
from bench.run.runs import BEST, CHECKPOINT_FOLDERS, CHECKPOINTS, RunFolder


def load_named_data(dataset_name, report, **options):
    """(spec, dataset, {split: Split}) of a dataset read as `bench train` would with `options`
    (image_size, channels, on_bad_file, data_dir: the training options of those names), checked first."""
    from bench.run.config import TrainConfig
    from bench.run.options import default_data_dir

    config = TrainConfig(model="-", dataset=dataset_name, **{"data_dir": default_data_dir(), **options})
    config.check()
    spec = sources.find_dataset(dataset_name)
    dataset, held = load_data(spec, config.data_dir, report, **data_options(config))
    return spec, dataset, held


def data_options(config):
    """load_data's keywords from a TrainConfig: its image size, channels, bad-file policy and classes."""
    return {"image_size": config.image_hw(), "channels": config.channels or None, "on_bad_file": config.on_bad_file,
            "max_image_pixels": config.max_image_pixels,
            "classes": config.class_subset()}


def hold_data(config):
    """Hold `config`'s dataset in this process's memory, as `bench train` of it would load it,
    for the trainings this process forks (bench.data.datasets.hold); whether it is held."""
    return datasets.hold(sources.find_dataset(config.dataset), config.data_dir, config.seed, **data_options(config))


def restore(weights, run, checkpoint):
    """Load the `checkpoint` ("best" or "last") of `run` into a model's {path: weight},
    strictly; returns what was loaded: {"checkpoint", "epoch", "step"}."""
    with held_latest(run.sub(CHECKPOINT_FOLDERS[checkpoint])) as path:  # a trainer does not delete it meanwhile
        if path is None:
            trained = checkpoint == "best" and checkpoints.latest(run.sub(CHECKPOINTS)) is not None
            raise checkpoints.CheckpointError(
                f"{run.path} has no {checkpoint} checkpoint"
                + (f" ({run.sub(BEST)} is missing or empty, though {run.sub(CHECKPOINTS)} holds a trained state); "
                   f"{checkpoints.RESTART_HINT}" if trained else " yet; train it first (or choose --checkpoint)"))
        scalars = checkpoints.load_weights(path, weights)
    epoch = scalars.get("epoch") if checkpoint == "best" else scalars.get("epochs_done")
    return {"checkpoint": checkpoint, "epoch": int(epoch or 0), "step": int(scalars.get("step", 0))}


def _recorded_model(run, name):
    """The model plugin a run names, found from here; not found, BenchUsageError says where
    the run's model came from and how to use it."""
    try:
        return plugins.find("model", name)
    except BenchUsageError as error:
        document = fingerprint.read(run) or {}
        source = next(iter(document.get("sources", [])), {})
        if not source:
            raise
        copy = run.sub(source["copy"]) if source.get("copy") else None
        raise BenchUsageError(
            f"{run.path} was trained with model {name} from {source.get('file')} ({document.get('origin')}), "
            f"which is not found from {Path.cwd()}: run bench from the folder that holds models/{name}.py"
            + (f", or use the run's copy: --model-file {copy}" if copy else "")) from error


@dataclass
class TrainedRun:
    """A trained run, loaded: its folder, configuration, dataset and splits, and its model
    with one checkpoint's weights (`loaded`: {"checkpoint", "epoch", "step"})."""

    folder: RunFolder
    config: TrainConfig
    dataset: object
    splits: dict
    model: object
    loaded: dict

    def view(self, noise_factor=0.0):
        """The model's bench.model.view.ModelView."""
        from bench.model.view import ModelView

        return ModelView(self.model, noise_factor)

    def measured(self, split, noise_factor=0.0):
        """The provenance of a number measured now on `split` with this checkpoint."""
        return measured(self.loaded["checkpoint"], self.loaded["epoch"], self.loaded["step"], split, noise_factor)

    def checkpoint_words(self, noise_factor=0.0):
        """"best checkpoint (epoch 3, step 30), clean input": what a command measured."""
        return provenance(dict(self.loaded, noise_factor=noise_factor), with_split=False)


def load_trained(run_path, checkpoint="best", data_dir=None, report=None, model_file=None, writing=False,
                 say_checkpoint=True):
    """A TrainedRun: the run's configuration and data read as it was trained, its model
    built and checked against the run's record, the checkpoint's weights loaded strictly.

    Args:
        checkpoint: "best" (the best model on validation) or "last" (the latest state).
        data_dir: the dataset cache; None: the one the run was trained with.
        model_file: build the model from this file (e.g. the run's recorded copy
            in model_source/) instead of the plugin found by name.
        writing: the caller will write into the run folder: refuse now when it cannot.
        say_checkpoint: say which checkpoint (its epoch and step) was loaded (bench eval says
            it itself, with the input it measured).
    """
    run = RunFolder(run_path)
    config = run.read_config()
    run.read_results()  # a damaged results.json is refused before any work
    if writing:
        run.check_writable()
    dataset_spec = sources.find_dataset(config.dataset)
    model_spec = fingerprint.spec_for_file(config.model, model_file) if model_file else \
        _recorded_model(run, config.model)
    compute.set_precision(config.precision)  # measured as it was trained
    with compute.device_scope(config.device):
        # the data as the run read it: what its loading says was said when it was trained
        quiet = report.warnings_only() if report is not None else None
        dataset, splits = datasets.load_data(dataset_spec, data_dir or config.data_dir, quiet,
                                             **data_options(config))
        runs.check_same_data(run, run.read_results(), dataset)
        model = building.build_model(model_spec, dataset.image_shape, model_args=config.model_args)
        weights, _ = checkpoints.model_groups(model)
        fingerprint.check(run, model, weights, report)
        loaded = restore(weights, run, checkpoint)
    trained = TrainedRun(run, config, dataset, splits, model, loaded)
    if report is not None and say_checkpoint:  # which epoch's checkpoint the command uses
        report.info(f"{run.path}: {trained.checkpoint_words()}")
    return trained
