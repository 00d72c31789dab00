"""The README's examples work as shown: its plugin files and its offline commands."""

import re
import shlex
import shutil
from pathlib import Path

import pytest

from conftest import (DOC_FILES, PROJECT, README, README_RUN_ELSEWHERE, bench, heredoc_files, readme_command,
                      readme_plugin_examples, run_dir)



def shown_commands():
    """The `bench ...` lines of the README's indented command blocks, in order."""
    return [line.strip() for line in README.splitlines()
            if line.startswith("    bench ") and "<" not in line]


def offline(command):
    """Whether a command runs without the network (inspect reads only a dataset's shape)."""
    if any(mine in command for mine in ("~/", "/shared/", "tfds:")):
        return False  # the README's examples of your own data
    if command.startswith("bench inspect"):
        return True
    # --strategy runs need a process of their own: test_distribute.py runs them as shown
    return not any(name in command for name in ("MNIST", "Cifar10", "--config", "--strategy"))


def run_elsewhere(command):
    """Whether another test file runs the command as shown (conftest.README_RUN_ELSEWHERE)."""
    return any(fragment in command for fragment in README_RUN_ELSEWHERE)


def commands_by_section():
    """{section heading: its offline `bench ...` lines, in order}, over the README and the guide;
    a line shown in two places runs in the later one (the guide's section, with its context)."""
    shown, heading = [], None
    for line in README.splitlines():
        if line.startswith("## "):
            heading = line[3:]
        elif line.startswith("    bench ") and "<" not in line and offline(line.strip()) and not run_elsewhere(line):
            shown.append((heading, line.strip()))
    last = {command: index for index, (_, command) in enumerate(shown)}
    sections = {}
    for index, (heading, command) in enumerate(shown):
        if last[command] == index:
            sections.setdefault(heading, []).append(command)
    return sections


SECTIONS = commands_by_section()
# What a section's commands leave behind, besides their exit code 0.
LEFT_BEHIND = {
    "A first run (offline)": [run_dir("SingleLayerCAE") / "results.txt"],
    "Seeing inside and comparing runs": ["compare.png", run_dir("ConvAE") / "results.txt"],
    "Repeats, sweeps and search": [run_dir("SingleLayerCAE", "_seed=1") / "results.txt"],
    "Models": [run_dir("SingleLayerCAE", "_noise=0.5") / "results.txt"],
    "Writing a dataset": [run_dir("TinyCAE", dataset="Stripes") / "results.txt"],
    "Your own images": ["shards/digits/manifest.json", "digits.png"],
    "Using what you trained": ["exported/savedmodel/saved_model.pb", "encoder-tflite/model.tflite", "codes.npz",
                               run_dir("SingleLayerCAE") / "interpolations.png",
                               run_dir("VAE") / "samples.png"],
}


def test_the_commands_run_elsewhere_are_run_there_as_shown():
    for fragment, test_file in README_RUN_ELSEWHERE.items():
        readme_command(fragment)  # one README line has it
        source = (PROJECT / "tests" / test_file).read_text()
        assert f'readme_command("{fragment}")' in source, (fragment, test_file)


def test_the_readme_shows_what_its_tests_rely_on():
    assert set(readme_plugin_examples()) == {"models/TinyCAE.py", "inputs/Stripes.py"}
    commands = [command for section in SECTIONS.values() for command in section]
    assert SECTIONS["A first run (offline)"][0] == "bench train --model SingleLayerCAE --dataset Digits --epochs 5"
    assert "bench train --model TinyCAE --dataset Stripes --epochs 5" in commands
    assert any(command.startswith("bench inspect") for command in commands)
    assert any("--noise-factor" in command and command.startswith("bench eval") for command in commands)
    assert "bench sweep --grid grid.yaml --jobs 2" in commands and "bench compare --plot compare.png" in commands
    assert set(LEFT_BEHIND) <= set(SECTIONS)


@pytest.mark.parametrize("section", list(SECTIONS))
def test_readme_commands_work_as_shown(workspace, zoo_runs, section):
    """Each section's commands in order, in a workspace with the README's plugin and YAML
    files and, but for the first run's section, the first run already trained (2 epochs)."""
    for path, source in readme_plugin_examples().items():
        (workspace / path).parent.mkdir(exist_ok=True)
        (workspace / path).write_text(source)
    for name, text in heredoc_files().items():
        Path(name).write_text(text)
    if section != "A first run (offline)":
        shutil.copytree(zoo_runs[1]["SingleLayerCAE"], run_dir("SingleLayerCAE"))
    for command in SECTIONS[section]:
        result = bench(*shlex.split(command)[1:])
        assert result.exit_code == 0, (command, result)
    for path in LEFT_BEHIND.get(section, []):
        assert Path(path).exists(), path


def test_readme_plugin_examples_are_listed(workspace):
    for path, source in readme_plugin_examples().items():
        (workspace / path).parent.mkdir(exist_ok=True)
        (workspace / path).write_text(source)
    listed = bench("list").stdout
    assert "Two 3x3 convolutions in" in listed and "Random horizontal and vertical stripes" in listed


def test_readme_yaml_example(workspace):
    Path("run.yaml").write_text(heredoc_files()["run.yaml"])
    result = bench("train", "--config", "run.yaml", "--epochs", "3")
    assert result.exit_code == 0, result
    assert "epoch 3/3" in result.stdout
    assert Path("log/SingleLayerCAE/Digits_Adam_lr=0.01/results.txt").exists()


def test_readme_pictures_exist():
    pictures = [(path.parent / picture) for path in DOC_FILES
                for picture in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", path.read_text())]
    assert len(pictures) >= 4
    for picture in pictures:
        assert picture.is_file(), picture


def test_the_reference_is_generated_from_the_code():
    """docs/reference.md is what docs/reference.py makes of the commands and the option table now."""
    import runpy

    generator = runpy.run_path(str(PROJECT / "docs" / "reference.py"))
    assert (PROJECT / "docs" / "reference.md").read_text() == generator["reference"](), \
        "docs/reference.md is out of date: python docs/reference.py"


def test_the_screenshot_script_says_what_it_needs():
    """docs/screenshots.py retakes the pictures in Chromium; without it, one line on how to get it."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(PROJECT / "docs" / "screenshots.py"), "--chromium", ""],
                          capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.strip() == "Chromium is needed: apt install chromium (or --chromium PATH)"


def test_the_readme_leads_in_one_screen_and_links_every_page():
    readme = (PROJECT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    for page in (PROJECT / "docs").glob("*.md"):
        assert page.name == "index.md" or f"(docs/{page.name})" in readme, page.name


def test_the_guide_builds_as_a_site(tmp_path):
    """`mkdocs build --strict`: every page in the navigation, every link and picture found."""
    pytest.importorskip("mkdocs")
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=PROJECT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
