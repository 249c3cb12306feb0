#!/usr/bin/env python3
"""Writes corpus-manifest.txt from an extracted Linux source tree (stdlib only).

Usage: make-manifest.py SOURCE_ROOT > corpus-manifest.txt

SOURCE_ROOT is the directory that holds Documentation/ (for example
/tmp/kdoc/linux-source-6.1). The rule, also written in README.md:

  * every regular file under Documentation/ whose name ends in .rst or .txt,
  * not under Documentation/translations/ (copies of the English pages),
  * 1,024 to 65,536 bytes long (smaller files are mostly table-of-contents
    stubs; larger ones are reference dumps that swamp every ranking),
  * holding at least 80 words of prose, where a word is a run of three or
    more ASCII letters on a line that is not a reStructuredText directive
    (starting with "..") or field (starting with ":") and is not a heading
    underline. This drops pages that only pull in kernel-doc comments,
    which the source tarball does not expand.

Paths are printed relative to SOURCE_ROOT, sorted bytewise.
"""

import os
import re
import sys

MIN_BYTES = 1024
MAX_BYTES = 65536
MIN_PROSE_WORDS = 80

UNDERLINE = re.compile(r"[=\-~^*#+`'\"._:]+")
WORD = re.compile(r"[A-Za-z]{3,}")


def prose_words(text):
    count = 0
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("..") or stripped.startswith(":"):
            continue
        if UNDERLINE.fullmatch(stripped):
            continue
        count += len(WORD.findall(stripped))
    return count


def chosen(root):
    for directory, subdirs, files in os.walk(os.path.join(root, "Documentation")):
        subdirs.sort()
        relative_dir = os.path.relpath(directory, root)
        if relative_dir == os.path.join("Documentation", "translations"):
            subdirs.clear()
            continue
        for name in files:
            if not name.endswith((".rst", ".txt")):
                continue
            path = os.path.join(directory, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            size = os.path.getsize(path)
            if size < MIN_BYTES or size > MAX_BYTES:
                continue
            with open(path, encoding="utf-8", errors="replace") as handle:
                if prose_words(handle.read()) < MIN_PROSE_WORDS:
                    continue
            yield os.path.join(relative_dir, name)


def main(argv):
    if len(argv) != 2 or not os.path.isdir(os.path.join(argv[1], "Documentation")):
        sys.stderr.write("usage: make-manifest.py SOURCE_ROOT (the directory holding Documentation/)\n")
        return 2
    for path in sorted(chosen(argv[1]), key=lambda p: p.encode()):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
