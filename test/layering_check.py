#!/usr/bin/env python3
"""Fails when a room of lib/ includes a room above it (issue 8, STYLE.md "Rooms").

The rooms, lowest first (CMakeLists.txt links them the same way):
    util < config < disk < model < policy < state < docker < prune < report
A file in lib/<room>/ may include "<other>/..." only when other is not above room.
Pure rooms (util except net.hpp, config, model, policy, and disk's usage) must not reach
Boost, even through another header. A header whose include carries the comment
`// layering: forwarding` is an old path kept for other branches: it is skipped.
Usage: layering_check.py LIBDIR   (exit 1 and one line per violation)
"""
import re
import sys
from pathlib import Path

ORDER = ["util", "config", "disk", "model", "policy", "state", "docker", "prune", "report"]
RANK = {r: i for i, r in enumerate(ORDER)}
# Files that must not reach Boost (directly or through includes in lib/).
PURE = ("util/duration", "util/format", "util/time", "config/", "disk/usage", "model/", "policy/")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"](.*)$')


def includes(path):
    for line in path.read_text(errors="replace").splitlines():
        m = INCLUDE.match(line)
        if m:
            yield m.group(1), m.group(2), m.group(3)


def main(lib):
    lib = Path(lib)
    errors = []
    files = sorted(p for p in lib.rglob("*") if p.suffix in (".hpp", ".cpp"))
    graph = {}
    for f in files:
        rel = f.relative_to(lib).as_posix()
        room = rel.split("/")[0]
        if room not in RANK:
            errors.append(f"lib/{rel}: room '{room}' has no place in the order {ORDER}")
            continue
        deps = []
        for kind, inc, rest in includes(f):
            if "layering: forwarding" in rest:
                continue
            if kind == '"':
                other = inc.split("/")[0]
                if other in RANK and RANK[other] > RANK[room]:
                    errors.append(f"lib/{rel}: includes {inc}, but {other} is above {room}")
                if (lib / inc).exists():
                    deps.append(inc)
            elif inc.startswith("boost/"):
                deps.append("<boost>")
        graph[rel] = deps

    def reaches_boost(rel, seen):
        if rel in seen:
            return None
        seen.add(rel)
        for d in graph.get(rel, []):
            if d == "<boost>":
                return [rel]
            chain = reaches_boost(d, seen)
            if chain:
                return [rel] + chain
        return None

    for rel in graph:
        if rel.startswith(PURE):
            chain = reaches_boost(rel, set())
            if chain:
                errors.append(f"lib/{rel}: pure room reaches Boost via {' -> '.join(chain)}")
    for e in errors:
        print(e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).parent.parent / "lib")))
