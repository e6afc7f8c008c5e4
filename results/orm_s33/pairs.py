"""How pairs.txt and each judge's eval.jsonl were made: score runs/orm/test.jsonl with the three judges (runs/orm,
runs/orm_smol, runs/orm_smol3, as trained by the commands in README.md), then pair them episode by episode.
Run from the repository root: PYTHONPATH=. .venv/bin/python results/orm_s33/pairs.py"""
import json

import torch

import orm
from rundir import sign_test_p
torch.set_num_threads(2)
test = orm.load_jsonl("runs/orm/test.jsonl")
judges = {"tiny": ("runs/orm/model", 512, False), "smollm2_2ep": ("runs/orm_smol/model", 768, True),
          "smollm2_3ep": ("runs/orm_smol3/model", 768, True)}
P = {}
for name, (path, mt, bf) in judges.items():
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf):
        P[name] = orm.ORM.load(path, max_tokens=mt).score(test)
    with open(f"results/orm_s33/{name}/eval.jsonl", "w") as f:
        for ex, q in zip(test, P[name]):
            f.write(json.dumps({k: ex.get(k) for k in ("task_id", "site", "source", "label")} | {"p_yes": q}) + "\n")
right = {n: [(q >= .5) == bool(e["label"]) for q, e in zip(p, test)] for n, p in P.items()}
for n in P:
    print(n, "accuracy", sum(right[n]) / len(test))
names = list(P)
for i in range(len(names)):
    for j in range(i + 1, len(names)):
        a, b = right[names[i]], right[names[j]]
        g = sum(not x and y for x, y in zip(a, b)); l = sum(x and not y for x, y in zip(a, b))
        print(f"{names[i]} -> {names[j]}: right only in the second {g}, only in the first {l}, p = {sign_test_p(g, l):.3f}")
for x, y in (("tiny", "smollm2_2ep"), ("tiny", "smollm2_3ep")):
    avg = [(u + v) / 2 for u, v in zip(P[x], P[y])]
    print(f"mean P(YES) of {x} and {y}: accuracy", sum((q >= .5) == bool(e["label"]) for q, e in zip(avg, test)) / len(test))
