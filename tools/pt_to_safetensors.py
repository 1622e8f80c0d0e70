"""`bmst_dist import`'s helper for PyTorch pickles (.pt, .pth): only PyTorch
reads its pickles safely, so this unpickles IN with
torch.load(weights_only=True), which refuses pickled code, and writes its
tensors to OUT as a safetensors file (an 8-byte little-endian header length,
a JSON header, the raw little-endian bytes), which bmst_dist's own reader
then checks against the model. Compiled into bmst_dist and run as
`python3 -c SOURCE IN OUT`; any failure is one line on stderr and exit 1.

Usage: python3 pt_to_safetensors.py IN.pt OUT.safetensors
"""
import json
import struct
import sys

DTYPES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16", "int64": "I64"}


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def state_dict(path):
    try:
        import torch
    except ImportError:
        fail("reading %s needs PyTorch (torch) for the python3 on PATH (or BMST_PYTHON): "
             "pip install torch, or convert it to safetensors elsewhere" % path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a pickle of code, a damaged file, not a pickle at all
        # the first sentence: torch's own message goes on about weights_only=False
        first = (str(e).strip().splitlines() or [type(e).__name__])[0].split(". ")[0]
        fail("%s is not a state_dict that torch.load(weights_only=True) reads (a pickled "
             "module or other objects?): %s" % (path, first[:160]))
    if not isinstance(obj, dict) or not obj:
        fail("%s holds a %s, not a state_dict (a dict of tensors by name, as "
             "model.state_dict() gives)" % (path, type(obj).__name__))
    for name, value in obj.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            keys = ", ".join(repr(k) for k in list(obj)[:4])
            fail("%s holds a dict that is not a state_dict: %r is a %s, not a tensor (keys %s...)"
                 % (path, name, type(value).__name__, keys))
    return obj


def main():
    if len(sys.argv) != 3:
        fail("usage: pt_to_safetensors.py IN.pt OUT.safetensors")
    src, dst = sys.argv[1], sys.argv[2]
    tensors = state_dict(src)
    import torch  # state_dict() said so when there is none
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        dtype = str(t.dtype).replace("torch.", "")
        if dtype not in DTYPES:
            if not t.is_floating_point():
                fail("%s: tensor %s is %s; bmst_dist takes float32, float16, bfloat16 and int64"
                     % (src, name, dtype))
            t = t.to(torch.float32)  # float64: every weight fits a float32
            dtype = "float32"
        t = t.detach().contiguous()
        size = t.element_size()
        # bfloat16 has no numpy type: its bytes through a 2-byte integer view
        raw = (t.view(torch.int16) if size == 2 else t).numpy().tobytes()
        header[name] = {"dtype": DTYPES[dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


if __name__ == "__main__":
    main()
