"""Lays out the registry face data as labelled folders (one sub-folder per identity).

Standard library only: the Olivetti cache is a zlib stream holding joblib's pickle of one
uint8 array, whose raw bytes follow the pickle header; PNGs are written with zlib.

    prepare_faces.py olivetti PKZ OUT          OUT/s01 … OUT/s40, ten 64x64 grey PNGs each
    prepare_faces.py celeba IMAGES GROUPS OUT  OUT/repeats/<group>/ and OUT/singles/
"""
import os
import shutil
import struct
import sys
import zlib

OLIVETTI_SHAPE = (400, 64, 64)


def fail(message):
    print(f"prepare_faces.py: {message}", file=sys.stderr)
    sys.exit(1)


def write_grey_png(path, width, height, pixels):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(pixels[y * width:(y + 1) * width]) for y in range(height))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(png)
    os.replace(tmp, path)


def olivetti(pkz, out):
    try:
        data = zlib.decompress(open(pkz, "rb").read())
    except (OSError, zlib.error) as e:
        fail(f"{pkz}: not a zlib-compressed joblib file ({e})")
    count, h, w = OLIVETTI_SHAPE
    size = count * h * w
    header = data[: len(data) - size - 1]
    if b"NumpyArrayWrapper" not in header or b"u1" not in header or data[-1:] != b".":
        fail(f"{pkz}: expected joblib's pickle of a (400, 4096) uint8 array")
    pixels = data[len(data) - size - 1 : -1]
    for i in range(count):
        person = os.path.join(out, f"s{i // 10 + 1:02d}")
        os.makedirs(person, exist_ok=True)
        # scikit-learn stores each image transposed: column-major 64x64.
        image = pixels[i * h * w : (i + 1) * h * w]
        upright = [image[x * h + y] for y in range(h) for x in range(w)]
        write_grey_png(os.path.join(person, f"{i % 10 + 1:02d}.png"), w, h, upright)


def celeba(images, groups_file, out):
    groups = []
    for number, line in enumerate(open(groups_file), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        files = line.split()
        if len(files) < 2:
            fail(f"{groups_file}:{number}: a group needs two or more files")
        groups.append(files)
    grouped = {f for g in groups for f in g}
    all_files = sorted(f for f in os.listdir(images) if f.endswith(".jpg"))
    missing = grouped - set(all_files)
    if missing:
        fail(f"{groups_file} names files missing from {images}: {sorted(missing)[:5]}")
    for files in groups:
        folder = os.path.join(out, "repeats", os.path.splitext(files[0])[0])
        os.makedirs(folder, exist_ok=True)
        for f in files:
            shutil.copyfile(os.path.join(images, f), os.path.join(folder, f))
    singles = os.path.join(out, "singles")
    os.makedirs(singles, exist_ok=True)
    for f in all_files:
        if f not in grouped:
            shutil.copyfile(os.path.join(images, f), os.path.join(singles, f))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "olivetti":
        olivetti(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 5 and sys.argv[1] == "celeba":
        celeba(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        fail("usage: prepare_faces.py olivetti PKZ OUT | celeba IMAGES GROUPS OUT")
