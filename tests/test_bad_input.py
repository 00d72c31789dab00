"""Every bad input: one clear line, a non-zero exit code, no traceback, no run folder."""

from pathlib import Path

import pytest

from conftest import assert_one_line_error, bench, write_plugin, unit_but

FLAKY_DATASET = '''
    from bench import Input

    class Flaky(Input):
        """Cannot find its data."""
        image_shape = (8, 8, 1)

        def load(self, split):
            raise FileNotFoundError("no such file: /data/flaky.npz")
    '''
TRAIN = ("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "1")


@pytest.mark.parametrize("args, fragments, exit_code", unit_but([
    (("train", "-m", "SingleLayerCA", "-d", "Digits"), ["unknown model 'SingleLayerCA'", "did you mean SingleLayerCAE"], 2),
    (("train", "-m", "SingleLayerCAE", "-d", "MNSIT"), ["unknown dataset 'MNSIT'", "MNIST"], 2),
    (TRAIN + ("--optimizer-args", "{learning_rate: 1}"), ["--optimizer-args", "not valid JSON"], 2),
    (TRAIN + ("--optimizer-args", "[1, 2]"), ["not a JSON object"], 2),
    (TRAIN + ("--optimizer", "Adamm"), ["unknown optimizer 'Adamm'", "did you mean Adam"], 2),
    (TRAIN + ("--optimizer-args", '{"learning_rat": 0.1}'), ["optimizer Adam has no argument 'learning_rat'", "learning_rate"], 2),
    (TRAIN + ("--optimizer-args", '{"learning_rate": -1}'), ["learning_rate must be a number in (0, 1000]"], 2),
    (TRAIN + ("--optimizer-args", '{"learning_rate": NaN}'), ["learning_rate must be a finite number", "nan"], 2),
    (TRAIN + ("--optimizer-args", '{"learning_rate": Infinity}'), ["learning_rate must be a finite number"], 2),
    (TRAIN + ("--optimizer-args", '{"learning_rate": 1e308}'), ["learning_rate must be a number in (0, 1000]"], 2),
    (TRAIN + ("--optimizer-args", '{"beta_1": "x"}'), ["Adam's beta_1 must be a finite number", "'x'"], 2),
    (TRAIN + ("--optimizer", "SGD", "--optimizer-args", '{"nesterov": 1}'), ["nesterov must be true or false"], 2),
    (TRAIN + ("--seed", "-5"), ["--seed must be an integer from 0 to"], 2),
    (TRAIN + ("--lr-decay", "--lr-decay-epochs", "100000000000000000000"), ["--lr-decay-epochs must be a positive"], 2),
    (TRAIN + ("--batch-size", "3000000000"), ["--batch-size must be a positive integer up to"], 2),
    (TRAIN + ("--epochs", "0"), ["--epochs must be a positive integer"], 2),
    (TRAIN + ("--batch-size", "-5"), ["--batch-size must be a positive integer"], 2),
    (TRAIN + ("--l2-penalty", "-1e-9"), ["--l2-penalty must be zero or positive"], 2),
    (TRAIN + ("--epochs", "many"), ["'many' is not a valid integer"], 2),
    (TRAIN + ("--device", "/gpu:7"), ["unknown device '/gpu:7'", "CPU:0"], 2),
    (TRAIN + ("--devices", "/cpu:0,/cpu:1"), ["--devices goes with --strategy mirrored"], 2),
    (TRAIN + ("--strategy", "mirrored", "--devices", "/gpu:0,/gpu:1"), ["unknown device '/gpu:0'"], 2),
    (TRAIN + ("--strategy", "mirrored", "--device", "/cpu:0"), ["--device places a one-device run"], 2),
    (TRAIN + ("--strategy", "multi-worker"), ["needs TF_CONFIG", "README"], 2),
    (TRAIN + ("--strategy", "parallel"), ["'parallel' is not one of", "mirrored"], 2),
    (TRAIN + ("--precision", "float8"), ["'float8' is not one of", "mixed_bfloat16"], 2),
    (TRAIN + ("--steps-per-call", "0"), ["--steps-per-call must be a positive integer"], 2),
    (("train", "-d", "Digits"), ["missing option", "--model"], 2),
    (("eval", "."), ["is not a bench run folder"], 2),
    (("eval", "no/such/run"), ["no/such/run does not exist"], 2),
    (("compare", "--sort", "psnr"), ["cannot sort by 'psnr'", "test_psnr"], 2),
], 4, 19, 21))  # an optimizer the source does not name is looked for in Keras itself; devices ask TensorFlow
def test_bad_arguments(workspace, args, fragments, exit_code):
    result = bench(*args)
    assert_one_line_error(result, *fragments, exit_code=exit_code)
    assert not (workspace / "log").exists()


@pytest.mark.parametrize("tf_config, fragments", [
    ("{cluster: 1}", ["TF_CONFIG is not valid JSON"]),
    ('{"cluster": {"worker": ["localhost:1"]}}', ['TF_CONFIG must hold {"cluster"']),
    ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 3}}', ["task worker 3 is not in"]),
])
@pytest.mark.unit
def test_bad_tf_config(workspace, tf_config, fragments):
    result = bench(*TRAIN, "--strategy", "multi-worker", env={"TF_CONFIG": tf_config})
    assert_one_line_error(result, *fragments, exit_code=2)
    assert not (workspace / "log").exists()


