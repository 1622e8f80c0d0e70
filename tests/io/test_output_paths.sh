#!/usr/bin/env bash
# Where train writes: two options naming the same file (however spelled: ./x,
# an absolute path, a symlink, a hard link, a dangling symlink) are refused
# before anything is opened for writing, and so are outputs that cannot be
# written (a folder, '', /proc/..., a missing folder, a device); every refusal
# leaves the dataset byte for byte as it was, and comes before training.
# A save removes the temporary files of dead writers and only those.
source "$(dirname "$0")/../cli/lib.sh"

mkdir "$work/run" && cd "$work/run" || exit 1
"$BMST_DATA" synth --shape 8x8x1 --classes 2 --train 16 --test 8 data.h5 > /dev/null ||
    { echo "cannot make the test dataset" >&2; exit 1; }
cp data.h5 "$work/pristine.h5"
train=("$BMST_DIST" train --device cpu --net resnet20 --batch 8 --epochs 1 --max-steps 1 --threads 1)

# refused NAME PATTERN ARGS...: exit status 2 (a command-line error), one line
# on stderr matching PATTERN, nothing on stdout (training never began), the
# dataset byte for byte as it was, and no file made or removed
refused() {
    local name=$1 pattern=$2
    shift 2
    local before status=0
    before=$(ls -A)
    "${train[@]}" "$@" > "$work/stdout" 2> "$work/stderr" || status=$?
    local problems=()
    [[ $status -eq 2 ]] || problems+=("exit status $status, not 2")
    [[ $(grep -c '' "$work/stderr") -eq 1 ]] || problems+=("not one line on stderr")
    grep -q -E -e "$pattern" "$work/stderr" || problems+=("stderr does not match /$pattern/")
    [[ -s "$work/stdout" ]] && problems+=("training began: $(head -c 200 "$work/stdout")")
    cmp -s data.h5 "$work/pristine.h5" ||
        { problems+=("the dataset changed"); cp "$work/pristine.h5" data.h5; }
    [[ "$(ls -A)" == "$before" ]] || problems+=("files made or removed: $(ls -A | tr '\n' ' ')")
    if ((${#problems[@]})); then
        fail "$name: ${problems[*]}; stderr: $(head -c 400 "$work/stderr")"
    else
        pass
    fi
}

same="are the same file"
# the reported bugs: each replaced or truncated the dataset and exited 0
refused "save over the dataset" "--data data.h5 and --save data.h5 $same" --data data.h5 --save data.h5
refused "report over the dataset" "--data data.h5 and --report data.h5 $same" \
    --data data.h5 --report data.h5
refused "CSV over the dataset" "--data data.h5 and --csv data.h5 $same" --data data.h5 --csv data.h5
# other spellings of the same file
refused "./ spelling" "$same" --data data.h5 --save ./data.h5
refused "absolute spelling" "$same" --data data.h5 --csv "$work/run/data.h5"
refused "dir/.. spelling" "$same" --data data.h5 --report "$work/../$(basename "$work")/run/data.h5"
ln -s data.h5 link.h5
refused "a symlink to the dataset" "$same" --data data.h5 --save link.h5
ln data.h5 hard.h5
refused "a hard link to the dataset" "$same" --data data.h5 --csv hard.h5
# files still to be made collide by where they would be
refused "save and report, not yet made" "--save new.h5 and --report ./new.h5 $same" \
    --data data.h5 --save new.h5 --report ./new.h5
refused "save and CSV, not yet made" "$same" --data data.h5 --save new.csv --csv "$work/run/new.csv"
ln -s made-later.h5 dangling.h5
refused "a dangling symlink to another output" "$same" \
    --data data.h5 --save made-later.h5 --csv dangling.h5
refused "CSV and report" "$same" --data data.h5 --csv out.json --report out.json
refused "resume from the dataset" "--data data.h5 and --resume data.h5 $same" \
    --data data.h5 --resume data.h5
refused "resume and CSV" "$same" --data data.h5 --resume data2.h5 --csv ./data2.h5

# outputs that cannot be written fail before training
mkdir folder
refused "save to a folder" "cannot write the checkpoint folder: it is a folder" \
    --data data.h5 --save folder
refused "save to a name ending in /" "cannot write the checkpoint new/: that names a folder" \
    --data data.h5 --save new/
refused "save to ''" "cannot write the checkpoint '': the name is empty" --data data.h5 --save ''
refused "save into /proc" "cannot write the checkpoint /proc/bmst.h5: cannot create files in /proc" \
    --data data.h5 --save /proc/bmst.h5
refused "save into a missing folder" "cannot write the checkpoint no/such/x.h5: the folder no/such does not exist" \
    --data data.h5 --save no/such/x.h5
refused "save over a device" "cannot write the checkpoint /dev/null: it is not a regular file" \
    --data data.h5 --save /dev/null
refused "report to a folder" "cannot write the report folder: it is a folder" \
    --data data.h5 --report folder
refused "TensorBoard folder in a missing folder" "cannot write the TensorBoard folder no/tb: the folder no does not exist" \
    --data data.h5 --tensorboard no/tb
: > a_file
refused "TensorBoard folder that is a file" "cannot write the TensorBoard folder a_file: it is not a folder" \
    --data data.h5 --tensorboard a_file
rm a_file
refused "CSV into a missing folder" "cannot write the CSV file no/x.csv: the folder no does not exist" \
    --data data.h5 --csv no/x.csv
long=$(printf 'x%.0s' $(seq 250))
refused "a name with no room for .tmp.PID" "cannot write the checkpoint $long: the name is longer" \
    --data data.h5 --save "$long"

# allowed: resuming from the checkpoint the run overwrites, however spelled;
# and a CSV written to a device in place (it is not replaced)
"${train[@]}" --data data.h5 --save ck.h5 > /dev/null 2>&1 || fail "first checkpoint"
"${train[@]}" --data data.h5 --epochs 2 --resume ./ck.h5 --save "$work/run/ck.h5" --csv /dev/null \
    > resume.log 2>&1 && pass || fail "resume into the same checkpoint: $(tail -2 resume.log)"
grep -q "^epoch 2/2" resume.log && pass || fail "the resumed run did not train its epoch"
cmp -s data.h5 "$work/pristine.h5" && pass || fail "the dataset changed"

# stale temporary files: a dead writer's is removed at the next save; a live
# writer's (its PID alive here, or its lock held, as by a writer on another
# machine of a shared file system) and other files are kept
sleep 300 &
alive=$!
(exit 0) &
dead=$!
wait "$dead"
(exit 0) &
dead_elsewhere=$!
wait "$dead_elsewhere"
: > "ck.h5.tmp.$dead"
: > "ck.h5.tmp.$alive"
: > "other.h5.tmp.$dead"
: > ck.h5.tmp.notapid
locked=ck.h5.tmp.$dead_elsewhere
# the sleep inherits the locked descriptor: the lock lives as long as it does
(exec 9> "$locked" && flock 9 && exec sleep 300) &
locker=$!
for _ in $(seq 50); do flock -n "$locked" true || break; sleep 0.1; done
"${train[@]}" --data data.h5 --epochs 3 --resume ck.h5 --save ck.h5 > /dev/null 2>&1 ||
    fail "a save beside stale temporary files"
[[ ! -e "ck.h5.tmp.$dead" ]] && pass || fail "a dead writer's temporary file was kept"
[[ -e "ck.h5.tmp.$alive" ]] && pass || fail "a live writer's temporary file was removed"
[[ -e "$locked" ]] && pass || fail "a locked temporary file (another machine's writer) was removed"
[[ -e "other.h5.tmp.$dead" && -e ck.h5.tmp.notapid ]] && pass || fail "unrelated files were removed"
kill "$alive" "$locker" 2> /dev/null
wait "$alive" "$locker" 2> /dev/null

finish output_paths
