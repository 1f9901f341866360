#!/usr/bin/env bash
# The README's "Model quality" table: 784x500 models trained on the built-in 10,000 digits (binarised
# at 128, as likelihood studies do) by CD-1,
# CD-10, PCD-1 (this project) and scikit-learn's BernoulliRBM (PCD-1), all evaluated by the same code:
# AIS held-out log-likelihood (100 runs, 14,500 temperatures), reconstruction error, free-energy gap,
# classification accuracy. Needs python3 with scikit-learn and safetensors (pip install scikit-learn
# safetensors). Takes ~10-15 minutes on 2 cores. Results: bench/results/quality/*.json and a table.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/results/quality
mkdir -p "$out"
rbm=build/host/rbm
epochs=${EPOCHS:-20}
common=(--device "${DEVICE:-auto}" --hidden 500 --epochs "$epochs" --batch 100 --quiet --seed 1 --binarize)
$rbm train "${common[@]}" --k 1 --lr 0.05 --initial-momentum 0.5 --momentum-epochs 5 --momentum 0.9 --out "$out/cd1"
$rbm train "${common[@]}" --k 10 --lr 0.05 --initial-momentum 0.5 --momentum-epochs 5 --momentum 0.9 --out "$out/cd10"
$rbm train "${common[@]}" --k 1 --pcd --lr 0.01 --initial-momentum 0.5 --momentum-epochs 5 --momentum 0.9 --out "$out/pcd1"
python3 bench/peers/sklearn_export.py --data data/mnist --out "$out/sklearn.safetensors" --hidden 500 \
  --epochs "$epochs" --batch 100 --lr 0.05 --binarize
$rbm import --sklearn "$out/sklearn.safetensors" --out "$out/sklearn-model.safetensors" >/dev/null
for m in cd1 cd10 pcd1 sklearn; do
  model=$out/$m/model.safetensors
  [ "$m" = sklearn ] && model=$out/sklearn-model.safetensors
  $rbm evaluate --device cpu --model "$model" --classify --json "$out/$m.json" >"$out/$m.txt" 2>/dev/null
done
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
print("| model (784x500, 10,000 digits) | AIS test log-likelihood (nats) | 3-sigma interval | recon. error test (sampled / mean-field) | free-energy gap | accuracy (RBM features / raw pixels) |")
print("|---|---|---|---|---|---|")
names = {"cd1": "rbm CD-1", "cd10": "rbm CD-10", "pcd1": "rbm PCD-1", "sklearn": "scikit-learn BernoulliRBM (PCD-1)"}
for m, name in names.items():
    r = json.load(open(f"{out}/{m}.json"))
    a = r["ais"]
    f = lambda x, inf: inf if x is None else f"{x:.2f}"
    print(f"| {name} | {a['log_likelihood']:.2f} | [{f(a['log_likelihood_low'], '-inf')}, {f(a['log_likelihood_high'], '+inf')}] | "
          f"{r['recon_err_sampled']['test']:.4f} / {r['recon_err_mean_field']['test']:.4f} | {r['free_energy']['gap']:.2f} | "
          f"{r['classify']['rbm_features']:.4f} / {r['classify']['raw_pixels']:.4f} |")
PY
