"""The training options, each defined once: `bench train`'s flags, the TrainConfig
fields (config.yaml's keys), which options a run may change when it resumes,
how the run's folder name spells them, and which are logged as HParams are
all generated from OPTIONS.

Adding an option is one `Option(...)` line here plus the code that uses it.
Nothing here imports TensorFlow.
"""

import os
from dataclasses import dataclass
from pathlib import Path

STRATEGIES = ("default", "mirrored", "multi-worker")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
REQUIRED = object()  # the default of an option that has none


def default_data_dir():
    """The per-user dataset cache: $XDG_CACHE_HOME/bench, or ~/.cache/bench."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return str(Path(base) / "bench")


@dataclass(frozen=True)
class Option:
    """One training option.

    Attributes:
        name: the TrainConfig field and config.yaml key (`--name-with-dashes` on the command line).
        default: its value when not given (REQUIRED: it must be given).
        help: the one-line help of `bench train --help`.
        aliases: more spellings: short flags and DTB's underscore names.
        kind: the click type ("json" for a JSON object, "flag" for a boolean
            flag, a tuple for a choice); None: the default's type.
        resumable: a resumed run may change it (where the run computes, not what it is).
        hparam: logged in TensorBoard's HParams.
        in_name: how the run's folder name spells it when it differs from its
            default: None for `<name>=<value>`, a short name for
            `<short>=<value>`, "apart" when `TrainConfig.run_name` spells it itself.
        check: "positive" (an integer > 0), "non-negative" (a finite number
            ≥ 0) or "seed" (an integer from 0 to 2**32 − 1); every value's type
            is checked too; what else is impossible is in `TrainConfig.check`.
        cli_default: the command line's default when it differs from the
            config's (a callable is called when the help or a run needs it).
    """

    name: str
    default: object
    help: str
    aliases: tuple = ()
    kind: object = None
    resumable: bool = False
    hparam: bool = False
    in_name: str | None = None
    check: str | None = None
    cli_default: object = None

    @property
    def flag(self):
        """The option's main flag, e.g. --batch-size."""
        return "--" + self.name.replace("_", "-")


