"""A real TensorBoard reads a run: scalars, images, histograms, hparams and projector have data."""

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import bench, event_tags, run_dir

RUN = run_dir("SingleLayerCAE", log_dir=".").as_posix()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def tensorboard(workspace):
    """A TensorBoard on loopback over ./log; yields a function GET/POST-ing its data API."""
    assert bench("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "2", "--summary-every", "5",
                 "--summaries", "all").exit_code == 0
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", "log", "--host", "127.0.0.1",
                               "--port", str(port), "--reload_interval", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def data(path, body=None):
        request = urllib.request.Request(f"http://127.0.0.1:{port}/data/{path}",
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    try:
        deadline = time.time() + 120
        while True:
            try:
                if f"{RUN}/validation" in data("runs"):
                    break
            except OSError:
                pass
            if time.time() > deadline or server.poll() is not None:
                pytest.fail("TensorBoard did not start or did not load the run")
            time.sleep(0.5)
        yield data
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.extras
def test_tensorboard_shows_every_dashboard(tensorboard):
    plugins = tensorboard("plugins_listing")
    for name in ("scalars", "images", "histograms", "hparams"):  # the projector decides lazily: see below
        assert plugins[name]["enabled"], name

    scalars = tensorboard("plugin/scalars/tags")
    assert "error" in scalars[f"{RUN}/train"] and "error" in scalars[f"{RUN}/validation"]
    assert {"loss", "learning_rate", "gradient_norm"} <= set(scalars[f"{RUN}/train"])
    assert any(tag.startswith("zero_fraction/") for tag in scalars[f"{RUN}/train"])

    images = tensorboard("plugin/images/tags")[f"{RUN}/validation"]
    assert "input | reconstruction" in images
    assert any(tag.startswith("filters/") for tag in images)
    assert any(tag.endswith("/pre_activation") for tag in images) and any(tag.endswith("/post_activation") for tag in images)

    histograms = tensorboard("plugin/histograms/tags")[f"{RUN}/train"]
    assert any(tag.startswith("weights/") for tag in histograms)
    assert any(tag.startswith("activations/") for tag in histograms)

    experiment = tensorboard("plugin/hparams/experiment", {"experimentName": ""})
    assert {"model", "dataset", "l2_penalty", "batch_size", "seed"} <= {h["name"] for h in experiment["hparamInfos"]}
    # the table opens on the five it lists first: the settings runs differ in
    assert {h["name"] for h in experiment["hparamInfos"][:5]} == {"model", "dataset", "learning_rate", "l2_penalty",
                                                                  "model_args"}
    groups = tensorboard("plugin/hparams/session_groups", {
        "experimentName": "", "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS"], "colParams": [],
        "startIndex": 0, "sliceSize": 10})["sessionGroups"]
    assert [group["name"] for group in groups] == [RUN]
    hparams = groups[0]["hparams"]  # integers as text: the table prints numbers to 5 significant digits
    assert hparams["epochs"] == "2" and hparams["batch_size"] == "128" and hparams["learning_rate"] == 0.001, hparams
    metric_names = {value["name"]["tag"] for value in groups[0]["metricValues"]}
    assert {"error", "test_error", "test_psnr", "test_ssim"} <= metric_names

    deadline = time.time() + 60
    while not tensorboard("plugin/projector/runs") and time.time() < deadline:
        time.sleep(0.5)
    assert tensorboard("plugin/projector/runs") == [f"{RUN}/projector"]
    info = tensorboard(f"plugin/projector/info?run={RUN.replace('=', '%3D')}/projector")
    embedding = info["embeddings"][0]
    assert embedding["tensorShape"][0] == 360 and embedding["metadataPath"] == "metadata.tsv"
    assert embedding["sprite"]["singleImageDim"] == [8, 8]


def test_layers_without_weights_have_tags_of_their_own(zoo_runs):
    """Keras gives a pooling layer no path: its tags carry its name, never `/None`."""
    _, runs, _ = zoo_runs
    tags = event_tags(runs["ConvAE"] / "train")
    assert not [tag for tag in tags if tag.endswith("/None")]
    assert [step for step, _ in tags["epoch_error"]] == [10, 20]  # the console's train error, once an epoch
    assert "activations/max_pooling2d" in tags and "zero_fraction/max_pooling2d" in tags


def test_embed_keeps_one_projector_per_split(workspace, zoo_runs):
    _, runs, env = zoo_runs
    run = Path(shutil.copytree(runs["SingleLayerCAE"], workspace / "run"))
    test_codes = (run / "projector" / "metadata.tsv").read_text()
    result = bench("embed", run, "--split", "train", "--limit", "100", env=env)
    assert result.exit_code == 0, result
    assert "projector_train" in result.stdout and (run / "projector_train" / "projector_config.pbtxt").is_file()
    assert (run / "projector_train" / "metadata.tsv").read_text().count("\n") == 101
    assert (run / "projector" / "metadata.tsv").read_text() == test_codes  # training's test codes kept
