"""Planning a run without TensorFlow: the configuration `bench train` trains,
resolved (the optimizer's Keras name and full arguments, the plugins' own names,
the model options that differ from their defaults), its run folder, and
whether that run is finished or would be made from a shorter one's state. A sweep's or a search's
parent plans its runs here, and `bench train` resolves its configuration here.
"""

import dataclasses
from dataclasses import dataclass

from bench import plugins
from bench.data import sources
from bench.model.options import resolve_model_args
from bench.run import continuing, optimizers
from bench.run.config import AUGMENTATIONS
from bench.run.runs import RunFolder


def find_plugins(model, dataset):
    """The PluginSpecs of a model and a dataset name (both checked before anything loads)."""
    return plugins.find("model", model), sources.find_dataset(dataset)


def resolve_config(config):
    """(a new TrainConfig with the optimizer's Keras name and full arguments, the
    plugins' own names and only the model options that differ from their defaults,
    the model's PluginSpec, the dataset's PluginSpec): what names the run folder.

    Raises:
        BenchUsageError: an unknown plugin, optimizer or option.
    """
    optimizer, optimizer_args = optimizers.resolve(config.optimizer, config.optimizer_args)
    model_spec, dataset_spec = find_plugins(config.model, config.dataset)
    resolved = dataclasses.replace(config, optimizer=optimizer, optimizer_args=optimizer_args,
                                   model=model_spec.name, dataset=dataset_spec.name,
                                   model_args=resolve_model_args(model_spec, config.model_args),
                                   **canonical_lists(config))
    return resolved, model_spec, dataset_spec


def canonical_lists(config):
    """--augment and --classes as one spelling each (`flip,,crop` is `flip,crop`, `1,0,0` is
    `0,1`), so that one run is never two folders."""
    names = set(config.augmentations())
    return {"augment": ",".join(name for name in AUGMENTATIONS if name in names),
            "classes": ",".join(map(str, config.class_subset()))}


@dataclass(frozen=True)
class Plan:
    """What `bench train` would do with a configuration."""

    folder: str
    """The run folder it trains."""
    finished: bool
    """The run is finished: nothing to train."""
    continues: str | None = None
    """The shorter run whose state a new run folder would be made from (bench.run.continuing), or None."""


def plan_run(config, restart=False):
    """The Plan of `bench train` with `config` (and --restart).

    Raises:
        BenchUsageError: an impossible value, an unknown plugin, optimizer or option.
    """
    config.check()
    resolved = resolve_config(config)[0]
    run = RunFolder.for_config(resolved)
    if restart:
        return Plan(str(run.path), False)
    shorter = [] if run.is_run() else continuing.shorter_runs(resolved)
    return Plan(str(run.path), run.is_finished(resolved), str(shorter[0][2].path) if shorter else None)
