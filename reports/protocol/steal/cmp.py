import json, glob, statistics
def rows(f):
    d = json.load(open(f))
    return {(r["op"], r["shape"]): r for r in d["rows"] if r["backend"] == "numpy"}
for i in (1, 2, 3):
    try:
        a, b = rows(f"alone{i}.json"), rows(f"beside{i}.json")
    except FileNotFoundError:
        continue
    for k in sorted(a):
        if k in b:
            ra, rb = a[k], b[k]
            print(i, k, f"alone {ra['median_s']*1e3:.3f} ms  beside {rb['median_s']*1e3:.3f} ms  ratio {rb['median_s']/ra['median_s']:.3f}  contended {ra['contended']}/{rb['contended']}")
