"""python/examples/seed.py prints the numbers `dictlearn demo` prints."""

import os
import re
import subprocess
import sys

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples",
                       "seed.py")


def numbers(text):
    lines = [line.strip() for line in text.splitlines()
             if line.strip().startswith(("MSE:", "atom 0:", "atom 1:"))]
    return [re.sub(r"\s+", " ", line) for line in lines]


def test_seed_example_prints_the_demos_numbers(cli, tmp_path):
    example = subprocess.run([sys.executable, EXAMPLE, str(tmp_path / "py")], check=True,
                             capture_output=True, text=True).stdout
    assert (tmp_path / "py" / "loss.png").stat().st_size > 0
    demo = subprocess.run([cli, "demo", "-o", str(tmp_path / "demo")], check=True,
                          capture_output=True, text=True).stdout
    ours = numbers(example)
    assert len(ours) == 3, example
    assert ours == numbers(demo)
