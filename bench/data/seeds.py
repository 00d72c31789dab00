"""Every random stream of a run, derived from its --seed in this one place.

- weights: Keras draws the initial weights from the seed itself (keras.utils.set_random_seed).
- the training order of an epoch: `epoch_order(seed, epoch)`; its images' augmentations:
  `augmentation(epoch order, image index, which)`.
- the denoising noise and the model's own draws in a training step: the replica's
  `replica_stream(seed, replica)` with the step; a model's k-th draw of a pass is
  `model_draw(stream, step, k)`.
- a noisy evaluation's inputs: EVALUATION_NOISE with the batch's index (the same noise every time).

Each is a function of its arguments only, never of a generator's state, so a resumed
run draws what an uninterrupted one draws. The functions work on Python integers and
on TensorFlow int64 tensors alike.
"""

EVALUATION_NOISE = 20161231
_EPOCH_STRIDE = 100003
_REPLICA_STRIDE = 1_000_003
# A pass's k-th draw is (stream + k·stride, step): apart from the other draws, from the other
# replicas' streams and from the denoising noise's (stream, step).
_DRAW_STRIDE = 1 << 40


def epoch_order(seed, epoch):
    """The seed of an epoch's order (and of its augmentations): distinct, reproducible, per epoch."""
    return seed * _EPOCH_STRIDE + epoch


def replica_stream(seed, replica):
    """The stream of a replica's draws in a training step (the step is the other half of the seed)."""
    return seed + _REPLICA_STRIDE * replica


def model_draw(stream, call):
    """The stream of a model's `call`-th draw (from 1) of a pass."""
    return stream + call * _DRAW_STRIDE


def augmentation(order_seed, index, which):
    """The seed pair of the `which`-th augmentation (0: flip, 1: crop) of an epoch's `index`-th image."""
    return order_seed, index + which * _DRAW_STRIDE
