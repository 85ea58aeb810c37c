#!/usr/bin/env python3
"""Writes the fuzzers' seed corpus into fuzz/corpus/<target>/ (standard library only).

Each target gets a handful of valid files and near-valid ones: the layouts the
readers must accept, and the ones they must refuse before allocating (a header
announcing more data than the file holds, an absurd shape). Rerun after changing
it; the files are committed so that CI needs no Python.
"""
import io
import json
import math
import os
import struct
import warnings
import zipfile
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def npy(descr, shape, payload, fortran=False, major=1):
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, "True" if fortran else "False", shape)
    prefix = 10 if major == 1 else 12
    header += " " * ((64 - (prefix + len(header) + 1) % 64) % 64) + "\n"
    length = struct.pack("<H" if major == 1 else "<I", len(header))
    return b"\x93NUMPY" + bytes([major, 0]) + length + header.encode() + payload


def floats(fmt, values):
    return struct.pack("<%d%s" % (len(values), fmt), *values)


def safetensors(tensors, metadata=None, length_delta=0):
    """tensors: list of (name, dtype, shape, payload bytes); laid out in order."""
    header, data = {}, b""
    for name, dtype, shape, payload in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text) + length_delta) + text + data


def model(dtype="F32", atoms=2, dim=2, metadata=True, bias_shape=None, values=None):
    fmt = "f" if dtype == "F32" else "d"
    n = atoms * dim
    vals = values if values is not None else [0.25 * (i + 1) for i in range(n)]
    meta = {"format": "dictlearn.model", "format_version": "1", "encoder": "softmax",
            "n_atoms": str(atoms), "dim": str(dim),
            "dtype": "float32" if dtype == "F32" else "float64", "lr": "0.001"}
    bias = bias_shape if bias_shape is not None else [atoms]
    return safetensors([
        ("attributor.0.bias", dtype, bias, floats(fmt, [0.1] * math.prod(bias))),
        ("attributor.0.weight", dtype, [atoms, dim], floats(fmt, vals)),
        ("dictionary", dtype, [atoms, dim], floats(fmt, vals)),
    ], meta if metadata else None)


def npz(members, compression=zipfile.ZIP_STORED):
    """members: list of (name, bytes), as np.savez lays them out (with zipfile)."""
    out = io.BytesIO()
    warnings.simplefilter("ignore", UserWarning)  # a duplicate name is one of the seeds
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, content in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = compression
            archive.writestr(info, content)
    return out.getvalue()


def csr(indptr, indices, values, shape, index="q", value="d", shape_text=None):
    """The four members of a sparse-codes archive (see src/io/sparse_codes.cpp)."""
    descr = {"q": "<i8", "i": "<i4", "f": "<f4", "d": "<f8"}
    return [
        ("indptr.npy", npy(descr[index], "(%d,)" % len(indptr), floats(index, indptr))),
        ("indices.npy", npy(descr[index], "(%d,)" % len(indices), floats(index, indices))),
        ("values.npy", npy(descr[value], "(%d,)" % len(values), floats(value, values))),
        ("shape.npy", npy("<i8", shape_text or "(2,)", floats("q", shape))),
    ]


