#!/usr/bin/env bash
# Tri-plane classification and part segmentation on the procedural shape set (recipe).
#   train/triplane_procedural.sh WORK [NPROC]
# Generates the 2,040 shapes, fits their tri-planes (resumable; NPROC processes under torchrun), trains
# the channel-token transformer, the CNN baseline and the segmenter, and evaluates them.
set -euo pipefail
work=${1:?usage: train/triplane_procedural.sh WORK [NPROC]}
nproc=${2:-1}
run() { if [ "$nproc" -gt 1 ]; then torchrun --standalone --nproc_per_node "$nproc" "$(which fields3d)" "$@"; else fields3d "$@"; fi; }

python datasets/procedural_shapes/make_shapes.py --out "$work/shapes"
run triplane fit "$work/shapes/meshes" --labels "$work/shapes/labels.csv" --out "$work/dataset"
run triplane train "$work/dataset" --task classify --model transformer --epochs 60 --out "$work/classify_transformer"
run triplane train "$work/dataset" --task classify --model cnn --epochs 60 --out "$work/classify_cnn"
run triplane train "$work/dataset" --task segment --epochs 40 --batch-size 16 --points-per-shape 512 --out "$work/segment"
fields3d triplane eval "$work/classify_transformer" "$work/dataset"
fields3d triplane eval "$work/segment" "$work/dataset"
