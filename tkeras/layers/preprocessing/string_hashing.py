"""The two string hashes behind TensorFlow's `to_hash_bucket_fast` / `to_hash_bucket_strong`.

- `fingerprint64`: FarmHash `Fingerprint64` (= `farmhashna::Hash64`), TensorFlow's
  `tf.strings.to_hash_bucket_fast` and `tf.fingerprint`.
- `siphash24`: SipHash-2-4 keyed by two 64-bit words, TensorFlow's
  `tf.strings.to_hash_bucket_strong(key=[k0, k1])`.
- `fingerprint_cat64`: TensorFlow's `FingerprintCat64`, which `tf.sparse.cross_hashed` uses
  to combine the hashes of crossed features (`HashedCrossing`).

Both take a sequence of `bytes` and return a `uint64` array. Every step of a hash is one NumPy
operation over many strings (numpy's `uint64` arithmetic wraps modulo 2**64 like C's): FarmHash
groups the strings by its code path (0, 1-3, 4-7, 8-16, 17-32, 33-64, more bytes) and reads
words at per-string offsets; SipHash and FarmHash's long-string rounds run over all strings at
once, each string keeping its state once its own blocks are done.
"""

import numpy as np

_U64 = np.uint64
_K0 = _U64(0xC3A5C85C97CB3127)
_K1 = _U64(0xB492B66FBE98F273)
_K2 = _U64(0x9AE16A3B2F90404F)
_MASK64 = (1 << 64) - 1


def _u64(value):
    return _U64(value & _MASK64)


def _rotate(v, shift):
    return (v >> _U64(shift)) | (v << _U64(64 - shift))


def _shift_mix(v):
    return v ^ (v >> _U64(47))


class _Rows:
    """Byte strings as rows of a zero-padded matrix, read as little-endian words at per-row
    offsets (an int, or an array with one offset per row)."""

    def __init__(self, strings):
        self.lengths = np.array([len(s) for s in strings], dtype=np.int64)
        count = len(strings)
        width = int(self.lengths.max(initial=0)) + 16  # room for the word past the last byte
        data = np.zeros((count, width), dtype=np.uint8)
        flat = np.frombuffer(b"".join(strings), dtype=np.uint8)
        starts = np.cumsum(self.lengths) - self.lengths
        rows = np.repeat(np.arange(count), self.lengths)
        data[rows, np.arange(flat.size) - np.repeat(starts, self.lengths)] = flat
        self.data = data
        self._windows = {size: np.lib.stride_tricks.sliding_window_view(data, size, axis=1)
                         for size in (4, 8)}
        self._rows = np.arange(count)

    def _fetch(self, offset, size, dtype):
        offset = np.broadcast_to(np.asarray(offset, dtype=np.int64), self._rows.shape)
        words = np.ascontiguousarray(self._windows[size][self._rows, offset])
        return words.view(dtype)[:, 0].astype(np.uint64)

    def fetch64(self, offset):
        return self._fetch(offset, 8, "<u8")

    def fetch32(self, offset):
        return self._fetch(offset, 4, "<u4")

    def byte(self, offset):
        return self.data[self._rows, offset].astype(np.uint64)


def _select(mask, new, old):
    return tuple(np.where(mask, a, b) for a, b in zip(new, old))


# ----------------------------------------------------------------------------- FarmHash


def _hash_len16(u, v, mul):
    a = (u ^ v) * mul
    a ^= a >> _U64(47)
    b = (v ^ a) * mul
    b ^= b >> _U64(47)
    return b * mul


def _weak_hash_len32_with_seeds(rows, offset, a, b):
    w, x = rows.fetch64(offset), rows.fetch64(offset + 8)
    y, z = rows.fetch64(offset + 16), rows.fetch64(offset + 24)
    a = a + w
    b = _rotate(b + a + z, 21)
    c = a
    a = a + x + y
    b = b + _rotate(a, 44)
    return a + z, b + c


def _farmhash_1_to_3(rows):
    n = rows.lengths
    y = rows.byte(0) + (rows.byte(n >> 1) << _U64(8))
    z = n.astype(np.uint64) + (rows.byte(n - 1) << _U64(2))
    return _shift_mix(y * _K2 ^ z * _K0) * _K2


