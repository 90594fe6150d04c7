"""Summarize history.sh's runs: per backend and condition, the 8192x1024 medians of the three runs,
their page faults per call, and the condition medians' slowest / fastest under the default policy."""
import collections
import json
import pathlib
import statistics
import sys

out = pathlib.Path(sys.argv[1])
med = collections.defaultdict(list)
for f in sorted(out.glob("*-[0-9].json")):
    cond = f.stem.rsplit("-", 1)[0]
    for r in json.loads(f.read_text())["rows"]:
        if r["shape"] == "8192x1024":
            med[(r["backend"], cond)].append((r["median_s"] * 1e3, r["faults_per_call"]))
lines = []
for backend in ("torch-cpu", "numba"):
    centre = {}
    for cond in ("alone", "after-larger", "user-malloc-env", "system-after-larger"):
        v = med[(backend, cond)]
        if not v:
            continue
        centre[cond] = statistics.median(m for m, _ in v)
        lines.append(f"{backend:9s} {cond:20s} " + ", ".join(f"{m:.2f} ms" for m, _ in v)
                     + f"  (median {centre[cond]:.2f}; page faults per call: {', '.join(f'{fa:.0f}' for _, fa in v)})")
    default = [centre[c] for c in ("alone", "after-larger", "user-malloc-env") if c in centre]
    runs = [m for c in ("alone", "after-larger", "user-malloc-env") for m, _ in med[(backend, c)]]
    lines.append(f"{backend:9s} default policy: slowest / fastest condition (medians of 3 runs) = "
                 f"{max(default) / min(default):.2f}; single runs {min(runs):.2f}-{max(runs):.2f} ms")
print("\n".join(lines))
(out / "summary.txt").write_text("\n".join(lines) + "\n")
