#!/usr/bin/env python3
"""Validates queries.tsv against corpus-manifest.txt and measures title-word overlap.

Usage: check-labels.py [CORPUS_DIR]

CORPUS_DIR is where make-corpus.sh extracted the corpus (default /tmp/clawfs-corpus); the
first heading of each relevant document is read from there.

Validation (exit status 1 on any error):
  * the header is exactly "id<TAB>query<TAB>relevant";
  * every line has three fields, a unique id of the form q001, a non-empty query
    and 1 to 4 distinct relevant paths, each of them listed in the manifest;
  * at least 60 queries.

Overlap: for each query, the share of its words (lowercase runs of letters and digits,
at least 4 long, minus a few stopwords) that also occur in the file name or the first
heading of any of its relevant documents. A query that reuses its target's title words
measures keyword matching, not search quality, so the mean should stay well under 0.2.
The script prints the overlap of each query, the words that matched, and the mean.
"""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
QUERIES = os.path.join(HERE, "queries.tsv")
MANIFEST = os.path.join(HERE, "corpus-manifest.txt")
DEFAULT_CORPUS = "/tmp/clawfs-corpus"

HEADER = ["id", "query", "relevant"]
MIN_QUERIES = 60
MAX_RELEVANT = 4
ID_FORMAT = re.compile(r"q\d{3,}")
TOKEN = re.compile(r"[a-z0-9]+")
ADORNMENT = re.compile(r"([=\-~^*#+`'\"._:<>!$%&(),/;?@\[\]{|}\\])\1{2,}\s*")
STOPWORDS = frozenset(
    """
    about after again also because been before being both could does doing done each even
    every from have here into just like made make many more most much need only other over
    same should some such than that their them then there these they this those through
    under upon very want were what when where which while will with within without would
    your
    """.split()
)


def words(text):
    return [w for w in TOKEN.findall(text.lower()) if len(w) >= 4 and w not in STOPWORDS]


def first_heading(path):
    """The first reStructuredText section title, else the first line of prose."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        lines = [line.rstrip("\n") for line in handle]
    fallback = None
    for i, line in enumerate(lines):
        text = line.strip()
        if not text or text.startswith("..") or ADORNMENT.fullmatch(text):
            continue
        if i + 1 < len(lines) and ADORNMENT.fullmatch(lines[i + 1].strip()):
            return text
        if fallback is None and not text.startswith(":"):
            fallback = text
    return fallback or ""


def read_manifest():
    with open(MANIFEST, encoding="utf-8") as handle:
        return set(line.rstrip("\n") for line in handle if line.strip())


def read_queries(manifest, errors):
    """Returns [(id, query, [paths])] and appends every problem found to errors."""
    with open(QUERIES, encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0].split("\t") != HEADER:
        errors.append("line 1: header must be id<TAB>query<TAB>relevant")
        return []
    queries = []
    seen_ids = set()
    seen_texts = set()
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != 3:
            errors.append(f"line {number}: expected 3 tab-separated fields, got {len(fields)}")
            continue
        qid, text, relevant = (field.strip() for field in fields)
        if not ID_FORMAT.fullmatch(qid):
            errors.append(f"line {number}: id {qid!r} is not like q001")
        if qid in seen_ids:
            errors.append(f"line {number}: duplicate id {qid}")
        seen_ids.add(qid)
        if not text:
            errors.append(f"line {number}: empty query")
        if text.lower() in seen_texts:
            errors.append(f"line {number}: duplicate query text")
        seen_texts.add(text.lower())
        paths = relevant.split()
        if not 1 <= len(paths) <= MAX_RELEVANT:
            errors.append(f"line {number}: {len(paths)} relevant paths, expected 1 to {MAX_RELEVANT}")
        if len(set(paths)) != len(paths):
            errors.append(f"line {number}: a relevant path is listed twice")
        for path in paths:
            if path not in manifest:
                errors.append(f"line {number}: {path} is not in the manifest")
        queries.append((qid, text, paths))
    if len(queries) < MIN_QUERIES:
        errors.append(f"only {len(queries)} queries, at least {MIN_QUERIES} are required")
    return queries


def main(argv):
    if len(argv) > 2:
        sys.stderr.write("usage: check-labels.py [CORPUS_DIR]\n")
        return 2
    corpus = argv[1] if len(argv) == 2 else DEFAULT_CORPUS
    errors = []
    manifest = read_manifest()
    queries = read_queries(manifest, errors)

    if not os.path.isdir(os.path.join(corpus, "Documentation")):
        errors.append(f"{corpus} holds no corpus; run make-corpus.sh {corpus} first")
        queries = []

    overlaps = []
    for qid, text, paths in queries:
        title_words = set()
        for path in paths:
            if path not in manifest:
                continue  # already reported
            full = os.path.join(corpus, path)
            if not os.path.isfile(full):
                errors.append(f"{qid}: {path} is missing from {corpus}")
                continue
            title_words.update(words(os.path.basename(path)))
            title_words.update(words(first_heading(full)))
        query_words = words(text)
        shared = sorted(set(w for w in query_words if w in title_words))
        overlap = sum(1 for w in query_words if w in title_words) / len(query_words) if query_words else 0.0
        overlaps.append(overlap)
        print(f"{qid}\t{overlap:.2f}\t{' '.join(shared)}")

    if overlaps:
        print(f"queries: {len(overlaps)}  mean title-word overlap: {sum(overlaps) / len(overlaps):.3f}")
    for error in errors:
        sys.stderr.write(f"error: {error}\n")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
