#!/bin/bash
# What a run says it was: `bmst_dist --version` (the version, the git commit
# compiled in, what the build includes; "unknown" outside a git checkout),
# and the JSON report's "run" object, every field checked against what the
# test itself knows: the command line, the resolved options, the dataset,
# the commit, the times, the host, the Slurm job and the best accuracy
# (against the CSV), and how the run ended; then the CSV file's description
# of the run ("# NAME: VALUE" lines before its column header), every line
# against the test's own knowledge and the JSON, written once when a resumed
# run appends to the file.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3 # the system Python
root=$(cd "$(dirname "$0")/../.." && pwd)

# --- --version --------------------------------------------------------------
"$BMST_DIST" --version > "$work/version" 2>&1 || fail "--version: exit status $?"
if git -C "$root" rev-parse HEAD > /dev/null 2>&1; then
    want_commit=$(git -C "$root" rev-parse --short=12 HEAD)
    # the build may be of a checkout with changes: "-dirty" then
    grep -Eq "^bmst_dist [0-9]+\.[0-9]+\.[0-9]+ \(commit $want_commit(-dirty)?\)$" "$work/version" &&
        pass || fail "--version: $(head -1 "$work/version"), expected commit $want_commit"
else
    grep -q "(commit unknown)" "$work/version" && pass || fail "--version: $(head -1 "$work/version")"
fi
grep -q "^backends: cpu" "$work/version" && grep -q "^precisions: fp32 fp16 bf16$" "$work/version" &&
    grep -q "^communicators: single" "$work/version" && [[ $(grep -c '' "$work/version") -eq 4 ]] &&
    pass || fail "--version: $(cat "$work/version")"
commit=$(sed -n 's/^bmst_dist .* (commit \(.*\))$/\1/p' "$work/version")

# a source tree without .git (a release tarball): the commit is "unknown"
mkdir -p "$work/tarball"
cmake -DSRC="$work/tarball" -DOUT="$work/id.c" -DVERSION=1.2.3 -DBACKENDS=cpu -DCOMMS=single \
    -P "$root/cmake/build_id.cmake" > /dev/null 2>&1 || fail "build_id.cmake failed"
grep -q 'bmst_build_commit\[\] = "unknown";' "$work/id.c" && pass ||
    fail "a tree without .git: $(cat "$work/id.c" 2> /dev/null)"

# --- the report's "run" -----------------------------------------------------
"$BMST_DATA" synth --shape 8x8x3 --classes 4 --train 256 --test 64 --seed 1 "$work/d.h5" > /dev/null ||
    { echo "cannot make the dataset"; exit 1; }
args=(train --data "$work/d.h5" --net resnet20 --device cpu --threads 1 --epochs 3 --batch 16
      --lr 0.05 --optimizer adamw --weight-decay 0.01 --merge 2 --precision bf16
      --act-codec relu-mask --seed 7 --report "$work/r.json" --csv "$work/r.csv")
before=$(date -u +%s)
SLURM_JOB_ID=4242 SLURM_ARRAY_TASK_ID=7 "$BMST_DIST" "${args[@]}" > "$work/r.log" 2>&1 ||
    fail "the run: $(tail -2 "$work/r.log")"
after=$(date -u +%s)
$PY - "$work/r.json" "$work/r.csv" "$BMST_DIST" "$commit" "$before" "$after" "${args[@]}" << 'PY' &&
import csv, json, socket, sys, datetime
report, table, binary, commit, before, after = sys.argv[1:7]
argv = [binary] + sys.argv[7:]
run = json.load(open(report))["run"]
assert run["argv"] == argv, (run["argv"], argv)
o = run["options"]
assert abs(float(o["--lr"]) - 0.05) < 1e-8 and o["--optimizer"] == "adamw", o
assert abs(float(o["--weight-decay"]) - 0.01) < 1e-9 and o["--schedule"] == "cosine", o
assert o["--seed"] == "7" and o["--precision"] == "bf16" and o["--merge"] == "2", o
assert o["--batch"] == "16" and o["--epochs"] == "3", o
assert run["act_codec"] == "relu-mask" and run["threads"] == 1, run
assert run["dataset"] == {"name": "synth-8x8x3-4", "shape": [8, 8, 3], "classes": 4,
                          "train": 256, "val": 0, "test": 64}, run["dataset"]
