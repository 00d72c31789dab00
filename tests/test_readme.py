"""The README's examples work as shown: its plugin files and its offline commands."""

import re
import shlex
from pathlib import Path

from conftest import PROJECT, bench

README = (PROJECT / "README.md").read_text()


def plugin_examples():
    """{relative path: source} of the README's python blocks that start with '# models/...'."""
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    return {block.splitlines()[0][2:].strip(): block for block in blocks if block.startswith("# ")}


def shown_commands():
    """The `bench ...` lines of the README's indented command blocks, in order."""
    return [line.strip() for line in README.splitlines()
            if line.startswith("    bench ") and "<" not in line]


def heredoc_files():
    """{file name: text} of the README's `cat > NAME <<'YAML' ... YAML` blocks."""
    blocks = re.findall(r"    cat > (\S+) <<'YAML'\n(.*?)    YAML\n", README, flags=re.S)
    return {name: "\n".join(line[4:] for line in text.splitlines()) + "\n" for name, text in blocks}


def offline(command):
    """Whether a command runs without the network (inspect reads only a dataset's shape)."""
    if command.startswith("bench inspect"):
        return True
    # --strategy runs need a process of their own: test_distribute.py runs them as shown
    return not any(name in command for name in ("MNIST", "Cifar10", "--config", "--strategy"))


def test_readme_first_run_and_plugin_examples_work_as_shown(workspace):
    examples = plugin_examples()
    assert set(examples) == {"models/TinyCAE.py", "inputs/Stripes.py"}
    for path, source in examples.items():
        (workspace / path).parent.mkdir(exist_ok=True)
        (workspace / path).write_text(source)
    for name, text in heredoc_files().items():
        Path(name).write_text(text)
    commands = [c for c in shown_commands() if offline(c)]
    assert "bench train --model SingleLayerCAE --dataset Digits --epochs 5" in commands
    assert "bench train --model TinyCAE --dataset Stripes --epochs 5" in commands
    assert any(command.startswith("bench inspect") for command in commands)
    assert any("--noise-factor" in command and command.startswith("bench eval") for command in commands)
    assert "bench sweep --grid grid.yaml" in commands and "bench compare --plot compare.png" in commands
    for command in commands:
        result = bench(*shlex.split(command)[1:])
        assert result.exit_code == 0, (command, result)
    assert Path("log/TinyCAE/Stripes_Adam_lr=0.001/results.txt").exists()
    assert Path("compare.png").exists() and Path("log/ConvAE/Digits_Adam_lr=0.001/results.txt").exists()
    listed = bench("list").stdout
    assert "Two 3x3 convolutions in" in listed and "Random horizontal and vertical stripes" in listed


def test_readme_yaml_example(workspace):
    Path("run.yaml").write_text(heredoc_files()["run.yaml"])
    result = bench("train", "--config", "run.yaml", "--epochs", "3")
    assert result.exit_code == 0, result
    assert "epoch 3/3" in result.stdout
    assert Path("log/SingleLayerCAE/Digits_Adam_lr=0.01/results.txt").exists()


def test_readme_pictures_exist():
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README)
    assert len(pictures) >= 4
    for picture in pictures:
        assert (PROJECT / picture).is_file(), picture
