#!/usr/bin/env bash
# A run killed with SIGKILL while it saves, round after round: each round
# resumes from the checkpoint the rounds before left (so it must be whole:
# every tensor and the optimizer state load), waits until the run is in the
# middle of a save (its temporary file exists), kills it a random moment
# later (up to one and a half times a save's length, so some kills come just
# after one), and checks that the temporary files of the runs killed before
# are gone, removed by this run's save. The save's order is checked too: the
# data is fsynced before the rename, and the folder after it.
source "$(dirname "$0")/../cli/lib.sh"

cd "$work" || exit 1
"$BMST_DATA" synth --shape 8x8x1 --classes 2 --train 8 --test 4 data.h5 > /dev/null ||
    { echo "cannot make the test dataset" >&2; exit 1; }
# resnet18: an 89 MB checkpoint, so a save takes long enough to be hit
run=("$BMST_DIST" train --device cpu --net resnet18 --batch 2 --eval-batch 4 --max-steps 1
     --threads 1 --data data.h5 --save ck.h5)

# a first checkpoint, unkilled, and how long a save takes on this machine
# (its temporary file's life), so the kills can fall inside saves and after
"${run[@]}" --epochs 2 > run.log 2>&1 &
pid=$!
save_ms=0 # the shortest of its two saves
while kill -0 "$pid" 2> /dev/null; do
    if [[ -e ck.h5.tmp.$pid ]]; then
        start=$(date +%s%N)
        while [[ -e ck.h5.tmp.$pid ]]; do sleep 0.005; done
        ms=$((($(date +%s%N) - start) / 1000000))
        ((save_ms == 0 || ms < save_ms)) && save_ms=$ms
    fi
    sleep 0.005
done
wait "$pid" || { fail "the first run: $(tail -c 300 run.log)"; finish kill_save; exit 1; }
((save_ms > 0)) || save_ms=100

rounds=12
hits=0     # kills that left a temporary file: they came in the middle of a save
cleaned=0  # temporary files of killed runs that a later save removed
left=()    # the temporary files the last kill left
for ((round = 1; round <= rounds; round++)); do
    "${run[@]}" --epochs 1000 --resume ck.h5 > run.log 2>&1 &
    pid=$!
    deadline=$((SECONDS + 120))
    while [[ ! -e ck.h5.tmp.$pid ]] && kill -0 "$pid" 2> /dev/null && ((SECONDS < deadline)); do
        sleep 0.01
    done
    if [[ ! -e ck.h5.tmp.$pid ]]; then
        kill -9 "$pid" 2> /dev/null
        wait "$pid" 2> /dev/null
        fail "round $round: no save began: $(tail -c 300 run.log)"
        break
    fi
    # its save is under way, so the killed runs' files must be gone already
    for file in "${left[@]}"; do
        [[ -e $file ]] && fail "round $round: $file of a killed run is still there" ||
            cleaned=$((cleaned + 1))
    done
    delay_ms=$((RANDOM % (save_ms * 3 / 2 + 1)))
    sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
    kill -9 "$pid"
    wait "$pid" 2> /dev/null
    grep -q "^resumed from ck.h5" run.log && pass ||
        fail "round $round: the checkpoint did not load: $(tail -c 300 run.log)"
    mapfile -t left < <(ls ck.h5.tmp.* 2> /dev/null)
    ((${#left[@]})) && hits=$((hits + 1))
done
# enough kills landed inside a save for the rounds to mean something
echo "kill_save: a save takes ${save_ms} ms; $hits of $rounds kills came during one;" \
    "$cleaned leftovers seen removed"
((hits >= 2)) && pass || fail "only $hits of $rounds kills came during a save"
((cleaned >= 1)) && pass || fail "no killed run's temporary file was seen removed"

# a last run that is not killed: it resumes, saves, and leaves no temporary file
epoch=$(/usr/bin/python3 -c "import h5py; print(int(h5py.File('ck.h5', 'r').attrs['epoch']))") ||
    fail "cannot read the checkpoint's epoch"
"${run[@]}" --epochs $((epoch + 1)) --resume ck.h5 > run.log 2>&1 && pass ||
    fail "the last run: $(tail -c 300 run.log)"
[[ -z $(ls ck.h5.tmp.* 2> /dev/null) ]] && pass || fail "temporary files left: $(ls ck.h5.tmp.*)"
"$BMST_DIST" eval --data data.h5 --checkpoint ck.h5 > eval.log 2>&1 && pass ||
    fail "the final checkpoint does not load: $(cat eval.log)"

# the order that makes a save survive a power loss: the temporary file is
# fsynced, then renamed over the checkpoint, then the folder is fsynced
if command -v strace > /dev/null; then
    strace -f -o trace.txt -e trace=openat,fsync,rename \
        "${run[@]}" --epochs $((epoch + 2)) --resume ck.h5 > /dev/null 2>&1 ||
        fail "the traced run failed"
    /usr/bin/python3 - trace.txt "$work" <<'PY' && pass || fail "save order: $(tail -c 600 trace.txt)"
import os, re, sys
lines = open(sys.argv[1]).read().splitlines()
tmp_fd = dir_fd = None
state = "start"
for line in lines:
    m = re.search(r'openat\(AT_FDCWD, "([^"]+)", ([^,)]+).*\)\s*= (\d+)', line)
    if m and re.search(r"ck\.h5\.tmp\.\d+$", m.group(1)) and "O_CREAT" in m.group(2):
        tmp_fd, state = m.group(3), "created"
    elif m and m.group(1) == os.path.realpath(sys.argv[2]) and "O_DIRECTORY" in m.group(2) and state == "renamed":
        dir_fd = m.group(3)
    elif re.search(r"fsync\((\d+)\)\s*= 0", line):
        fd = re.search(r"fsync\((\d+)\)", line).group(1)
        if state == "created" and fd == tmp_fd:
            state = "synced"
        elif state == "renamed" and fd == dir_fd:
            state = "done"
            break
    elif re.search(r'rename\("[^"]*ck\.h5\.tmp\.\d+", "[^"]*ck\.h5"\)\s*= 0', line):
        assert state == "synced", f"renamed before the data was fsynced ({state})"
        state = "renamed"
assert state == "done", f"the save stopped at '{state}'"
PY
else
    fail "strace is needed to check the order of fsync and rename (launch/install_deps.sh --tests)"
fi

finish kill_save
