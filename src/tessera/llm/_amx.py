"""Products of the GGUF's Q4_1 and Q8_0 weights on Intel AMX tiles, cost flat in rows.

PyTorch's CPU int4 kernel (``aten._weight_int4pack_mm_for_cpu``, the q4_1 route of
:mod:`tessera.llm._quant` elsewhere) de-quantises the weights again for every row of a
product, so a Medusa tree of 16 rows costs about five times one token. On CPUs with AMX
(Intel Xeon from Sapphire Rapids on) this module's kernel reads each weight once for up
to 16 rows (one tile), so a tree's rows cost little more than one row:

- **Q4_1 linears** (the decoder's, ``w = dw * q + mw`` in blocks of 32, ``q`` in 0..15)
  run on AMX-BF16 with the activations as they are: the 4-bit weights enter the tiles as
  the bfloat16 numbers ``128 + q`` (exact; one shift and one bitwise operation per 32
  weights), and a block's product is ``dw * (x . (128 + q)) + (mw - 128 dw) * sum(x)``.
  The weights are the file's exactly (``dw`` and ``mw`` in float16, not rounded to bf16
  as PyTorch's kernel takes them), the activations bf16, products and sums in float32.
- **The Q8_0 lm_head** (``w = dw * q``, ``q`` int8: the token embedding it is tied to)
  runs on AMX-INT8: each block of 32 activations becomes two int8 planes,
  ``x ~ dx * (qx + rx / 256)`` (about 15 bits a block, no coarser than bf16's), and the
  integer products are exact.

Each output of a row is computed from that row and the weights alone, in one fixed order
(blocks in order, float32, one rounding to bf16), so a row's result does not depend on
the other rows of the product nor on the thread count: batch invariance by construction
(``tests/llm/test_amx.py`` checks it). The kernel is C (``_kernels/amx.c``), compiled
with gcc on first use into ``~/.cache/tessera`` (``make`` does it at install) and loaded
with :mod:`ctypes`; it runs its output tiles on ``torch.get_num_threads()`` OpenMP
threads, in the OpenMP runtime PyTorch has loaded.

:func:`available` says whether this machine can use it (Linux on x86-64 with AMX-BF16,
AMX-INT8, AVX-512 BF16 and a C compiler); elsewhere, or with ``TESSERA_AMX=0`` in the
environment, q4_1 runs PyTorch's int4 kernel and the lm_head stays bf16. The two routes
give different bits (other roundings), so each is compared with plain greedy decoding on
its own route.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tessera._validation import bad_value
from tessera.llm._torch import require

if TYPE_CHECKING:
    from torch import Tensor

__all__ = [
    "FLAGS",
    "available",
    "pack",
    "pack_q8_0",
    "unpack_q8_0",
    "precompile",
    "product",
    "unavailable_reason",
]

#: /proc/cpuinfo flags the kernel's instructions need.
FLAGS = (
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512dq",
    "avx512_bf16",
    "f16c",
    "fma",
)
#: The kernel's C files (one library): the products, and the decoding pass built on them.
_SOURCES = tuple(Path(__file__).parent / "_kernels" / name for name in ("amx.c", "llama.c"))
_CFLAGS = (
    "-O3",
    "-fopenmp",
    "-fPIC",
    "-shared",
    "-mavx512f",
    "-mavx512bw",
    "-mavx512vl",
    "-mavx512dq",
    "-mavx512bf16",
    "-mf16c",
    "-mfma",
    "-mamx-tile",
    "-mamx-int8",
    "-mamx-bf16",
    "-ffp-contract=off",  # a * b + c stays two roundings where PyTorch's kernels have two
)
#: Outputs per tile and weights per block: a linear's shape must be whole tiles and blocks.
TILE_OUTPUTS, BLOCK = 16, 32
_NIBBLES = TILE_OUTPUTS * BLOCK // 2
#: Bytes of one packed Q8_0 tile (16 outputs x one block: int8 weights, float16 scales);
#: the kernel tells the two packings apart by their tile size.
Q8_0_TILE = TILE_OUTPUTS * BLOCK + 32
#: Bytes of one packed Q4_1 tile: nibbles, 16 float16 scales, 16 float16 minimums.
Q4_1_TILE = _NIBBLES + 64


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


@contextmanager
def staged(target: Path) -> Iterator[str]:
    """A path beside ``target`` to write; renamed to ``target`` when the block ends
    without error (atomic: readers see the old file or the whole new one), else removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(suffix=target.suffix, dir=target.parent)
    os.close(handle)
    try:
        yield staging
        os.replace(staging, target)
    finally:
        Path(staging).unlink(missing_ok=True)


