#!/usr/bin/env python3
"""Writes a C++ file defining one string constant per input:
embed.py OUT.cpp NAME=FILE[+FILE...] ... → namespace tj::jit::embedded { extern const char* const NAME = "..."; }
(files joined with '+' are concatenated, each followed by a newline)."""
import sys

out, pairs = sys.argv[1], sys.argv[2:]
with open(out, "w") as f:
    f.write('#include "jit/codegen/embedded_sources.h"\nnamespace tj::jit::embedded {\n')
    for pair in pairs:
        name, path = pair.split("=", 1)
        data = b"".join(open(p, "rb").read() + b"\n" for p in path.split("+"))
        body = ",".join(str(b if b < 128 else b - 256) for b in data)
        f.write(f"static const char {name}_data[] = {{{body},0}};\n")
        f.write(f"const char* const {name} = {name}_data;\n")
    f.write("}\n")
