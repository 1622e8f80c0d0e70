#!/usr/bin/env bash
# A real Slurm cluster of one node on this machine: munged, slurmctld and
# slurmd started from a configuration in a temporary folder (non-default ports
# and munge socket, so a system-wide Slurm or munge is left alone), then
# launch/slurm/one_node.sbatch submitted with `sbatch --wait` for 2 tasks on
# a tiny synthetic dataset on the CPU, and launch/slurm/multi_node.sbatch
# likewise (one node, the dataset staged by sbcast); each JSON report must
# say world 2 and hold one entry per rank, and both must show the same
# training. Then one_node.sbatch is sent `scancel --signal=USR1` mid-run: it
# must checkpoint, requeue itself, resume and end on bitwise the weights of a
# run never stopped. Every daemon, job process and file it made is gone when it exits,
# however it exits (short of SIGKILL); every wait has a time limit.
#
# Exit status 77 (CTest: skipped), with the reason, where Slurm cannot run
# here at all: its programs are missing (launch/install_deps.sh --tests
# installs them), the test does not run as root (slurmd must be root to start
# jobs), or the daemons do not come up. BMST_SLURM_REQUIRED=1 turns those
# skips into failures.
set -u
: "${BMST_DIST:?set BMST_DIST to the bmst_dist binary}"
: "${BMST_DATA:?set BMST_DATA to the bmst_data binary}"
root=$(cd "$(dirname "$0")/../.." && pwd)
started=$(date +%s)
# the daemons live in /usr/sbin, which a non-login root shell may not search
PATH=$PATH:/usr/sbin:/sbin

skip() {
    echo "slurm: skipped: $*"
    [[ "${BMST_SLURM_REQUIRED:-0}" == 1 ]] && exit 1
    exit 77
}
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

for prog in munged mungekey slurmctld slurmd sbatch sinfo squeue scancel srun; do
    command -v "$prog" > /dev/null 2>&1 ||
        skip "$prog not found (Debian: apt-get install slurm-wlm munge, or launch/install_deps.sh --tests)"
done
[[ $(id -u) -eq 0 ]] || skip "slurmd must run as root to start jobs; this test runs as $(id -un)"
[[ -x /usr/bin/python3 ]] || skip "/usr/bin/python3 is needed to read the report"

# Every process this test starts (the daemons, and through them the job
# steps and the job's own processes) carries this variable, so the cleanup
# can find and end exactly those, by id, and nothing else on the machine.
tag="bmst-slurm-test-$$-$RANDOM"
# /tmp rather than TMPDIR: slurmd and munged check the permissions of the
# folders above their files, and /tmp is sticky and root-owned everywhere
work=$(mktemp -d /tmp/bmst_slurm.XXXXXX) || fail "cannot make a temporary folder"
chmod 755 "$work"
daemon_pids=() # munged, slurmctld, slurmd, in the order they start
ctld_pid=

# the process ids whose environment holds the tag, this shell excluded
tagged_pids() {
    local d pid
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        [[ $pid == "$$" ]] && continue
        tr '\0' '\n' 2> /dev/null < "$d/environ" | grep -qxF "BMST_SLURM_TEST_TAG=$tag" &&
            echo "$pid"
    done
}