assert run["git_commit"] == commit, (run["git_commit"], commit)
def seconds(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
assert int(before) <= seconds(run["started"]) <= seconds(run["updated"]) <= int(after), run
assert run["hosts"] == [socket.gethostname()[:63]], run["hosts"]
assert run["slurm_job_id"] == "4242" and run["slurm_array_task_id"] == "7", run
assert run["state"] == "done", run["state"]
rows = list(csv.DictReader(l for l in open(table) if not l.startswith("#")))
acc = [float(r["test_accuracy"]) for r in rows]
best = max(acc)
assert abs(run["best_test_accuracy"] - best) < 1e-6 and run["best_epoch"] == acc.index(best) + 1, \
    (run["best_test_accuracy"], run["best_epoch"], acc)
PY
    pass || fail "the report's run record"

# the CSV's description: "# NAME: VALUE" lines before the column header, each
# against what the test knows and what the JSON says
$PY - "$work/r.json" "$work/r.csv" "$BMST_DIST" "$commit" "$before" "$after" "${args[@]}" << 'PY' &&
import json, socket, sys, datetime
report, table, binary, commit, before, after = sys.argv[1:7]
argv = [binary] + sys.argv[7:]
run = json.load(open(report))["run"]
lines = open(table).read().splitlines()
first_row = next(i for i, l in enumerate(lines) if not l.startswith("#"))
assert lines[first_row].startswith("epoch,train_loss,"), lines[first_row]
assert all(not l.startswith("#") for l in lines[first_row:]), lines
head = {}
for line in lines[:first_row]:
    assert line.startswith("# ") and ": " in line, line
    name, value = line[2:].split(": ", 1)
    assert name not in head, name
    head[name] = value
assert json.loads(head.pop("argv")) == argv, argv
options = {k[len("options."):]: head.pop(k) for k in list(head) if k.startswith("options.")}
assert options == run["options"], (options, run["options"])
assert abs(float(options["--lr"]) - 0.05) < 1e-8 and options["--optimizer"] == "adamw", options
assert options["--seed"] == "7" and options["--precision"] == "bf16" and options["--merge"] == "2"
assert (head["slurm_job_id"], head["slurm_array_task_id"]) == ("4242", "7"), head
assert (head["act_codec"], head["threads"], head["git_commit"]) == ("relu-mask", "1", commit), head
assert (head["division_block"], head["division_bits"]) == ("8", "2"), head
for name in ("act_codec", "division_block", "division_bits", "threads", "data", "resume", "save", "keep_best", "csv", "version",
             "git_commit", "backends_built", "started", "slurm_job_id", "slurm_array_task_id"):
    want = run[name]
    assert head.pop(name) == ("none" if want is None else str(want)), (name, want)
assert run["csv"] == table, run
dataset = {k: head.pop("dataset." + k) for k in ("name", "shape", "classes", "train", "val", "test")}
assert dataset == {"name": "synth-8x8x3-4", "shape": "8x8x3", "classes": "4", "train": "256",
                   "val": "0", "test": "64"}, dataset
assert head.pop("hosts") == socket.gethostname()[:63]
assert not head, f"not checked: {head}"
started = datetime.datetime.strptime(run["started"], "%Y-%m-%dT%H:%M:%SZ").replace(
    tzinfo=datetime.timezone.utc).timestamp()
assert int(before) <= started <= int(after), run["started"]
PY
    pass || fail "the CSV's description of the run: $(head -c 600 "$work/r.csv")"

# outside Slurm the job fields are null; a run stopped by a signal says so
stopped=(train --data "$work/d.h5" --device cpu --threads 1 --epochs 2 --batch 16
         --save "$work/s.h5" --csv "$work/s.csv")
env -u SLURM_JOB_ID -u SLURM_ARRAY_TASK_ID "$BMST_DIST" "${stopped[@]}" \
    --inject-fault 0:20:sigterm --report "$work/s.json" > "$work/s.log" 2>&1
[[ $? -eq 3 ]] && pass || fail "the stopped run: $(tail -1 "$work/s.log")"
grep -qx "# slurm_job_id: none" "$work/s.csv" && grep -qx "# slurm_array_task_id: none" "$work/s.csv" &&
    pass || fail "the CSV outside Slurm: $(grep slurm "$work/s.csv")"
# resumed, the run appends its rows to the file its first part described
"$BMST_DIST" "${stopped[@]}" --resume "$work/s.h5" > "$work/s2.log" 2>&1 ||
    fail "the resumed run: $(tail -1 "$work/s2.log")"
[[ $(grep -c '^# argv: ' "$work/s.csv") -eq 1 && $(grep -c '^epoch,' "$work/s.csv") -eq 1 &&
   $(grep -v '^#' "$work/s.csv" | cut -d, -f1 | paste -sd' ') == "epoch 1 2" ]] && pass ||
    fail "the resumed CSV: $(grep -v '^# options' "$work/s.csv")"
$PY -c "
import json, sys
run = json.load(open(sys.argv[1]))['run']
assert run['state'] == 'stopped' and run['slurm_job_id'] is None, run
assert run['slurm_array_task_id'] is None and run['best_epoch'] == 1, run" "$work/s.json" && pass ||
    fail "the stopped run's record: $(head -c 600 "$work/s.json")"

finish "run_record"
