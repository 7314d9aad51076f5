#!/usr/bin/env bash
# Tri-plane transformer vs PointNet on the PSB subset, leave one model per class out (recipe).
#   train/triplane_psb.sh WORK [PSB_DIR]
# See datasets/psb/README.md for the protocol and for how the per-mesh segment ids are (not) used.
set -euo pipefail
work=${1:?usage: train/triplane_psb.sh WORK [PSB_DIR]}
psb=${2:-../shared/data/psb_seg_benchmark_subset}

fields3d triplane fit "$psb/off" --labels "$psb/labels.csv" --copies 8 --rotate so3 --out "$work/dataset"
for k in 0 1 2; do
  for model in transformer pointnet; do
    fields3d triplane train "$work/dataset" --model "$model" --folds 3 --fold "$k" --symmetries all \
      --epochs 150 --eval-every 0 --seed "$k" --out "$work/${model}_fold$k"
  done
done