@pytest.mark.parametrize("text, fragments", [
    ("model: [SingleLayerCAE\n", ["run.yaml is not valid YAML", "line"]),
    ("- just\n- a list\n", ["must hold a mapping"]),
    ("model: SingleLayerCAE\ndataset: Digits\nepoch: 3\n", ["unknown key 'epoch'", "epochs"]),
    ("model: SingleLayerCAE\ndataset: Digits\nepochs: [1, 2]\n", ["'epochs' must be integer", "not a list"]),
    ("model: SingleLayerCAE\ndataset: Digits\nl2_penalty: lots\n", ["'l2_penalty' must be float", "lots"]),
    ("model: SingleLayerCAE\ndataset: Digits\nlr_decay: maybe\n", ["'lr_decay' must be boolean"]),
    ("model: SingleLayerCAE\ndataset: Digits\nseed: -1\n", ["--seed must be an integer from 0"]),
])
@pytest.mark.unit
def test_bad_yaml(workspace, text, fragments):
    Path("run.yaml").write_text(text)
    result = bench("train", "--config", "run.yaml")
    assert_one_line_error(result, *fragments, exit_code=2)
    assert not (workspace / "log").exists()


@pytest.mark.unit
def test_yaml_file_that_is_missing(workspace):
    assert_one_line_error(bench("train", "--config", "nope.yaml"), "cannot read nope.yaml", exit_code=2)


def test_model_whose_output_shape_differs(workspace):
    write_plugin(workspace / "models", "Shrinks", '''
        import keras
        from bench import Autoencoder

        class Shrinks(Autoencoder):
            """Forgets to pad: its output is smaller than its input."""
            def __init__(self):
                super().__init__()
                self.conv = keras.layers.Conv2D(1, 3, padding="valid")

            def get(self, images, train_phase=False, l2_penalty=0.0):
                return images, self.conv(images)
        ''')
    result = bench("train", "-m", "Shrinks", "-d", "Digits", "--epochs", "1")
    assert_one_line_error(result, "Shrinks", "(6, 6, 1)", "(8, 8, 1)", exit_code=1)
    assert not (workspace / "log").exists()


@pytest.mark.parametrize("where", ["__init__", "get", "loss"])
def test_model_plugin_that_raises(workspace, where):
    raising = {key: "" for key in ("__init__", "get", "loss")}
    raising[where] = "raise ValueError('plugin bug in " + where + "')"
    write_plugin(workspace / "models", "Buggy", f'''
        import keras
        from bench import Autoencoder

        class Buggy(Autoencoder):
            """Raises somewhere."""
            def __init__(self):
                super().__init__()
                self.conv = keras.layers.Conv2D(1, 3, padding="same")
                {raising["__init__"]}

            def get(self, images, train_phase=False, l2_penalty=0.0):
                {raising["get"]}
                return images, self.conv(images)

            def loss(self, predictions, real_values):
                {raising["loss"]}
                return super().loss(predictions, real_values)
        ''')
    result = bench("train", "-m", "Buggy", "-d", "Digits", "--epochs", "1")
    assert_one_line_error(result, "model plugin Buggy", f"ValueError: plugin bug in {where}", exit_code=1)
    assert not (workspace / "log").exists()


def test_dataset_plugin_that_raises(workspace):
    write_plugin(workspace / "inputs", "Flaky", FLAKY_DATASET)
    result = bench("train", "-m", "SingleLayerCAE", "-d", "Flaky", "--epochs", "1")
    assert_one_line_error(result, "dataset plugin Flaky", "FileNotFoundError", "flaky.npz", exit_code=1)
    assert not (workspace / "log").exists()


