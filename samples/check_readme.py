#!/usr/bin/env python3
"""Fails when the README's first ```cpp block differs from a sample file.

usage: check_readme.py README.md samples/quickstart.cpp
Trailing whitespace on each line and trailing blank lines are ignored.
"""
import difflib
import re
import sys


def normalize(text):
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip())
    readme_path, sample_path = sys.argv[1], sys.argv[2]
    with open(readme_path, encoding="utf-8") as f:
        readme = f.read()
    with open(sample_path, encoding="utf-8") as f:
        sample = f.read()
    match = re.search(r"^```cpp[ \t]*\n(.*?)^```[ \t]*$", readme, re.S | re.M)
    if not match:
        sys.exit(f"{readme_path}: no ```cpp block found")
    block, code = normalize(match.group(1)), normalize(sample)
    if block == code:
        return
    sys.stdout.writelines(
        line + "\n"
        for line in difflib.unified_diff(code, block, sample_path, readme_path, lineterm=""))
    sys.exit(f"{readme_path}: the first ```cpp block differs from {sample_path}; "
             "update one to match the other")


if __name__ == "__main__":
    main()
