#!/usr/bin/python3
"""Writes the .npy fixtures of tests/runtime_npy_test.cpp with NumPy itself.

Run from anywhere: /usr/bin/python3 tests/data/npy/make_fixtures.py (Debian: python3-numpy).
The values are literals so the C++ test can state them independently. Made with NumPy 1.24.
"""
import os

import numpy as np
from numpy.lib import format as npy_format

HERE = os.path.dirname(os.path.abspath(__file__))


def save(name, array):
    np.save(os.path.join(HERE, name), array, allow_pickle=False)


def save_version(name, array, version):
    with open(os.path.join(HERE, name), "wb") as f:
        npy_format.write_array(f, array, version=version, allow_pickle=False)


F32_2X3 = [[1.5, -2.25, 3.0e-8], [65504.0, -0.0, 0.1]]
F64_VEC = [3.141592653589793, -2.718281828459045, 1e300, 5e-324]
I32_2X2X2 = [[[0, -1], [2147483647, -2147483648]], [[7, 8], [9, 10]]]
I64_FITS = [[1, -2, 3], [2147483647, -2147483648, 0]]

# Format 1.0, as np.save writes it.
save("f32_2x3.npy", np.array(F32_2X3, dtype="<f4"))
save("f64_vec.npy", np.array(F64_VEC, dtype="<f8"))
save("i32_2x2x2.npy", np.array(I32_2X2X2, dtype="<i4"))
save("f64_scalar.npy", np.array(-42.5, dtype="<f8"))          # 0-d
save("f32_empty_0x3.npy", np.zeros((0, 3), dtype="<f4"))
save("i64_fits.npy", np.array(I64_FITS, dtype="<i8"))         # narrowed to i32
save("i64_too_big.npy", np.array([1, 2147483648], dtype="<i8"))
# Format 2.0 and 3.0 (4-byte header length).
save_version("f32_v2.npy", np.array(F32_2X3, dtype="<f4"), (2, 0))
save_version("f32_v3.npy", np.array(F32_2X3, dtype="<f4"), (3, 0))
# Rejected ones.
save("f32_fortran.npy", np.asfortranarray(np.array(F32_2X3, dtype="<f4")))
save("f32_big_endian.npy", np.array([1.0, 2.0], dtype=">f4"))
save("u8_vec.npy", np.array([1, 2, 3], dtype="|u1"))
save("f16_vec.npy", np.array([1.0, 2.0], dtype="<f2"))
