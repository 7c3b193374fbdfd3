"""Two machine operations numba does not offer on byte arrays, for the parser's kernels:
a memcpy between arrays and an unaligned 64-bit load. A slice assignment costs tens of
nanoseconds per field in numba, and reading eight bytes one at a time eight loads."""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def copy(typingctx, dst, dst_at, src, src_at, length):
    """dst[dst_at:dst_at + length] = src[src_at:src_at + length], as one LLVM memcpy."""
    sig = types.void(dst, types.int64, src, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        d, d_at, s, s_at, n = args
        d_arr = context.make_array(signature.args[0])(context, builder, d)
        s_arr = context.make_array(signature.args[2])(context, builder, s)
        cgutils.raw_memcpy(builder, builder.gep(d_arr.data, [d_at]),
                           builder.gep(s_arr.data, [s_at]), n, 1)
        return context.get_dummy_value()
    return sig, codegen


@intrinsic
def load64(typingctx, arr, at):
    """The little-endian 64-bit word at byte `at` of a uint8 array (any alignment)."""
    sig = types.uint64(arr, types.int64)

    def codegen(context, builder, signature, args):
        a, i = args
        data = context.make_array(signature.args[0])(context, builder, a).data
        ptr = builder.bitcast(builder.gep(data, [i]), ir.IntType(64).as_pointer())
        return builder.load(ptr, align=1)
    return sig, codegen