cleanup() {
    local status=$? pid left i
    trap - EXIT INT TERM
    # jobs first, while the controller can still end them cleanly
    if [[ -n $ctld_pid ]] && kill -0 "$ctld_pid" 2> /dev/null; then
        SLURM_CONF="$work/slurm.conf" timeout 10 scancel --quiet --full --user=root > /dev/null 2>&1
        for ((i = 0; i < 20; i++)); do
            [[ -z $(SLURM_CONF="$work/slurm.conf" timeout 5 squeue -h 2> /dev/null) ]] && break
            sleep 0.5
        done
    fi
    # then the daemons, newest first, and anything of ours still running
    for ((i = ${#daemon_pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${daemon_pids[i]}" 2> /dev/null
    done
    for ((i = 0; i < 20; i++)); do
        left=$(tagged_pids)
        [[ -z $left ]] && break
        sleep 0.25
    done
    for pid in $(tagged_pids); do
        kill -KILL "$pid" 2> /dev/null
    done
    for pid in "${daemon_pids[@]}"; do
        wait "$pid" 2> /dev/null
    done
    left=$(tagged_pids)
    if [[ -n $left ]]; then
        echo "FAIL: processes left behind: $left" >&2
        status=1
    fi
    if [[ $status -ne 0 && $status -ne 77 && -d "$work/log" ]]; then
        for f in "$work"/log/*.log; do
            echo "--- last lines of $(basename "$f")" >&2
            tail -n 15 "$f" >&2
        done
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# waits up to $1 seconds for the command after it to succeed
wait_for() {
    local limit=$1 t=0
    shift
    until "$@"; do
        t=$((t + 1))
        ((t > limit * 4)) && return 1
        sleep 0.25
    done
}

# ---- munge: its own key, socket, pid, seed and log in the temporary folder
mkdir -p "$work/munge" "$work/log" "$work/state" "$work/spool" "$work/tmp" "$work/job"
chmod 700 "$work/munge"
mungekey --create --keyfile="$work/munge/munge.key" > /dev/null 2>&1 ||
    dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
socket="$work/munge/munge.socket"
BMST_SLURM_TEST_TAG=$tag munged --foreground --force --socket="$socket" \
    --key-file="$work/munge/munge.key" --pid-file="$work/munge/munged.pid" \
    --seed-file="$work/munge/munged.seed" --log-file="$work/log/munged.log" \
    > "$work/log/munged.out" 2>&1 &
daemon_pids+=($!)
wait_for 10 test -S "$socket" ||
    skip "munged did not start: $(tail -n 3 "$work/log/munged.log" "$work/log/munged.out" 2> /dev/null | tr '\n' ' ')"

# ---- slurm.conf: this node as it really is (slurmd -C), two free ports
node_line=$(slurmd -C 2> /dev/null | head -n 1)
[[ $node_line == NodeName=* ]] || skip "slurmd -C cannot describe this node"
node=$(hostname -s)
node_hw=${node_line#NodeName=* }
read -r ctld_port slurmd_port < <(/usr/bin/python3 -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
# Job ids start at a random number: Open MPI names its shared-memory files
# after the PMIx namespace, slurm.pmix.JOBID.STEP, so two of these test
# clusters running at once with the same job ids would share them and crash.
first_job=$((1000 + (RANDOM * 32768 + RANDOM) % 60000000))
cat > "$work/slurm.conf" <<EOF
ClusterName=bmsttest
FirstJobId=$first_job
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
TmpFS=$work/tmp
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$work/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=30
NodeName=$node NodeAddr=127.0.0.1 $node_hw State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=30 State=UP
EOF
: > "$work/plugstack.conf"
export SLURM_CONF="$work/slurm.conf"

BMST_SLURM_TEST_TAG=$tag slurmctld -D -i -f "$SLURM_CONF" > "$work/log/slurmctld.out" 2>&1 &
ctld_pid=$!
daemon_pids+=($!)
BMST_SLURM_TEST_TAG=$tag slurmd -D -f "$SLURM_CONF" -N "$node" > "$work/log/slurmd.out" 2>&1 &
daemon_pids+=($!)

node_idle() {
    [[ $(timeout 5 sinfo -h -N -n "$node" -o '%T' 2> /dev/null) == idle ]]
}
wait_for 30 node_idle ||
    skip "the node did not become idle: $(timeout 5 sinfo -h -N -o '%N %T %E' 2> /dev/null)" \
        "$(tail -n 3 "$work/log/slurmctld.log" "$work/log/slurmd.log" 2> /dev/null | tr '\n' ' ')"
echo "slurm: node $node idle after $(($(date +%s) - started)) s"

# ---- the jobs, 2 tasks of 1 CPU each, on the CPU: launch/slurm/one_node.sbatch,
# and launch/slurm/multi_node.sbatch on this one node with the dataset staged
# by sbcast. They run one after the other (each takes both CPUs).
data="$work/job/synth.h5"
"$BMST_DATA" synth --shape 8x8x3 --classes 4 --train 256 --test 64 --seed 1 "$data" \
    > /dev/null || fail "cannot make the test dataset"
args="--net resnet20 --batch 16 --epochs 1 --device cpu --threads 1 --seed 3"
pids=()
for script in one_node multi_node; do
    BMST_SLURM_TEST_TAG=$tag BMST_DIST=$BMST_DIST BMST_DATASET=$data BMST_ARGS=$args \
        BMST_DEVICE=cpu BMST_SAVE="$work/job/$script.h5" \
        BMST_REPORT="$work/job/$script.json" BMST_STAGE=1 BMST_STAGE_DIR="$work/tmp" \
        timeout 150 sbatch --wait --quiet --job-name="$script" --nodes=1 --ntasks-per-node=2 \
        --cpus-per-task=1 --time=5 --output="$work/job/$script.out" --chdir="$work/job" \
        "$root/launch/slurm/$script.sbatch" &
    pids+=($!)
done
# waited for in the background, so a signal to this script is acted on at once
for i in 0 1; do
    script=$([[ $i == 0 ]] && echo one_node || echo multi_node)
    wait "${pids[i]}"
    status=$?
    [[ $status -eq 0 ]] ||
        fail "$script.sbatch: sbatch --wait exited $status; the job's output: $(cat "$work/job/$script.out" 2> /dev/null)"
done
echo "slurm: jobs done after $(($(date +%s) - started)) s"
grep -q "dataset staged to $work/tmp/" "$work/job/multi_node.out" ||
    fail "multi_node.sbatch did not stage the dataset: $(cat "$work/job/multi_node.out")"
ls "$work/tmp"/bmst-* > /dev/null 2>&1 && fail "multi_node.sbatch left its staged dataset behind"

/usr/bin/python3 - "$work/job/one_node.json" "$work/job/multi_node.json" <<'PY' ||
import json, sys
reports = []
for path in sys.argv[1:]:
    with open(path) as f:
        r = json.load(f)
    name = path.rsplit("/", 1)[-1]
    assert r["world"] == 2, f"{name}: world {r['world']}"
    assert r["comm"] == "mpi", f"{name}: comm {r['comm']}"
    assert r["global_batch"] == 2 * r["batch_per_rank"] == 32, f"{name}: global batch {r['global_batch']}"
    assert len(r["epochs"]) == 1, f"{name}: {len(r['epochs'])} epochs"
    e = r["epochs"][0]
    ranks = e["ranks"]
    assert sorted(x["rank"] for x in ranks) == [0, 1], f"{name}: ranks {[x['rank'] for x in ranks]}"
    assert sorted(x["local_rank"] for x in ranks) == [0, 1], f"{name}: local ranks {[x['local_rank'] for x in ranks]}"
    # 256 images, global batch 32: 8 steps of 16 images on each rank
    assert e["steps"] == 8 and all(x["images"] == 128 for x in ranks), \
        f"{name}: steps {e['steps']}, images {[x['images'] for x in ranks]}"
    reports.append(r)
    print(f"slurm: {name}: world {r['world']}, ranks {[x['rank'] for x in ranks]}, "
          f"train loss {e['train_loss']}, test accuracy {e['test_accuracy']}")
# the same training through both scripts (the seed fixes every draw)
a, b = (r["epochs"][0] for r in reports)
assert (a["train_loss"], a["test_loss"]) == (b["train_loss"], b["test_loss"]), (a["train_loss"], b["train_loss"])
PY
    fail "report: one_node.out: $(cat "$work/job/one_node.out") multi_node.out: $(cat "$work/job/multi_node.out")"

# ---- requeue: one_node.sbatch sent `scancel --signal=USR1` (what
# --signal=USR1@120 sends before the time limit) once its first --save-every
# checkpoint exists: the ranks checkpoint and exit 3, the script requeues the
# job, which resumes (--resume auto) and must end on bitwise the weights of
# the same training never stopped (2 ranks under mpirun). An epoch is 512
# steps (several seconds), so the signal, sent a moment after the step-4
# checkpoint, lands inside the epoch: that is the mid-epoch case under test
# (with 64 steps a fast machine had finished the epoch before it came)
rq_data="$work/job/rq.h5"
"$BMST_DATA" synth --shape 8x8x3 --classes 4 --train 8192 --test 64 --seed 2 "$rq_data" \
    > /dev/null || fail "cannot make the requeue dataset"
rq_args="--net resnet20 --batch 8 --epochs 2 --merge 2 --device cpu --threads 1 --seed 3 --save-every 4"
rq_job=$(BMST_SLURM_TEST_TAG=$tag BMST_DIST=$BMST_DIST BMST_DATASET=$rq_data BMST_ARGS=$rq_args \
    BMST_DEVICE=cpu BMST_SAVE="$work/job/rq_ckpt.h5" BMST_REPORT="$work/job/rq.json" \
    timeout 20 sbatch --parsable --job-name=requeue --nodes=1 --ntasks-per-node=2 \
    --cpus-per-task=1 --time=5 --output="$work/job/rq.out" --chdir="$work/job" \
    "$root/launch/slurm/one_node.sbatch") || fail "cannot submit the requeue job"
ckpt_exists() { [[ -e "$work/job/rq_ckpt.h5" ]]; }
wait_for 60 ckpt_exists || fail "the requeue job wrote no checkpoint: $(cat "$work/job/rq.out" 2> /dev/null)"
timeout 10 scancel --signal=USR1 "$rq_job" || fail "scancel --signal=USR1 $rq_job failed"
# Slurm holds a requeued job back (its BeginTime, about 2 minutes ahead): let
# it start as soon as it is queued again and the node has cleaned up after
# its first run (a step started before that is aborted)
rq_requeued() { timeout 5 scontrol show job "$rq_job" 2> /dev/null | grep -q 'Restarts=1'; }
wait_for 60 rq_requeued || fail "the job did not requeue itself: $(cat "$work/job/rq.out" 2> /dev/null)"
wait_for 30 node_idle || fail "the node did not become idle after the requeue"
stale_socket() { [[ ! -e "$work/spool/stepd.slurm.pmix.$rq_job.0" ]]; }
wait_for 30 stale_socket || echo "slurm: the first run's PMIx socket is still there: $(ls -la "$work/spool")"
timeout 10 scontrol update JobId="$rq_job" StartTime=now > /dev/null 2>&1 || true
rq_done() {
    local state
    state=$(timeout 5 scontrol show job "$rq_job" 2> /dev/null | grep -o 'JobState=[A-Z_]*')
    [[ $state == JobState=COMPLETED || $state == JobState=FAILED || $state == JobState=CANCELLED ]]
}
wait_for 120 rq_done || fail "the requeued job did not finish: $(timeout 5 scontrol show job "$rq_job" | head -5)"
rq_out=$(cat "$work/job/rq.out" 2> /dev/null)
grep -q "stopped by SIGUSR1 after step" <<< "$rq_out" &&
    grep -q "one_node.sbatch: stopped with a checkpoint in .*; requeueing job $rq_job" <<< "$rq_out" &&
    grep -q "resumed from $work/job/rq_ckpt.h5" <<< "$rq_out" && grep -q "done: test accuracy" <<< "$rq_out" ||
    fail "the requeue job: $rq_out"
# shellcheck disable=SC2086  # a list of options
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 BMST_SLURM_TEST_TAG=$tag \
    timeout 120 mpirun --oversubscribe -np 2 "$BMST_DIST" train --data "$rq_data" $rq_args \
    --save "$work/job/rq_ref.h5" > "$work/job/rq_ref.log" 2>&1 ||
    fail "the uninterrupted run: $(tail -2 "$work/job/rq_ref.log")"
/usr/bin/python3 "$root/tests/mpi/compare.py" weights "$work/job/rq_ref.h5" "$work/job/rq_ckpt.h5" 0 ||
    fail "the requeued job ends on other weights than a run never stopped"
echo "slurm: passed in $(($(date +%s) - started)) s"