def _compile(compiler: str, target: Path) -> None:
    """Compile the kernel into ``target`` (:func:`staged`)."""
    with staged(target) as staging:
        subprocess.run(
            [compiler, *_CFLAGS, "-o", staging, *map(str, _SOURCES), "-lm"],
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        )


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/tessera`` (default ``~/.cache/tessera``): compiled kernels, as
    numba and PyTorch keep theirs, apart from the state in ``$TESSERA_HOME``."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root).expanduser() / "tessera"


@cache
def _library() -> tuple[ctypes.CDLL | None, str]:
    """The loaded kernel library, or None and why not (checked once per process)."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        here = f"{platform.system()} on {platform.machine()}"
        return None, f"AMX kernels need Linux on x86-64 (this is {here})"
    missing = [flag for flag in FLAGS if flag not in _cpu_flags()]
    if missing:
        return None, f"the CPU lacks {', '.join(missing)}"
    compiler = shutil.which(os.environ.get("CC", "gcc"))
    if compiler is None:
        return None, "no C compiler (gcc, or $CC) to build the kernel"
    version = subprocess.run(
        [compiler, "--version"], capture_output=True, text=True, check=False
    ).stdout
    key = hashlib.sha256(
        b"".join(source.read_bytes() for source in _SOURCES)
        + version.encode()
        + " ".join(_CFLAGS).encode()
    ).hexdigest()[:16]
    target = cache_dir() / f"amx-{key}.so"
    if not target.exists():
        try:
            _compile(compiler, target)
        except (OSError, subprocess.SubprocessError) as error:
            detail = getattr(error, "stderr", "") or str(error)
            return None, f"the kernel did not compile: {detail.strip()[:500]}"
    require("torch")  # its OpenMP runtime first, so the kernel's threads are the same pool
    library = ctypes.CDLL(str(target))
    if library.tessera_amx_init() != 0:
        return None, "Linux refused the AMX tile state (arch_prctl ARCH_REQ_XCOMP_PERM)"
    function = library.tessera_amx_product
    function.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int64,
        ctypes.c_int64,
        ctypes.c_void_p,
        ctypes.c_int64,
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_int,
    ]
    function.restype = ctypes.c_int
    run = library.tessera_llama_pass
    run.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int64,
        *[ctypes.c_void_p] * 6,
        ctypes.c_int,
        ctypes.c_void_p,
    ]
    run.restype = ctypes.c_int
    return library, ""


@cache
def _torch() -> Any:
    """torch, imported once (``require`` looks it up on every call: products are hot)."""
    return require("torch")


def available() -> bool:
    """Whether q4_1 products run on the AMX kernel here (see the module docstring).

    False with ``TESSERA_AMX=0`` in the environment (read on every call), on machines
    without the instructions or a C compiler; :func:`unavailable_reason` says which.
    """
    if os.environ.get("TESSERA_AMX", "1") == "0":
        return False
    return _library()[0] is not None


def unavailable_reason() -> str:
    """Why :func:`available` is False (empty when it is True)."""
    if os.environ.get("TESSERA_AMX", "1") == "0":
        return "TESSERA_AMX=0 is set"
    return _library()[1]


def precompile() -> None:
    """Build and load the kernel where the machine can run it (``make`` calls this)."""
    _library()


def _check_shape(values: np.ndarray) -> tuple[int, int]:
    outputs, inputs = values.shape
    if outputs % TILE_OUTPUTS or inputs % BLOCK:
        raise bad_value(
            "values",
            f"shape {values.shape}",
            f"the AMX kernel needs outputs in whole tiles of {TILE_OUTPUTS} and inputs in "
            f"whole blocks of {BLOCK}",
            "Use PyTorch's kernels for this linear (TESSERA_AMX=0).",
        )
    return outputs // TILE_OUTPUTS, inputs // BLOCK


def _quads(values: np.ndarray, tiles: int, blocks: int) -> np.ndarray:
    """(tiles, blocks, 8, 64): a tile row is 4 consecutive inputs of each of the 16 outputs
    (the layout of TDPBSSD's second operand)."""
    return (
        values.reshape(tiles, TILE_OUTPUTS, blocks, BLOCK // 4, 4)
        .transpose(0, 2, 3, 1, 4)
        .reshape(tiles, blocks, BLOCK // 4, 4 * TILE_OUTPUTS)
    )


def _per_tile(a: np.ndarray, tiles: int, blocks: int) -> np.ndarray:
    """Per-block float16 numbers (outputs, blocks) as (tiles, blocks, 32) bytes."""
    halves = a.astype(np.float16).reshape(tiles, TILE_OUTPUTS, blocks).transpose(0, 2, 1)
    return np.ascontiguousarray(halves).view(np.uint8)


def pack_q8_0(values: np.ndarray, scales: np.ndarray) -> Tensor:
    """Q8_0 weights (``w = d * q``, ``q`` int8) in the kernel's layout.

    Parameters
    ----------
    values : numpy.ndarray of int8, shape (out_features, in_features)
    scales : numpy.ndarray of float16, shape (out_features, in_features / 32)

    Returns
    -------
    torch.Tensor of uint8, shape (out_features / 16, in_features / 32, 544)
        For every 16 outputs and block of 32 inputs: the weights in the order the
        kernel's tiles read them, then the 16 scales in float16.
    """
    torch = require("torch")
    tiles, blocks = _check_shape(values)
    quads = _quads(values.view(np.uint8), tiles, blocks).reshape(tiles, blocks, -1)
    packed = np.concatenate([quads, _per_tile(scales, tiles, blocks)], axis=-1)
    out: Tensor = torch.from_numpy(np.ascontiguousarray(packed))
    return out


def unpack_q8_0(packed: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The ``values`` and ``scales`` that :func:`pack_q8_0` packed (its inverse)."""
    data = packed.numpy()
    tiles, blocks = data.shape[0], data.shape[1]
    quads = data[:, :, : TILE_OUTPUTS * BLOCK].reshape(tiles, blocks, BLOCK // 4, TILE_OUTPUTS, 4)
    values = quads.transpose(0, 3, 1, 2, 4).reshape(tiles * TILE_OUTPUTS, blocks * BLOCK)
    halves = np.ascontiguousarray(data[:, :, TILE_OUTPUTS * BLOCK :]).view(np.float16)
    scales = halves.transpose(0, 2, 1).reshape(tiles * TILE_OUTPUTS, blocks)
    return values.view(np.int8), scales


def pack(values: np.ndarray, scales: np.ndarray, minimums: np.ndarray) -> Tensor:
    """Q4_1 weights in the kernel's layout.

    Parameters
    ----------
    values : numpy.ndarray of uint8, shape (out_features, in_features)
        ``q`` in 0..15, as :func:`tessera.llm._quant.read_q4_1` returns them.
    scales, minimums : numpy.ndarray of float16, shape (out_features, in_features / 32)

    Returns
    -------
    torch.Tensor of uint8, shape (out_features / 16, in_features / 32, 320)
        For every 16 outputs and block of 32 inputs: the 4-bit weights in the order the
        kernel's bf16 tiles read them (four tile rows a 16-bit word, a nibble each), then
        the 16 scales and the 16 minimums in float16. Packings of linears with the same
        inputs concatenate (``torch.cat``) into the packing of their outputs together.
    """
    torch = require("torch")
    tiles, blocks = _check_shape(values)
    # a bf16 tile row p holds inputs 2p and 2p + 1 of each of the 16 outputs (lane 2f + e)
    rows = (
        values.reshape(tiles, TILE_OUTPUTS, blocks, BLOCK // 2, 2)
        .transpose(0, 2, 3, 1, 4)
        .reshape(tiles, blocks, 4, 4, 2 * TILE_OUTPUTS)
        .astype(np.uint16)
    )
    # four tile rows a 16-bit word: row 4c + j of chunk c in nibble j
    words = rows[:, :, :, 0] | rows[:, :, :, 1] << 4 | rows[:, :, :, 2] << 8
    words |= rows[:, :, :, 3] << 12
    packed = np.concatenate(
        [
            np.ascontiguousarray(words).view(np.uint8).reshape(tiles, blocks, _NIBBLES),
            _per_tile(scales, tiles, blocks),
            _per_tile(minimums, tiles, blocks),
        ],
        axis=-1,
    )
    out: Tensor = torch.from_numpy(np.ascontiguousarray(packed))
    return out


def product(rows: Tensor, packed: Tensor) -> Tensor:
    """``rows @ W.T`` for bf16 ``rows`` (n, in_features) and ``W`` packed by :func:`pack`
    (Q4_1) or :func:`pack_q8_0`.

    Returns (n, out_features) in bfloat16. Call only where :func:`available` is True.
    """
    torch = _torch()
    library = _library()[0]
    assert library is not None, "product() called where available() is False"
    x = rows.contiguous()
    count, inputs = int(x.shape[0]), int(x.shape[1])
    if x.dtype != torch.bfloat16 or inputs != int(packed.shape[1]) * BLOCK:
        raise bad_value(
            "rows",
            f"{x.dtype} of shape {tuple(x.shape)}",
            f"the AMX kernel takes bfloat16 rows of {int(packed.shape[1]) * BLOCK} inputs",
            "Cast the activations to bfloat16 and check the linear's in_features.",
        )
    outputs = int(packed.shape[0]) * TILE_OUTPUTS
    out: Tensor = torch.empty((count, outputs), dtype=torch.bfloat16)
    if count:
        status = library.tessera_amx_product(
            x.data_ptr(),
            count,
            inputs,
            packed.data_ptr(),
            outputs,
            out.data_ptr(),
            torch.get_num_threads(),
            int(packed.shape[2]) == Q8_0_TILE,
        )
        if status:
            raise MemoryError(f"the AMX kernel could not allocate scratch for {count} rows")
    return out


class _Layer(ctypes.Structure):
    """``llama_layer`` of ``_kernels/llama.c``: one layer's norms and packed linears."""

    _fields_ = [  # noqa: RUF012 (ctypes reads the class attribute)
        ("input_norm", ctypes.c_void_p),
        ("qkv", ctypes.c_void_p),
        ("o", ctypes.c_void_p),
        ("post_norm", ctypes.c_void_p),
        ("gate_up", ctypes.c_void_p),
        ("down", ctypes.c_void_p),
    ]


class _Shape(ctypes.Structure):
    """``llama_shape`` of ``_kernels/llama.c``: the model's sizes, norm epsilon, scale."""

    _fields_ = [  # noqa: RUF012
        ("hidden", ctypes.c_int64),
        ("heads", ctypes.c_int64),
        ("kv_heads", ctypes.c_int64),
        ("dim", ctypes.c_int64),
        ("inner", ctypes.c_int64),
        ("layers", ctypes.c_int64),
        ("eps", ctypes.c_float),
        ("scaling", ctypes.c_double),
    ]


class _Segments(ctypes.Structure):
    """``llama_segments`` of ``_kernels/llama.c``: the pass's generations and caches."""

    _fields_ = [  # noqa: RUF012
        ("count", ctypes.c_int64),
        ("caches", ctypes.c_void_p),
        ("capacities", ctypes.c_void_p),
        ("starts", ctypes.c_void_p),
        ("pasts", ctypes.c_void_p),
        ("sources", ctypes.c_void_p),
        ("mask_starts", ctypes.c_void_p),
        ("masks", ctypes.c_void_p),
    ]


@cache
def _vector_exp() -> int | None:
    """The address of the vector ``expf`` PyTorch's CPU kernels call (SLEEF's, exported by
    ``libtorch_cpu``), or None where it is not found."""
    torch = require("torch")
    try:
        library = ctypes.CDLL(str(Path(str(torch.__file__)).parent / "lib" / "libtorch_cpu.so"))
        address: int | None = ctypes.cast(library.Sleef_expf16_u10, ctypes.c_void_p).value
    except (OSError, AttributeError):
        return None
    return address


class LlamaDecoder:
    """A whole decoding pass of a Llama decoder in C (``_kernels/llama.c``).

    Made by :func:`llama_decoder` for a decoder whose linears all run on this module's
    Q4_1 kernel; :meth:`run` is the pass. It runs the lean pass's operations
    (:class:`tessera.llm._step.LeanLlama`) in the same order and dtypes, so its hidden
    states are that pass's bits where PyTorch runs its AVX-512 kernels, and it keeps
    each row independent of the others (batch invariance), without a Python operation
    per layer.
    """

    def __init__(
        self,
        layers: Sequence[tuple[Tensor, ...]],
        final_norm: Tensor,
        shape: _Shape,
        vector_exp: int,
    ) -> None:
        self._tensors = [tensor for layer in layers for tensor in layer] + [final_norm]
        self._layers = (_Layer * len(layers))(
            *(_Layer(*(tensor.data_ptr() for tensor in layer)) for layer in layers)
        )
        self._final_norm = final_norm.data_ptr()
        self._shape = shape
        self._exp = vector_exp

    def run(
        self,
        x: Tensor,
        cos: Tensor,
        sin: Tensor,
        caches: list[Tensor],
        starts: np.ndarray,
        pasts: np.ndarray,
        sources: np.ndarray,
        masks: np.ndarray,
        mask_starts: np.ndarray,
    ) -> Tensor:
        """The pass: ``x`` (n, hidden) bf16 embeddings become the hidden states after the
        final norm (in place, returned).

        ``cos`` and ``sin`` are (n, head_dim) bf16; ``caches`` each generation's buffer
        (layers, 2, kv_heads, capacity, head_dim) bf16, and the other arguments those of
        :func:`tessera.llm._attention.append_attend`.
        """
        torch = _torch()
        library = _library()[0]
        assert library is not None, "run() called where available() is False"
        count = len(caches)
        pointers = (ctypes.c_void_p * count)(*(cache.data_ptr() for cache in caches))
        capacities = np.array([int(cache.shape[3]) for cache in caches], dtype=np.int64)
        starts, pasts, sources, mask_starts = (
            np.ascontiguousarray(a, dtype=np.int64) for a in (starts, pasts, sources, mask_starts)
        )
        masks = np.ascontiguousarray(masks, dtype=np.float64)
        segments = _Segments(
            count,
            ctypes.addressof(pointers),
            capacities.ctypes.data,
            starts.ctypes.data,
            pasts.ctypes.data,
            sources.ctypes.data,
            mask_starts.ctypes.data,
            masks.ctypes.data,
        )
        status = library.tessera_llama_pass(
            x.data_ptr(),
            int(x.shape[0]),
            ctypes.addressof(self._shape),
            ctypes.addressof(self._layers),
            self._final_norm,
            cos.data_ptr(),
            sin.data_ptr(),
            ctypes.addressof(segments),
            torch.get_num_threads(),
            self._exp,
        )
        if status:
            raise MemoryError(f"the decoding pass could not allocate scratch for {x.shape[0]} rows")
        return x


def llama_decoder(
    layers: Sequence[tuple[Tensor, ...]],
    final_norm: Tensor,
    *,
    heads: int,
    kv_heads: int,
    head_dim: int,
    eps: float,
    scaling: float,
) -> LlamaDecoder | None:
    """The C pass over a Llama decoder's tensors, or None where it cannot run here.

    Parameters
    ----------
    layers : list of tuples of torch.Tensor
        Per layer: the input RMSNorm weight (bf16), the packed (:func:`pack`) q, k and v
        linears as one, the o linear, the post-attention RMSNorm weight, gate and up as
        one, down.
    final_norm : torch.Tensor
        The final RMSNorm weight (bf16).
    heads, kv_heads, head_dim : int
    eps : float
        The RMSNorm epsilon.
    scaling : float
        The attention scale.
    """
    torch = _torch()
    if not available() or not layers:
        return None
    vector_exp = _vector_exp()
    if vector_exp is None:
        return None
    hidden = int(final_norm.shape[0])
    inner = int(layers[0][4].shape[0]) * TILE_OUTPUTS // 2
    norms = [layer[i] for layer in layers for i in (0, 3)] + [final_norm]
    if any(
        n.dtype != torch.bfloat16 or not n.is_contiguous() or n.shape != (hidden,) for n in norms
    ):
        return None
    if head_dim > 256 or head_dim % 16 or inner % 16 or heads % kv_heads:
        return None
    shape = _Shape(hidden, heads, kv_heads, head_dim, inner, len(layers), eps, scaling)
    return LlamaDecoder(layers, final_norm, shape, vector_exp)
