# Shared helpers for the CLI test scripts: a work folder, pass/fail counting
# and the closing "N passed, N failed" line.
set -u
: "${BMST_DIST:?set BMST_DIST to the bmst_dist binary}"
: "${BMST_DATA:?set BMST_DATA to the bmst_data binary}"
work=$(mktemp -d "${TMPDIR:-/tmp}/bmst_test.XXXXXX")
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

# expect_error NAME PATTERN CMD...: CMD must exit non-zero (not by a signal),
# print exactly one line on stderr, and that line must match PATTERN.
expect_error() {
    expect_status any "$@"
}

# expect_usage NAME PATTERN CMD...: expect_error, with exit status 2 (a bad
# command line).
expect_usage() {
    expect_status 2 "$@"
}

# expect_status STATUS NAME PATTERN CMD...: as expect_error, with exit status
# STATUS ("any": any non-zero status).
expect_status() {
    local want=$1 name=$2 pattern=$3
    shift 3
    local err="$work/stderr" status=0
    "$@" > "$work/stdout" 2> "$err" || status=$?
    local lines
    lines=$(grep -c '' "$err" || true)
    if [[ $status -eq 0 ]]; then
        fail "$name: exit status 0"
    elif [[ $status -ge 128 ]]; then
        fail "$name: killed by signal $((status - 128)): $(head -c 600 "$err")"
    elif [[ $want != any && $status -ne $want ]]; then
        fail "$name: exit status $status, expected $want: $(head -c 600 "$err")"
    elif [[ $lines -ne 1 ]]; then
        fail "$name: expected one line on stderr, got $lines: $(head -c 600 "$err")"
    elif ! grep -q -E -e "$pattern" "$err"; then
        fail "$name: stderr '$(cat "$err")' does not match /$pattern/"
    else
        pass
    fi
}

finish() {
    echo "$1: $passed passed, $failed failed"
    [[ $failed -eq 0 && $passed -gt 0 ]]
}

# same_but_codec A B: checkpoints A and B hold the same bits, every dataset and
# attribute, but the --act-codec and --recompute each records (needs
# /usr/bin/python3 with h5py).
same_but_codec() {
    /usr/bin/python3 - "$1" "$2" <<'EOF'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
def objects(f):
    found = {"/": f}
    f.visititems(lambda name, o: found.__setitem__(name, o))
    return found
def attrs(o):
    return {k: np.asarray(v).tobytes() for k, v in o.attrs.items() if k not in ("act_codec", "recompute")}
oa, ob = objects(a), objects(b)
assert oa.keys() == ob.keys(), sorted(set(oa) ^ set(ob))
for name, o in oa.items():
    assert attrs(o) == attrs(ob[name]), "attributes of " + name
    if isinstance(o, h5py.Dataset):
        assert o[()].tobytes() == ob[name][()].tobytes(), name
EOF
}

# convert_fashion_mnist OUT: Debian's Fashion-MNIST (or $BMST_FASHION_MNIST)
# converted whole to OUT; a failure ends the test, since without the data the
# checks that follow would prove nothing.
convert_fashion_mnist() {
    local source=${BMST_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
    if ! "$BMST_DATA" convert fashion-mnist "$source" "$1" > "$work/convert.log" 2>&1; then
        echo "FAIL: cannot convert Fashion-MNIST from $source (launch/install_deps.sh" \
            "--tests installs dataset-fashion-mnist): $(tail -1 "$work/convert.log")"
        exit 1
    fi
}

# run_ranks N ARGS...: bmst_dist ARGS on N MPI ranks (oversubscribed: CI has
# 2 cores), killed after 2 minutes so a hung collective fails the test
# instead of the CI job. The caller exports OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM).
run_ranks() {
    local n=$1
    shift
    timeout -k 5 120 mpirun --oversubscribe -np "$n" "$BMST_DIST" "$@"
}

# fashion_mnist_halves FIRST.h5 SECOND.h5 [N M]: Fashion-MNIST's classes 0-4
# (labels kept) and 5-9 (as 0-4), N training (1000) and M test (500) images
# each, as datasets of their own (class_halves.py): the fine-tuning check
# pretrains on the first and fine-tunes on the second.
fashion_mnist_halves() {
    convert_fashion_mnist "$work/fashion-mnist.h5"
    /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/class_halves.py" "$work/fashion-mnist.h5" \
        "$1" "$2" 5 "${3:-1000}" "${4:-500}" || { echo "FAIL: cannot split Fashion-MNIST"; exit 1; }
    rm -f "$work/fashion-mnist.h5"
}

# onnx_venv: onnx and onnxruntime from PyPI into a venv made once and kept
# (BMST_ONNX_VENV, default ~/.cache/bmst_dist/onnx-venv); sets $venv, or
# ends the test when they cannot be installed.
onnx_venv() {
    venv=${BMST_ONNX_VENV:-$HOME/.cache/bmst_dist/onnx-venv}
    "$venv/bin/python" -c "import onnx, onnxruntime" 2> /dev/null && return
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    { /usr/bin/python3 -m venv "$venv" &&
        "$venv/bin/pip" install -q onnx==1.23.1 onnxruntime==1.30.0; } > "$work/pip.log" 2>&1 ||
        { echo "FAIL: cannot install onnx and onnxruntime into $venv: $(tail -2 "$work/pip.log")"; exit 1; }
}
