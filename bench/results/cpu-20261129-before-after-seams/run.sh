#!/usr/bin/env bash
# How results.md was measured: two builds of bmst_dist and PyTorch, alternating,
# three rounds. run.sh AFTER_BIN BEFORE_BIN OUT_DIR (run from the repository root)
set -u
after="$1" before="$2" out="$3"; mkdir -p $out; : > $out/rows.txt
export OMP_NUM_THREADS=2
field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" "$2" | tail -1; }
for round in 1 2 3; do
  for config in "resnet20 28x28x1 10 1" "resnet20 28x28x1 10 2" "resnet18 32x32x3 10 1" "resnet18 32x32x3 10 2"; do
    read -r net shape classes merge <<< "$config"
    args=(--net $net --shape $shape --classes $classes --batch 64 --merge $merge --steps 20 --warmup 3 --threads 2)
    order="before after torch"; ((round % 2 == 0)) && order="after before torch"
    for who in $order; do
      log=$out/$who-$net-m$merge-r$round.log
      case $who in
        before) $before bench --device cpu "${args[@]}" > $log 2>&1 ;;
        after) $after bench --device cpu "${args[@]}" > $log 2>&1 ;;
        torch) /usr/bin/python3 bench/pytorch_cpu.py "${args[@]}" > $log 2>&1 ;;
      esac
      echo "$round $net m$merge $who $(field images_per_s $log) $(field peak_rss_mib $log)" >> $out/rows.txt
    done
  done
done