def png(width, height, depth, color_type, rows, interlace=0):
    """A PNG: IHDR, one IDAT of the rows (filter byte 0 each), IEND."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\0" + row for row in rows)
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0,
                                       interlace)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def write(target, name, content):
    folder = os.path.join(ROOT, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(content if isinstance(content, bytes) else content.encode())


def main():
    six = [1.5, -2.0, 0.1, 3.0, 1e-30, 7.25]
    write("fuzz_npy", "f4_c_3x2.npy", npy("<f4", "(3, 2)", floats("f", six)))
    write("fuzz_npy", "f8_fortran_2x3.npy", npy("<f8", "(2, 3)", floats("d", six), fortran=True))
    write("fuzz_npy", "f4_v2_1x2.npy", npy("<f4", "(1, 2)", floats("f", six[:2]), major=2))
    write("fuzz_npy", "f8_nan.npy", npy("<f8", "(1, 2)", floats("d", [1.0, math.nan])))
    write("fuzz_npy", "f8_too_big_for_f4.npy", npy("<f8", "(1, 2)", floats("d", [1e300, 1.0])))
    write("fuzz_npy", "truncated_data.npy", npy("<f4", "(1000, 1000)", floats("f", six)))
    write("fuzz_npy", "absurd_shape.npy", npy("<f8", "(1099511627776, 1099511627776)", b""))
    write("fuzz_npy", "zero_by_huge.npy", npy("<f4", "(0, 4611686018427387904)", b""))
    write("fuzz_npy", "header_beyond_file.npy", b"\x93NUMPY\x02\x00\xff\xff\xff\x7f{'descr'")
    write("fuzz_npy", "i8.npy", npy("<i8", "(2, 1)", b"\0" * 16))
    write("fuzz_npy", "big_endian.npy", npy(">f4", "(2, 1)", b"\0" * 8))
    write("fuzz_npy", "three_d.npy", npy("<f4", "(1, 1, 2)", b"\0" * 8))

    write("fuzz_csv", "header.csv", "x,y\n1.5,-2\n0.1,3e2\n")
    write("fuzz_csv", "crlf_bom_blank.csv", "\ufeff 1 , 2 \r\n3,4\r\n\r\n\n")
    write("fuzz_csv", "one_column.csv", "5\n-6.25\n+7\n")
    write("fuzz_csv", "ragged.csv", "1,2\n3\n")
    write("fuzz_csv", "not_number.csv", "a,b\n1,abc\n")
    write("fuzz_csv", "inf_nan.csv", "1,inf\nnan,2\n")
    write("fuzz_csv", "out_of_range.csv", "1e39,1e-50\n1e400,2\n")
    write("fuzz_csv", "wide_header.csv", "a" + ",b" * 40 + "\n" + "0," * 40 + "0\n")
    write("fuzz_csv", "blank_middle.csv", "1,2\n\n3,4\n")
    write("fuzz_csv", "empty_fields.csv", ",,\n,,\n")
    write("fuzz_csv", "quoted_numbers.csv", '"1","2"\n3,"4"\n')
    write("fuzz_csv", "quoted_header.csv", '"a,b","say ""c"""\n1.5,2\n')
    write("fuzz_csv", "mixed_header.csv", "x,1\n2,3\n")
    write("fuzz_csv", "open_quote.csv", '1,2\n3,"4\n')
    write("fuzz_csv", "after_quote.csv", '"1"x,2\n')
    write("fuzz_csv", "control_bytes.csv", "1,2\n3,\x1b[31m\x07\n")

    header = "epoch,loss,mse,fvu,l0,dead_fraction,lr,seconds,atom0_x,atom0_y,atom1_x,atom1_y\n"
    write("fuzz_training_log", "log.csv", header +
          "1,0.38,0.38,1.47,2,0,0.001,5e-05,0.16,0.99,0.04,0.59\n"
          "2,0.37,0.37,1.46,2,0,0.001,6e-05,,,,\n"
          "3,0.36,0.36,1.45,2,0.5,0.001,7e-05,0.17,0.98,0.05,0.58\n")
    write("fuzz_training_log", "crlf_blank.csv", "epoch,loss\r\n1,0.5\r\n\r\n2,0.25\r\n")
    write("fuzz_training_log", "no_epoch.csv", "step,loss\n1,0.5\n")
    write("fuzz_training_log", "huge_epoch.csv", "epoch,loss\n1e300,0.5\n-1,2\n")
    write("fuzz_training_log", "ragged.csv", "epoch,loss,mse\n1,0.5\n")
    write("fuzz_training_log", "not_number.csv", "epoch,loss\n1,abc\n")
    write("fuzz_training_log", "trailing_comma.csv", "epoch,loss,\n1,0.5,\n")
    write("fuzz_training_log", "empty.csv", "")

    two = floats("f", [1, 2, 3, 4])
    write("fuzz_safetensors", "valid.safetensors", safetensors(
        [("a", "F32", [2, 2], two), ("b", "F64", [3], floats("d", [1, 2, 3]))], {"k": "v"}))
    write("fuzz_safetensors", "empty.safetensors", safetensors([]))
    write("fuzz_safetensors", "scalar.safetensors", safetensors([("s", "F64", [], floats("d", [2]))]))
    write("fuzz_safetensors", "length_beyond_file.safetensors",
          safetensors([("a", "F32", [2, 2], two)], length_delta=1 << 40))
    write("fuzz_safetensors", "absurd_shape.safetensors", safetensors(
        [("a", "F32", [1 << 40, 1 << 40], two)]))
    overlap = json.dumps({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                          "b": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    write("fuzz_safetensors", "overlap.safetensors",
          struct.pack("<Q", len(overlap)) + overlap + two)
    write("fuzz_safetensors", "bf16.safetensors", safetensors([("a", "BF16", [2], b"\0" * 4)]))
    write("fuzz_safetensors", "bad_metadata.safetensors",
          safetensors([("a", "F32", [1], two[:4])], {"n": 3}))
    write("fuzz_safetensors", "bad_json.safetensors", struct.pack("<Q", 6) + b'{"a":[')

    write("fuzz_model", "f32.safetensors", model())
    write("fuzz_model", "f64_3x4.safetensors", model("F64", 3, 4))
    write("fuzz_model", "torch_no_metadata.safetensors", model(metadata=False))
    write("fuzz_model", "bias_mismatch.safetensors", model(bias_shape=[3]))
    write("fuzz_model", "nan_values.safetensors", model(values=[1, math.nan, 3, 4]))
    write("fuzz_model", "missing_bias.safetensors", safetensors(
        [("dictionary", "F32", [2, 2], two), ("attributor.0.weight", "F32", [2, 2], two)]))
    write("fuzz_model", "zero_by_huge.safetensors", safetensors(
        [("dictionary", "F32", [0, 1 << 40], b""), ("attributor.0.weight", "F32", [0, 1 << 40], b""),
         ("attributor.0.bias", "F32", [0], b"")]))
    meta = {"encoder": "no_such_encoder", "temperature": "nan", "k": "1.5"}
    write("fuzz_model", "bad_metadata.safetensors", safetensors(
        [("attributor.0.bias", "F32", [2], two[:8]), ("attributor.0.weight", "F32", [2, 2], two),
         ("dictionary", "F32", [2, 2], two)], meta))
    three = csr([0, 2, 2, 3], [0, 3, 1], [1.5, -2.0, 0.25], [3, 4])
    write("fuzz_npz", "valid_f8.npz", npz(three))
    write("fuzz_npz", "valid_f4_i4.npz", npz(csr([0, 1, 2], [1, 0], [1.0, 2.0], [2, 2], "i", "f")))
    write("fuzz_npz", "empty.npz", npz(csr([0], [], [], [0, 5])))
    write("fuzz_npz", "deflated.npz", npz(three, zipfile.ZIP_DEFLATED))
    write("fuzz_npz", "missing_shape.npz", npz(three[:3]))
    write("fuzz_npz", "duplicate_entry.npz", npz(three + three[:1]))
    write("fuzz_npz", "unsorted_indices.npz", npz(csr([0, 2], [3, 1], [1.0, 2.0], [1, 4])))
    write("fuzz_npz", "index_out_of_range.npz", npz(csr([0, 1], [9], [1.0], [1, 4])))
    write("fuzz_npz", "absurd_shape.npz", npz(csr([0, 1], [0], [1.0], [1 << 40, 1 << 40])))
    write("fuzz_npz", "two_d_values.npz", npz(three[:2] + [
        ("values.npy", npy("<f8", "(3, 1)", floats("d", [1, 2, 3])))] + three[3:]))
    valid = npz(three)
    write("fuzz_npz", "truncated.npz", valid[:len(valid) // 2])
    corrupt = bytearray(valid)
    corrupt[len(corrupt) // 3] ^= 0xFF  # inside an entry's bytes: a CRC-32 mismatch
    write("fuzz_npz", "bad_crc.npz", bytes(corrupt))
    write("fuzz_npz", "single_npy.npz", npy("<f4", "(3, 2)", floats("f", six)))

    ramp = [bytes(10 * r + c for c in range(5)) for r in range(4)]
    write("fuzz_image", "gray8.png", png(5, 4, 8, 0, ramp))
    write("fuzz_image", "gray16.png", png(2, 2, 16, 0, [b"\xff\xff\x00\x01"] * 2))
    write("fuzz_image", "gray1.png", png(9, 2, 1, 0, [b"\xa5\x80"] * 2))
    write("fuzz_image", "rgb.png", png(2, 1, 8, 2, [b"\xff\x00\x00\x00\xff\x00"]))
    write("fuzz_image", "rgba16.png", png(1, 1, 16, 6, [b"\x12\x34" * 4]))
    write("fuzz_image", "gray_alpha.png", png(2, 1, 8, 4, [b"\x10\xff\x20\x00"]))
    write("fuzz_image", "interlaced.png", png(5, 4, 8, 0, ramp, interlace=1))
    write("fuzz_image", "truncated.png", png(5, 4, 8, 0, ramp)[:-20])
    write("fuzz_image", "huge_claim.png", png(1 << 19, 1 << 19, 16, 0, []))
    write("fuzz_image", "p5.pgm", b"P5\n# comment\n5 4\n255\n" + b"".join(ramp))
    write("fuzz_image", "p5_16.pgm", b"P5 2 1 1000\n\x03\xe8\x01\xf4")
    write("fuzz_image", "p2.pgm", b"P2 3 2 15\n0 1 2\n13 14 15\n")
    write("fuzz_image", "p5_truncated.pgm", b"P5 100 100 255\nabc")

    # Structured mode ('~'): the bytes drive fuzz_model.cpp's generator.
    write("fuzz_model", "structured_a", b"~" + bytes(range(64)))
    write("fuzz_model", "structured_b", b"~" + bytes((i * 37) % 256 for i in range(96)))

    # fuzz_checkpoint: '~', a checkpoint's number (0 softmax, 1 topk, 2 batchtopk
    # with a log), then the bytes that drive its changes; "~N" alone is the
    # unchanged checkpoint (it resumes).
    for run in range(3):
        write("fuzz_checkpoint", "unchanged_%d" % run, b"~" + bytes([run]))
        write("fuzz_checkpoint", "changed_%d" % run,
              b"~" + bytes([run]) + bytes((i * 53 + run) % 256 for i in range(80)))
    # '^': the online learner's checkpoint, unchanged ("^" alone) and changed.
    write("fuzz_checkpoint", "online_unchanged", b"^")
    write("fuzz_checkpoint", "online_changed", b"^" + bytes((i * 29 + 7) % 256 for i in range(80)))
    # Raw mode: files that are not this run's checkpoints.
    write("fuzz_checkpoint", "model.safetensors", model())
    checkpoint_meta = {"format": "dictlearn.checkpoint", "checkpoint.data_shape": "32x3",
                       "checkpoint.data_hash": "0000000000000000", "checkpoint.epochs_done": "1",
                       "encoder": "softmax", "k": "0", "temperature": "1", "threshold": "0"}
    write("fuzz_checkpoint", "foreign_checkpoint.safetensors", safetensors([
        ("attributor.0.bias", "F32", [3], floats("f", [0.1] * 3)),
        ("attributor.0.weight", "F32", [3, 3], floats("f", [0.5] * 9)),
        ("dictionary", "F32", [3, 3], floats("f", [0.5] * 9)),
        ("train.losses", "F64", [1], floats("d", [0.5]))], checkpoint_meta))


if __name__ == "__main__":
    main()
