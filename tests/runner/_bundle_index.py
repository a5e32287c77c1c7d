"""Reads a V2 checkpoint's ``.index`` file: every key with its dtype, shape and slices.

``tf.train.list_variables`` shows full names and shapes only; how a tensor was
saved (whole, or as slices of a partitioned variable) is in the index's
``BundleEntryProto``s. The index is a TF table (LevelDB's format: data blocks of
prefix-compressed keys, an index block, a 48-byte footer), written uncompressed.
"""

import struct

from tensorflow.core.protobuf import tensor_bundle_pb2

_FOOTER = 48
_TRAILER = 5  # a block's compression byte and crc32


def _varint(data, pos):
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _block(data, offset, size):
    assert data[offset + size] == 0, "compressed table blocks are not supported"
    block = data[offset : offset + size]
    (restarts,) = struct.unpack("<I", block[-4:])
    end = len(block) - 4 - 4 * restarts
    pos, key, entries = 0, b"", []
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        length, pos = _varint(block, pos)
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        entries.append((key, block[pos : pos + length]))
        pos += length
    return entries


def entries(prefix):
    """``{key: (dtype name, shape, [slice extents])}`` of checkpoint ``prefix``.

    Keys are bytes (a slice's own entry has an encoded key); the header entry is left out.
    """
    with open(prefix + ".index", "rb") as f:
        data = f.read()
    footer = data[-_FOOTER:]
    _, pos = _varint(footer, 0)  # the metaindex block, empty
    _, pos = _varint(footer, pos)
    index_offset, pos = _varint(footer, pos)
    index_size, _ = _varint(footer, pos)
    out = {}
    for _, handle in _block(data, index_offset, index_size):
        offset, pos = _varint(handle, 0)
        size, _ = _varint(handle, pos)
        for key, value in _block(data, offset, size):
            if not key:
                continue
            entry = tensor_bundle_pb2.BundleEntryProto.FromString(value)
            slices = [
                tuple((e.start, e.length if e.HasField("length") else -1) for e in s.extent)
                for s in entry.slices
            ]
            shape = [d.size for d in entry.shape.dim]
            out[key] = (entry.dtype, shape, slices)
    return out