def test_verbose_shows_the_traceback(workspace):
    write_plugin(workspace / "inputs", "Flaky", FLAKY_DATASET)
    result = bench("--verbose", "train", "-m", "SingleLayerCAE", "-d", "Flaky", "--epochs", "1")
    assert result.exit_code == 1 and "Traceback" in result.stderr


def test_unwritable_log_folder(workspace):
    Path("not-a-folder").write_text("a file where the log folder should be")
    result = bench(*TRAIN, "--log-dir", "not-a-folder/log")
    assert_one_line_error(result, "cannot write the run folder", "--log-dir", exit_code=1)
    assert Path("not-a-folder").read_text().startswith("a file")


def test_a_plugin_that_exits_is_named_not_silent(workspace):
    write_plugin(workspace / "models", "Exits", '''
        import sys
        from bench import Autoencoder

        class Exits(Autoencoder):
            """Calls sys.exit while it is made."""
            def __init__(self):
                super().__init__()
                sys.exit(0)
        ''')
    result = bench("train", "-m", "Exits", "-d", "Digits", "--epochs", "1")
    assert_one_line_error(result, "model plugin Exits", "sys.exit(0) was called", exit_code=1)
    assert not (workspace / "log").exists()


def test_a_loss_that_fails_only_in_graph_mode_is_named_before_anything_is_written(workspace):
    write_plugin(workspace / "models", "GraphOnly", '''
        import keras
        import tensorflow as tf
        from bench import Autoencoder

        class GraphOnly(Autoencoder):
            """Its loss divides by the batch size, unknown (None) when the step is traced."""
            def __init__(self):
                super().__init__()
                self.conv = keras.layers.Conv2D(1, 3, padding="same")

            def get(self, images, train_phase=False, l2_penalty=0.0):
                return images, self.conv(images)

            def loss(self, predictions, real_values):
                count = 1.0 / (predictions.shape[0] or 0)
                return count * tf.reduce_sum(tf.square(predictions - real_values))
        ''')
    result = bench("train", "-m", "GraphOnly", "-d", "Digits", "--epochs", "1")
    assert_one_line_error(result, "model plugin GraphOnly", "ZeroDivisionError", "compiled the training step",
                          exit_code=1)
    assert not (workspace / "log").exists()


def test_a_python_if_on_a_tensor_is_one_line_that_says_what_to_use_instead(workspace):
    """bench compiles without AutoGraph: a Python `if` on a tensor in `get` is refused when the
    step is compiled, naming the model and tf.cond; nothing is written."""
    write_plugin(workspace / "models", "TensorIf", '''
        import keras
        import tensorflow as tf
        from bench import Autoencoder

        class TensorIf(Autoencoder):
            """Chooses its path with a Python if on a tensor."""
            def __init__(self):
                super().__init__()
                self.conv = keras.layers.Conv2D(1, 3, padding="same")

            def get(self, images, train_phase=False, l2_penalty=0.0):
                if tf.reduce_mean(images) > 0:
                    return images, self.conv(images)
                return images, self.conv(-images)
        ''')
    result = bench("train", "-m", "TensorIf", "-d", "Digits", "--epochs", "1")
    assert_one_line_error(result, "model plugin TensorIf", "tf.cond", "without AutoGraph", exit_code=1)
    assert not (workspace / "log").exists()


ODD_DATASET = '''
    import numpy as np
    from bench import Input

    class Odd(Input):
        """Hands over {what}."""
        image_shape = (8, 8, 1)
        num_classes = 3

        def load(self, split):
            images = np.zeros((6, 8, 8, 1), np.{dtype}) + {fill}
            return images, {labels}
    '''


@pytest.mark.parametrize("what, dtype, fill, labels, fragments", [
    ("text labels", "uint8", "0", "np.array(['cat'] * 6)", ["labels must be integers", "<U3"]),
    ("labels outside num_classes", "uint8", "0", "np.arange(6)", ["labels run from 0 to 5", "num_classes is 3"]),
    ("float pixels on 0..255", "float32", "200.0", "None", ["float32 images must be in [-1, 1]", "200"]),
    ("NaN pixels", "float32", "np.nan", "None", ["NaN or infinite pixels"]),
])
def test_a_dataset_plugin_s_odd_labels_and_pixels_are_one_line_at_load_time(workspace, what, dtype, fill, labels,
                                                                             fragments):
    write_plugin(workspace / "inputs", "Odd", ODD_DATASET.format(what=what, dtype=dtype, fill=fill, labels=labels))
    result = bench("train", "-m", "SingleLayerCAE", "-d", "Odd", "--epochs", "1")
    assert_one_line_error(result, "dataset Odd, split train", *fragments, exit_code=1)
    assert not (workspace / "log").exists()
