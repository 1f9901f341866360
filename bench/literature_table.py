#!/usr/bin/env python3
"""The Markdown tables of bench/literature.sh: this project's figures (from the JSON that `rbm evaluate`
and `rbm classify` wrote into OUT) beside the papers'. Sections whose results are missing are left out.

    python3 bench/literature_table.py OUT DATASET_NAME
"""
import json
import os
import sys

# The papers' figures, on the full MNIST (60,000 training digits; L&B: 50,000 + 10,000 validation).
# None: the paper's value could not be checked when this was written, so none is printed.
SM = {"cd1": ("CD-1", None), "cd3": ("CD-3", None), "cd25": ("CD-25", -86.34), "pcd1": ("PCD-1", None)}
LB = {"generative": ("generative (ClassRBM)", 3.39), "discriminative": ("discriminative (DRBM)", 1.81),
      "hybrid": ("hybrid (HDRBM)", 1.28)}
DBN = 1.2  # Hinton et al. 2006's fine-tuned DBN, as Salakhutdinov & Hinton (2009) cite it


def load(out, name):
    path = os.path.join(out, name + ".json")
    return json.load(open(path)) if os.path.exists(path) else None


def paper(x, fmt):
    return "not checked" if x is None else fmt.format(x)


def sm(out, data):
    rows = []
    for tag, (label, theirs) in SM.items():
        r = load(out, "sm-" + tag)
        if r is None:
            continue
        a = r["ais"]
        lo = "-inf" if a["log_likelihood_low"] is None else f"{a['log_likelihood_low']:.2f}"
        hi = "+inf" if a["log_likelihood_high"] is None else f"{a['log_likelihood_high']:.2f}"
        rows.append(f"| {label} | {a['log_likelihood']:.2f} | [{lo}, {hi}] | {a['log_z']:.2f} | "
                    f"{r['free_energy']['gap']:.2f} | {paper(theirs, '{:.2f}')} |")
    if rows:
        print(f"Salakhutdinov & Murray 2008, 784x500 RBMs on binarised {data} (AIS, 100 x 14,500):\n")
        print("| training | held-out log-likelihood (nats) | 3-sigma interval | log Z | free-energy gap | paper (60,000 MNIST digits) |")
        print("|---|---|---|---|---|---|")
        print("\n".join(rows) + "\n")


def error(r):
    return 100.0 * (1.0 - r["accuracy"])


def lb(out, data):
    rows = []
    for objective, (label, theirs) in LB.items():
        r = load(out, "lb-" + objective)
        if r is not None:
            rows.append(f"| {label} | {error(r):.2f} | {theirs:.2f} |")
    if rows:
        print(f"Larochelle & Bengio 2008, classification RBMs on {data} (rbm train --labels's defaults, the objective changed):\n")
        print("| objective | held-out error (%) | paper (MNIST) |")
        print("|---|---|---|")
        print("\n".join(rows) + "\n")


def dbn(out, data):
    tuned, greedy = load(out, "dbn"), load(out, "dbn-greedy")
    if tuned is None:
        return
    print(f"Hinton et al. 2006, a 784-500-500-2000 DBN with labels on {data}:\n")
    print("| network | held-out error (%) | paper (MNIST) |")
    print("|---|---|---|")
    if greedy is not None:
        print(f"| greedy stack (no fine-tuning) | {error(greedy):.2f} | |")
    print(f"| fine-tuned by backpropagation | {error(tuned):.2f} | {DBN:.2f} |\n")


def main():
    out, data = sys.argv[1], sys.argv[2]
    sm(out, data)
    lb(out, data)
    dbn(out, data)


if __name__ == "__main__":
    main()
