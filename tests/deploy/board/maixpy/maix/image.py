"""DOUBLE of maix.image: load() reads a JPEG's size from its SOF marker."""
import struct


class Format:
    FMT_RGB888 = 0


class Image:
    def __init__(self, width, height, format=Format.FMT_RGB888):
        self._w, self._h = width, height

    def width(self):
        return self._w

    def height(self):
        return self._h


def load(path, format=Format.FMT_RGB888):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\xff\xd8":
        raise RuntimeError("image.load: not a JPEG: " + path)
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        seglen = struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return Image(w, h, format)
        i += 2 + seglen
    raise RuntimeError("image.load: no SOF in " + path)
