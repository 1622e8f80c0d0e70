#!/bin/bash
# Training under an address-space limit (ulimit -v, as some cluster schedulers
# set) never hangs: Debian 12's OpenBLAS retries forever where its buffers do
# not fit (kernels/cpu/cpu_blas_memory.c). Limits from 200 MiB up, in 100 MiB
# steps, until two runs in a row succeed: every run ends within its time
# limit, either trains or exits non-zero with one line on stderr (at the
# lowest limits the dynamic loader's own line, exit 127); the sweep must cross
# from refusals to successes. Not under the sanitizers, whose shadow memory
# needs terabytes of address space.
source "$(dirname "$0")/lib.sh"

"$BMST_DATA" synth --shape 32x32x3 --classes 10 --train 512 --test 128 "$work/d.h5" > /dev/null ||
    { echo "cannot make the dataset"; exit 1; }
refused=0 succeeded=0 in_a_row=0
for ((mib = 200; mib <= 4000 && in_a_row < 2; mib += 100)); do
    status=0
    (
        ulimit -v $((mib * 1024))
        exec timeout -k 5 60 "$BMST_DIST" train --data "$work/d.h5" --net resnet20 --batch 128 \
            --epochs 1 --max-steps 2 --device cpu --threads 2
    ) > "$work/out" 2> "$work/err" || status=$?
    if ((status == 0)); then
        succeeded=$((succeeded + 1)) in_a_row=$((in_a_row + 1))
        pass
        continue
    fi
    in_a_row=0
    if ((status == 124 || status == 137)); then
        fail "ulimit -v of $mib MiB: still running after 60 s (a spin?)"
    elif ((status > 128)); then
        fail "ulimit -v of $mib MiB: killed by signal $((status - 128)): $(head -c 300 "$work/err")"
    elif [[ $(grep -c '' "$work/err") -ne 1 ]]; then
        fail "ulimit -v of $mib MiB: exit $status with $(grep -c '' "$work/err") lines: $(head -c 400 "$work/err")"
    else
        refused=$((refused + 1))
        pass
    fi
    echo "ulimit -v $mib MiB: exit $status $(head -c 200 "$work/err")"
done
((refused > 0 && succeeded > 0)) && pass ||
    fail "the sweep did not cross the limit: $refused refused, $succeeded succeeded"
finish "address_limit"