def _farmhash_4_to_7(rows):
    n = rows.lengths
    mul = _K2 + n.astype(np.uint64) * _U64(2)
    a = rows.fetch32(0)
    return _hash_len16(n.astype(np.uint64) + (a << _U64(3)), rows.fetch32(n - 4), mul)


def _farmhash_8_to_16(rows):
    n = rows.lengths
    mul = _K2 + n.astype(np.uint64) * _U64(2)
    a = rows.fetch64(0) + _K2
    b = rows.fetch64(n - 8)
    c = _rotate(b, 37) * mul + a
    d = (_rotate(a, 25) + b) * mul
    return _hash_len16(c, d, mul)


def _farmhash_17_to_32(rows):
    n = rows.lengths
    mul = _K2 + n.astype(np.uint64) * _U64(2)
    a = rows.fetch64(0) * _K1
    b = rows.fetch64(8)
    c = rows.fetch64(n - 8) * mul
    d = rows.fetch64(n - 16) * _K2
    return _hash_len16(_rotate(a + b, 43) + _rotate(c, 30) + d,
                       a + _rotate(b + _K2, 18) + c, mul)


def _farmhash_33_to_64(rows):
    n = rows.lengths
    mul = _K2 + n.astype(np.uint64) * _U64(2)
    a = rows.fetch64(0) * _K2
    b = rows.fetch64(8)
    c = rows.fetch64(n - 8) * mul
    d = rows.fetch64(n - 16) * _K2
    y = _rotate(a + b, 43) + _rotate(c, 30) + d
    z = _hash_len16(y, a + _rotate(b + _K2, 18) + c, mul)
    e = rows.fetch64(16) * mul
    f = rows.fetch64(24)
    g = (y + rows.fetch64(n - 32)) * mul
    h = (z + rows.fetch64(n - 24)) * mul
    return _hash_len16(_rotate(e + f, 43) + _rotate(g, 30) + h,
                       e + _rotate(f + a, 18) + g, mul)


def _farmhash_long(rows):
    """More than 64 bytes: `(len - 1) // 64` rounds over 64-byte chunks (rows with fewer rounds
    keep their state), then the last 64 bytes."""
    n = rows.lengths
    zeros = np.zeros(n.shape, dtype=np.uint64)
    x = zeros + _U64(81)
    y = zeros + _u64(81 * int(_K1) + 113)
    z = _shift_mix(y * _K2 + _U64(113)) * _K2
    v0 = v1 = w0 = w1 = zeros
    x = x * _K2 + rows.fetch64(0)
    rounds = (n - 1) // 64
    for r in range(int(rounds.max())):
        s = 64 * r
        nx = _rotate(x + y + v0 + rows.fetch64(s + 8), 37) * _K1
        ny = _rotate(y + v1 + rows.fetch64(s + 48), 42) * _K1
        nx ^= w1
        ny = ny + v0 + rows.fetch64(s + 40)
        nz = _rotate(z + w0, 33) * _K1
        nv0, nv1 = _weak_hash_len32_with_seeds(rows, s, v1 * _K1, nx + w0)
        nw0, nw1 = _weak_hash_len32_with_seeds(rows, s + 32, nz + w1,
                                               ny + rows.fetch64(s + 16))
        # std::swap(z, x) at the end of each round.
        x, y, z, v0, v1, w0, w1 = _select(r < rounds, (nz, ny, nx, nv0, nv1, nw0, nw1),
                                          (x, y, z, v0, v1, w0, w1))
    mul = _K1 + ((z & _U64(0xFF)) << _U64(1))
    s = n - 64
    w0 = w0 + ((n - 1) & 63).astype(np.uint64)
    v0 = v0 + w0
    w0 = w0 + v0
    x = _rotate(x + y + v0 + rows.fetch64(s + 8), 37) * mul
    y = _rotate(y + v1 + rows.fetch64(s + 48), 42) * mul
    x ^= w1 * _U64(9)
    y = y + v0 * _U64(9) + rows.fetch64(s + 40)
    z = _rotate(z + w0, 33) * mul
    v0, v1 = _weak_hash_len32_with_seeds(rows, s, v1 * mul, x + w0)
    w0, w1 = _weak_hash_len32_with_seeds(rows, s + 32, z + w1, y + rows.fetch64(s + 16))
    x, z = z, x
    return _hash_len16(_hash_len16(v0, w0, mul) + _shift_mix(y) * _K0 + z,
                       _hash_len16(v1, w1, mul) + x, mul)


