"""Counter-based uniform random numbers for Brian2 equations: ``uniform_counter(key, stream, counter)``.

Why not Brian2's ``rand()``: a compiled standalone project is rerun chunk after chunk with new values
(``device.run(run_args=...)``), but Brian2 seeds its generator at build time (``seed(n)`` writes the
literal ``n`` into the generated code), so every rerun would replay one random stream. Brian2 offers no
public way to give a rerun a new seed, and the generator state it keeps is an internal of the generated
code that changed between versions (``_mersenne_twister_states`` up to 2.7, ``_random_generators``
from 2.8 on). A counter-based generator needs no state at all: each number is a hash of three
integers,

* ``key``: an ordinary shared variable of the group, set per run through ``run_args`` (the "seed");
* ``stream``: usually the neuron index ``i``;
* ``counter``: a per-neuron count of the draws made so far in this run (the caller increments it).

The hash is three rounds of the SplitMix64 finaliser (Steele, Lea & Flood 2014), a bijection on 64-bit
integers with full avalanche; the top 53 bits give a double in [0, 1). The numpy, Cython, C++ and CUDA
implementations below compute the same integers, so runtime, cpp_standalone and cuda_standalone draw
the same numbers for the same key, on every supported Brian2, through its public user-function API.
"""
from __future__ import annotations

import numpy as np

FUNCTION_NAME = "uniform_counter"

_GOLDEN = 0x9E3779B97F4A7C15
_MUL1 = 0xBF58476D1CE4E5B9
_MUL2 = 0x94D049BB133111EB
_TWO_POW_MINUS_53 = 1.0 / 9007199254740992.0

_C_BODY = """
{qualifiers} uint64_t _brainsim_mix64(uint64_t z)
{{
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}}
{qualifiers} double uniform_counter(const int64_t key, const int64_t stream, const int64_t counter)
{{
    const uint64_t h = _brainsim_mix64(_brainsim_mix64(_brainsim_mix64((uint64_t)key) + (uint64_t)stream)
                                       + (uint64_t)counter);
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}}
"""
CPP_CODE = _C_BODY.format(qualifiers="static inline")
CUDA_CODE = _C_BODY.format(qualifiers="__host__ __device__ static inline")
CYTHON_CODE = """
cdef inline unsigned long long _brainsim_mix64(unsigned long long z):
    z = z + <unsigned long long>0x9E3779B97F4A7C15
    z = (z ^ (z >> 30)) * <unsigned long long>0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * <unsigned long long>0x94D049BB133111EB
    return z ^ (z >> 31)

cdef inline double uniform_counter(long long key, long long stream, long long counter):
    cdef unsigned long long h = _brainsim_mix64(_brainsim_mix64(_brainsim_mix64(<unsigned long long>key)
                                                + <unsigned long long>stream) + <unsigned long long>counter)
    return <double>(h >> 11) * (1.0 / 9007199254740992.0)
"""


def _as_uint64(x) -> np.ndarray:
    # int64 first, then a wrapping cast: the same bits as C's (uint64_t) of a signed integer
    return np.atleast_1d(np.asarray(x)).astype(np.int64).astype(np.uint64)


def _mix64(z: np.ndarray) -> np.ndarray:
    z = z + np.uint64(_GOLDEN)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_MUL1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_MUL2)
    return z ^ (z >> np.uint64(31))


def uniform_counter_numpy(key, stream, counter) -> np.ndarray:
    """The reference implementation: uniform doubles in [0, 1), elementwise over broadcast inputs."""
    key, stream, counter = np.broadcast_arrays(_as_uint64(key), _as_uint64(stream), _as_uint64(counter))
    with np.errstate(over="ignore"):
        h = _mix64(_mix64(_mix64(key) + stream) + counter)
    return (h >> np.uint64(11)).astype(np.float64) * _TWO_POW_MINUS_53


def brian2_function():
    """A Brian2 ``Function`` named ``uniform_counter`` (numpy, Cython, C++ and CUDA implementations).

    Put it in a group's namespace: ``namespace={"uniform_counter": brian2_function(), ...}``.
    """
    from brian2 import Function

    def uniform_counter(key, stream, counter):
        return uniform_counter_numpy(key, stream, counter)

    function = Function(uniform_counter, arg_units=[1, 1, 1], return_unit=1,
                        arg_types=["integer", "integer", "integer"], return_type="float", stateless=True)
    function.implementations.add_implementation("cpp", CPP_CODE, name=FUNCTION_NAME)
    function.implementations.add_implementation("cython", CYTHON_CODE, name=FUNCTION_NAME)
    # brian2cuda registers its target on import; without it (no cuda extra) the cuda code is not needed
    function.implementations.add_implementation("cuda", CUDA_CODE, name=FUNCTION_NAME)
    return function
