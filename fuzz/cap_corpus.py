"""Keeps the N corpus files that cover the most edges (greedy max coverage, ties to the smaller file).

Usage: cap_corpus.py CORPUS_DIR MAPS_DIR N, MAPS_DIR from `afl-showmap -e -i CORPUS_DIR -o MAPS_DIR`;
the other files of CORPUS_DIR are deleted. See docs/fuzzing.md."""
import os, sys
corpus, maps, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
edges = {f: {l.split(':')[0] for l in open(os.path.join(maps, f))} for f in os.listdir(maps)}
size = {f: os.path.getsize(os.path.join(corpus, f)) for f in edges}
total = set().union(*edges.values()); covered = set(); keep = []
while len(keep) < n:
    best = max(edges, key=lambda f: (len(edges[f] - covered), -size[f]))
    if not edges[best] - covered: break
    keep.append(best); covered |= edges.pop(best)
print(f"kept {len(keep)} files covering {len(covered)} of {len(total)} edges, {sum(size[f] for f in keep)} bytes")
for f in os.listdir(corpus):
    if f not in keep: os.remove(os.path.join(corpus, f))
