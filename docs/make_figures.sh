#!/usr/bin/env bash
# Regenerate the README's figures from real runs: the CPU demo (KTR) and the same demo with GRPO, then every
# `video-ktr analyze` command on them. Takes ~10 minutes on 2 cores. Usage: docs/make_figures.sh [RUNS_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
R=${1:-runs/figures}
K=.venv/bin/video-ktr
$K demo --out "$R/demo"
$K demo --out "$R/demo-grpo" --algorithm grpo --rl-seeds 1
KTR="$R/demo/rl/seed0"; GRPO="$R/demo-grpo/rl/seed0"      # the first RL seed's run dir of each demo
last=$(ls -d "$KTR"/checkpoints/step-* | sort -t- -k2 -n | tail -1)
$K analyze gradients --model "$last/model" --data "$R/demo/toy/data/train.json" --out "$R/demo/analysis" \
   --num-prompts 8 --group-size 8
$K analyze loss "$KTR" "$GRPO" --out "$R/demo/analysis"
$K analyze tokens "$KTR" --out "$R/demo/analysis"
$K analyze view "$KTR"
$K analyze compare "$GRPO" "$KTR" --out "$R/demo/analysis"
mkdir -p docs/images
cp "$R/demo/curves.png" docs/images/demo_curves.png
cp "$R/demo/analysis/gradients.png" docs/images/analysis_gradients.png
cp "$R/demo/analysis/loss.png" docs/images/analysis_loss.png
cp "$R/demo/analysis/wordclouds.png" docs/images/analysis_wordclouds.png
cp "$R/demo/analysis/pos.png" docs/images/analysis_pos.png
chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$(mktemp -d)" --window-size=1200,1600 \
  --screenshot="$PWD/docs/images/analysis_viewer.png" "file://$PWD/$KTR/analysis/view.html"
echo "figures written to docs/images; numbers: $R/demo/report.md, $R/demo/analysis/*.json"
