"""How a run computes: its device, its tf.distribute strategy, its numeric precision, XLA.

None of this is part of what a run *is* except the precision (it changes the
numbers): a run may resume on another strategy or number of replicas, since
checkpoints hold one copy of each variable whatever the replica count.
"""

import contextlib
import re
import signal

import keras
import tensorflow as tf

from bench import files
from bench.errors import BenchUsageError
from bench.run import cluster

_CPU_DEVICE = re.compile(r"^/?(?:job:localhost/replica:0/task:0/)?(?:device:)?cpu:(\d+)$", re.IGNORECASE)


def device_list(devices):
    """'/gpu:0,/gpu:1' (or a list) → ['/gpu:0', '/gpu:1']; None or '' → None."""
    if not devices:
        return None
    names = devices.split(",") if isinstance(devices, str) else list(devices)
    return [name.strip() for name in names if name.strip()] or None


def _split_cpu(devices):
    """Split the CPU into as many logical devices as `devices` names (/cpu:0../cpu:N),
    so that a mirrored run can be tried and tested on a machine without GPUs."""
    indices = [int(match.group(1)) for match in map(_CPU_DEVICE.match, devices) if match]
    wanted = max(indices, default=0) + 1
    cpus = tf.config.list_physical_devices("CPU")
    if wanted <= 1 or not cpus:
        return
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * wanted)
    except RuntimeError as error:
        if len(tf.config.list_logical_devices("CPU")) < wanted:
            raise BenchUsageError(f"cannot split the CPU into {wanted} devices once TensorFlow has started; "
                                  "run bench train in a new process") from error


def make_strategy(name, devices=None):
    """The tf.distribute strategy of a run; call it before TensorFlow runs anything.

    Args:
        name: one of config.STRATEGIES: "default" (one device), "mirrored" (the local GPUs, or `devices`)
            or "multi-worker" (the hosts in TF_CONFIG, each with its local GPUs).
        devices: for "mirrored", the devices to replicate over; naming more CPU
            devices than the machine has splits its CPU into logical devices.
    """
    devices = device_list(devices)
    if name == "mirrored":
        if devices:
            _split_cpu(devices)
            devices = [device_name(device) for device in devices]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi-worker":
        cluster.read_tf_config()
        strategy = tf.distribute.MultiWorkerMirroredStrategy()  # returns once every worker has joined
        # TensorFlow took SIGTERM for its preemption notices, which bench does not use: give it back
        # (training's own handler takes over in Trainer.fit).
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        cluster.joined()
        return strategy
    return tf.distribute.get_strategy()


def is_chief(strategy):
    """Whether this process writes the run's results (every process but a
    multi-worker run's non-chief workers)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def scratch_folder(kind="worker"):
    """A folder for what nobody reads after the process: a non-chief worker's checkpoints
    and logs ("worker"), a dataset's disk cache ("cache"); those of killed processes are
    removed first."""
    return files.scratch_folder(kind)


def set_precision(precision):
    """Set Keras's global dtype policy (one of PRECISIONS): float32, or float16 /
    bfloat16 computation with float32 variables. Call it before building the model."""
    keras.mixed_precision.set_global_policy(precision)


def loss_scaled(optimizer, precision):
    """The optimizer, wrapped for float16's dynamic loss scaling when it needs one."""
    if precision == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def device_name(device):
    """The full name of a logical device given as "/cpu:0", "gpu:1", "/device:GPU:1"...

    Raises:
        BenchUsageError: this machine has no such device.
    """
    known = [d.name for d in tf.config.list_logical_devices()]
    wanted = device.lower().replace("/device:", "/").lstrip("/")
    matches = [name for name in known if name.lower().replace("/device:", "/").lstrip("/").endswith(wanted)]
    if not matches:
        raise BenchUsageError(f"unknown device '{device}'; this machine has {', '.join(known)}")
    return matches[0]


@contextlib.contextmanager
def device_scope(device):
    """Place everything on `device` ("/cpu:0", "/gpu:1", ...), or let TensorFlow choose."""
    if not device:
        yield
        return
    with tf.device(device_name(device)):
        yield