# FarmHash's code path for each range of byte lengths.
_FARMHASH_PATHS = ((1, 3, _farmhash_1_to_3), (4, 7, _farmhash_4_to_7), (8, 16, _farmhash_8_to_16),
                   (17, 32, _farmhash_17_to_32), (33, 64, _farmhash_33_to_64),
                   (65, np.inf, _farmhash_long))


def fingerprint64(strings):
    """FarmHash Fingerprint64 of each `bytes` object in `strings`, as a `uint64` array."""
    strings = list(strings)
    lengths = np.array([len(s) for s in strings], dtype=np.int64)
    out = np.full(len(strings), _K2, dtype=np.uint64)  # the hash of b""
    for low, high, path in _FARMHASH_PATHS:
        (indices,) = np.nonzero((lengths >= low) & (lengths <= high))
        if indices.size:
            out[indices] = path(_Rows([strings[i] for i in indices]))
    return out


# ----------------------------------------------------------------------------- SipHash


def _sip_round(v0, v1, v2, v3):
    v0 = v0 + v1
    v1 = _rotate(v1, 64 - 13) ^ v0  # _rotate is a right rotation; SipHash rotates left
    v0 = _rotate(v0, 32)
    v2 = v2 + v3
    v3 = _rotate(v3, 64 - 16) ^ v2
    v0 = v0 + v3
    v3 = _rotate(v3, 64 - 21) ^ v0
    v2 = v2 + v1
    v1 = _rotate(v1, 64 - 17) ^ v2
    v2 = _rotate(v2, 32)
    return v0, v1, v2, v3


def siphash24(strings, key0, key1):
    """SipHash-2-4 of each `bytes` object in `strings` under the key `(key0, key1)` (two
    64-bit words; negative Python ints are taken modulo 2**64), as a `uint64` array."""
    k0, k1 = _u64(key0), _u64(key1)
    rows = _Rows(list(strings))
    n = rows.lengths
    full_words = n // 8
    # The last block: the 0-7 trailing bytes (the padding is zeros) and the length's low byte.
    last = rows.fetch64(full_words * 8) | ((n & 0xFF).astype(np.uint64) << _U64(56))
    zeros = np.zeros(n.shape, dtype=np.uint64)
    v = (zeros + (k0 ^ _U64(0x736F6D6570736575)), zeros + (k1 ^ _U64(0x646F72616E646F6D)),
         zeros + (k0 ^ _U64(0x6C7967656E657261)), zeros + (k1 ^ _U64(0x7465646279746573)))
    for block in range(int(full_words.max(initial=0)) + 1):
        m = np.where(block < full_words, rows.fetch64(8 * block), last)
        new = _sip_round(*_sip_round(v[0], v[1], v[2], v[3] ^ m))
        v = _select(block <= full_words, (new[0] ^ m,) + new[1:], v)
    v = (v[0], v[1], v[2] ^ _U64(0xFF), v[3])
    for _ in range(4):
        v = _sip_round(*v)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


# ----------------------------------------------------------------------------- FingerprintCat64

_CAT_MUL = _U64(0xC6A4A7935BD1E995)


def fingerprint_cat64(fp1, fp2):
    """TensorFlow's `FingerprintCat64(fp1, fp2)` (tensorflow/core/platform/fingerprint.h), the
    combination `tf.sparse.cross_hashed` folds each crossed feature's hash into, elementwise
    over `uint64` arrays."""
    result = fp1 ^ _CAT_MUL
    result = result ^ (_shift_mix(fp2 * _CAT_MUL) * _CAT_MUL)
    result = result * _CAT_MUL
    result = _shift_mix(result) * _CAT_MUL
    return _shift_mix(result)