OPTIONS = (
    Option("model", REQUIRED, "Model plugin name (bench list models).", ("-m",), hparam=True, in_name="apart"),
    Option("dataset", REQUIRED, "Dataset plugin name (bench list datasets).", ("-d",), hparam=True,
           in_name="apart"),
    Option("image_size", "", "Resize every image to H or HxW pixels (default: the dataset's own size; an image "
           "folder's first image).", hparam=True, in_name="size"),
    Option("channels", 0, "An image folder's channels: 1 (grey) or 3 (colour); 0: its first image's.",
           hparam=True, in_name="ch", check="non-negative"),
    Option("on_bad_file", "fail", "An image folder's files that are not images: fail (name them and stop) or "
           "skip (name them and leave them out).", kind=("fail", "skip"), in_name="bad_files"),
    Option("max_image_pixels", 40_000_000, "An image folder's files with more pixels than this (read from their "
           "headers, before decoding) are refused, or left out with --on-bad-file skip: a guard against "
           "decompression bombs.", resumable=True, check="positive"),
    Option("cache", "none", "Keep a streamed dataset's decoded images after the first epoch: in memory (when they "
           "fit), on disk (a scratch folder), or none.", kind=("none", "memory", "disk"), resumable=True),
    Option("augment", "", "Augment the training images as they are read: flip (left-right, half of them), crop "
           "(a random crop of the image padded by an eighth on each side); comma-separated, e.g. flip,crop.",
           hparam=True, in_name="aug"),
    Option("classes", "", "Train on these classes of a labelled dataset only, e.g. 0,1 (label numbers): every "
           "split keeps only them; bench eval --anomaly then scores the whole test split, other classes as "
           "anomalies.", hparam=True),
    Option("model_args", {}, "The model's options as JSON, e.g. '{\"filters\": [32, 16, 8]}' (see its docstring).",
           ("--model_args",), kind="json", hparam=True, in_name="apart"),
    Option("noise_factor", 0.0, "Denoising: train on inputs with Gaussian noise of this std (on [0, 1] pixels), "
           "scored against the clean images.", ("--noise_factor",), hparam=True, in_name="apart",
           check="non-negative"),
    Option("epochs", 150, "Epochs to train in all: part of the run's identity (in its name unless 150, DTB's "
           "length); more than a finished run's makes a new, longer run from that run's state.", hparam=True,
           in_name="apart", check="positive"),
    Option("batch_size", 128, "Images per step.", ("--batch_size",), hparam=True, in_name="bs", check="positive"),
    Option("optimizer", "Adam", "Any Keras optimizer (Adam, SGD, RMSprop, ...) or DTB's TF1 name (AdamOptimizer, "
           "MomentumOptimizer), with TF1's defaults (AdamOptimizer: epsilon 1e-8).", hparam=True, in_name="apart"),
    Option("optimizer_args", {}, "The optimizer's arguments as JSON, e.g. '{\"learning_rate\": 1e-5}'.",
           ("--optimizer_args",), kind="json", hparam=True, in_name="apart"),
    Option("lr_decay", False, "DTB's staircase exponential learning-rate decay.", ("--lr_decay",), kind="flag",
           hparam=True, in_name="apart"),
    Option("lr_decay_epochs", 25, "Epochs between two decays.", ("--lr_decay_epochs",), hparam=True,
           in_name="decay_epochs", check="positive"),
    Option("lr_decay_factor", 0.1, "Learning-rate multiplier at each decay.", ("--lr_decay_factor",), hparam=True,
           in_name="decay_factor", check="non-negative"),
    Option("l2_penalty", 0.0, "DTB's weight decay: l2_penalty · ½‖W‖² for each kernel the model regularizes.",
           ("--l2_penalty",), hparam=True, in_name="apart", check="non-negative"),
    Option("seed", 0, "Seed of weights, shuffling and noise.", hparam=True, check="seed"),
    Option("comment", "", "Appended to the run's folder name.", in_name="apart"),
    Option("summary_every", 100, "Steps between TensorBoard summaries of the training (scalars, activations).",
           ("--summary_every",), resumable=True, check="positive"),
    Option("device", None, "Where to train, e.g. /cpu:0 or /gpu:1 (default: TensorFlow's choice).",
           ("--train-device", "--train_device"), resumable=True),
    Option("data_dir", "", "Dataset cache (BENCH_DATA_DIR).", ("--data_dir",), resumable=True,
           cli_default=default_data_dir),
    Option("log_dir", "log", "Root folder of the runs.", ("--log_dir",), resumable=True),
    Option("strategy", "default", "tf.distribute: one device; mirrored over the local GPUs (or --devices); "
           "multi-worker over the hosts in TF_CONFIG. --batch-size is the global batch, split across the replicas.",
           kind=STRATEGIES, resumable=True),
    Option("devices", None, "With --strategy mirrored: the devices, e.g. /gpu:0,/gpu:1 (/cpu:0,/cpu:1 splits the "
           "CPU).", resumable=True),
    Option("cluster_timeout", 300, "With --strategy multi-worker: seconds to wait for every worker to join; "
           "then stop, naming the workers not reached.", resumable=True, check="positive"),
    Option("precision", "float32", "Compute in 16 bits with float32 weights (Keras mixed precision); part of the "
           "run's name.", kind=PRECISIONS, hparam=True, in_name="apart"),
    Option("jit", False, "Compile the training step with XLA.", kind="flag", resumable=True),
    Option("extras", "all", "What the end of the run writes beside its metrics: all (the best model's pictures and "
           "TensorBoard projector) or none (faster, for trials and sweeps; the next bench train of the finished run "
           "makes them).", kind=("all", "none"), resumable=True),
    Option("summaries", "all", "What TensorBoard gets besides the scalars as the run trains: all (weight and "
           "activation histograms, reconstructions, filters and feature maps) or scalars (faster; the numbers are "
           "the same).", kind=("all", "scalars"), resumable=True),
    Option("steps_per_call", 8, "Training steps per compiled call (fewer Python round trips; summaries and Ctrl-C "
           "are seen between calls).", ("--steps_per_call",), resumable=True, check="positive"),
)
BY_NAME = {option.name: option for option in OPTIONS}
RESUMABLE_KEYS = tuple(option.name for option in OPTIONS if option.resumable)
NAMED_APART = tuple(option.name for option in OPTIONS if option.in_name == "apart")
NAME_ABBREVIATIONS = {option.name: option.in_name for option in OPTIONS if option.in_name not in (None, "apart")}
# learning_rate is logged apart from optimizer_args, where it lives, so HParams can sort by it.
HPARAMS = tuple(option.name for option in OPTIONS if option.hparam) + ("learning_rate",)
