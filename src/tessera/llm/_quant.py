"""Weight-only int4 linears read straight from a GGUF file's Q4_1 blocks.

The default model ships as a Q4_1 GGUF file: every linear of its decoder is stored as
blocks of 32 weights ``w = d * q + m`` (``q`` in 0..15, ``d`` and ``m`` in float16), and
:func:`tessera.llm.load_model` de-quantises them into bfloat16. That bf16 copy is 4x the
bytes of the file's blocks, and a decoding step of a 135M model on a CPU is bound by
streaming those bytes from memory. :func:`use_gguf_int4` keeps the blocks instead: the
4-bit values go into PyTorch's CPU int4 layout
(``torch._convert_weight_to_int4pack_for_cpu``) and each product runs in
``torch.ops.aten._weight_int4pack_mm_for_cpu``, which de-quantises a block as
``(q - 8) * scale + zero`` in float32 and multiplies in float32. So ``scale = d`` and
``zero = m + 8 d``; the kernel takes them in bfloat16 (the activations' dtype), which
rounds ``d`` and ``m + 8 d`` to 8 significant bits (the file's float16 keeps 11): the
weights are the file's to within 1/256 of a block's scale, against a quantisation step of
one scale. The ``q4_1`` rows of the quality table in ``benchmarks/RESULTS.md`` measure
what that costs.

The kernel computes every row of a batch on its own (same blocks, same order), so a
token's result does not depend on the other rows of the pass: batch invariance needs no
padding to :data:`~tessera.llm._invariant.MIN_ROWS` here (``tests/llm/test_quant.py``
checks it row by row). The lm_head (tied to the token embedding, a Q8_0 tensor in the
file) stays in bfloat16.

On CPUs with AMX the same blocks run on :mod:`tessera.llm._amx` instead (its cost stays
nearly flat from 1 to 16 rows, where PyTorch's grows with every row), and so does the
lm_head, on the file's Q8_0 blocks; :func:`Int4Linear` and :func:`use_gguf_int4` choose.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tessera._validation import bad_value
from tessera.llm import _amx
from tessera.llm._torch import require

if TYPE_CHECKING:
    from torch import Tensor, nn

__all__ = [
    "FUSED_GATE_UP",
    "FUSED_QKV",
    "GROUP_SIZE",
    "WEIGHT_FORMATS",
    "Int4Linear",
    "check_weights",
    "read_q4_1",
    "use_gguf_int4",
]

#: Weights a model can decode with: ``"bf16"`` (the GGUF de-quantised into bfloat16) or
#: ``"q4_1"`` (the GGUF's own 4-bit blocks, :func:`use_gguf_int4`).
WEIGHT_FORMATS = ("bf16", "q4_1")
#: Weights per Q4_1 block (one scale and one minimum each).
GROUP_SIZE = 32
_BLOCK_BYTES = 4 + GROUP_SIZE // 2  # float16 d, float16 m, 16 bytes of nibbles

# transformers' Llama module names and the GGUF tensors they are read from
_GGUF_NAMES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def check_weights(weights: str) -> str:
    """``weights`` if it names a format of :data:`WEIGHT_FORMATS`, else an error saying so."""
    if weights not in WEIGHT_FORMATS:
        raise bad_value(
            "weights",
            weights,
            f"it must be one of {', '.join(map(repr, WEIGHT_FORMATS))}",
            "Pass weights='q4_1' for the GGUF's own 4-bit blocks or 'bf16' for de-quantised "
            "bfloat16 weights.",
        )
    return weights


def read_q4_1(
    raw: np.ndarray, rows: int, columns: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split a Q4_1 tensor's bytes into its 4-bit values, scales and minimums.

    Parameters
    ----------
    raw : numpy.ndarray of uint8
        The tensor's bytes (``rows * columns / 32`` blocks of 20 bytes, row by row).
    rows, columns : int
        The matrix shape (``columns`` a multiple of :data:`GROUP_SIZE`).

    Returns
    -------
    values : numpy.ndarray of uint8, shape (rows, columns)
        ``q`` in 0..15.
    scales, minimums : numpy.ndarray of float16, shape (rows, columns / 32)
        ``d`` and ``m`` of each block: the weight is ``d * q + m``.
    """
    if columns % GROUP_SIZE:
        raise bad_value(
            "columns", columns, f"a Q4_1 row holds whole blocks of {GROUP_SIZE}", "Check the shape."
        )
    blocks = np.ascontiguousarray(raw).reshape(rows, columns // GROUP_SIZE, _BLOCK_BYTES)
    scales = blocks[..., 0:2].copy().view(np.float16)[..., 0]
    minimums = blocks[..., 2:4].copy().view(np.float16)[..., 0]
    nibbles = blocks[..., 4:]
    # a block's first 16 weights are the low nibbles, the next 16 the high ones
    values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=-1)
    return values.reshape(rows, columns), scales, minimums


_Q8_0_BLOCK_BYTES = 2 + GROUP_SIZE  # float16 d, 32 int8


def read_q8_0(raw: np.ndarray, rows: int, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Split a Q8_0 tensor's bytes (blocks of 32 ``w = d * q``) into ``q`` and ``d``.

    Returns ``values`` (int8, ``(rows, columns)``) and ``scales`` (float16,
    ``(rows, columns / 32)``).
    """
    if columns % GROUP_SIZE:
        raise bad_value(
            "columns", columns, f"a Q8_0 row holds whole blocks of {GROUP_SIZE}", "Check the shape."
        )
    blocks = np.ascontiguousarray(raw).reshape(rows, columns // GROUP_SIZE, _Q8_0_BLOCK_BYTES)
    scales = blocks[..., 0:2].copy().view(np.float16)[..., 0]
    values = blocks[..., 2:].copy().view(np.int8).reshape(rows, columns)
    return values, scales


_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY, _UINT32 = 8, 9, 4
_Q4_1, _Q8_0 = 3, 8  # ggml_type of Q4_1 and Q8_0


def _gguf_tensors(path: Path) -> dict[str, tuple[int, tuple[int, ...], int]]:
    """``{name: (ggml type, dims, absolute byte offset)}`` of a GGUF file's tensors.

    Reads the header only, skipping the metadata values (``gguf.GGUFReader`` decodes all of
    them, the tokenizer's 49,152 strings included, which takes seconds).
    """
    import struct

    with path.open("rb") as handle:
        data = handle.read(1 << 20)
        pos = 0

        def take(size: int) -> bytes:
            nonlocal data, pos
            while pos + size > len(data):
                more = handle.read(1 << 20)
                if not more:
                    raise bad_value(
                        "gguf",
                        str(path),
                        "the file ends inside its header",
                        "Pass a complete GGUF file.",
                    )
                data += more
            chunk = data[pos : pos + size]
            pos += size
            return chunk

        def number(fmt: str) -> int:
            return int(struct.unpack("<" + fmt, take(struct.calcsize(fmt)))[0])

        def skip(kind: int) -> Any:
            if kind == _STRING:
                return take(number("Q"))
            if kind == _ARRAY:
                item, count = number("I"), number("Q")
                if item in _SCALAR_SIZES:
                    take(_SCALAR_SIZES[item] * count)
                else:
                    for _ in range(count):
                        skip(item)
                return None
            raw = take(_SCALAR_SIZES[kind])
            return int.from_bytes(raw, "little") if kind == _UINT32 else None

        if take(4) != b"GGUF":
            raise bad_value(
                "gguf",
                str(path),
                "it must start with the GGUF magic bytes",
                "Pass a .gguf model file.",
            )
        version = number("I")
        if version < 2:
            raise bad_value(
                "gguf",
                str(path),
                f"GGUF version {version} is not supported (2 or 3)",
                "Convert the model with a current llama.cpp.",
            )
        tensor_count, field_count = number("Q"), number("Q")
        alignment = 32
        for _ in range(field_count):
            key = take(number("Q")).decode()
            value = skip(number("I"))
            if key == "general.alignment" and isinstance(value, int):
                alignment = value
        infos = []
        for _ in range(tensor_count):
            name = take(number("Q")).decode()
            dims = tuple(number("Q") for _ in range(number("I")))
            infos.append((name, number("I"), dims, number("Q")))
        start = (pos + alignment - 1) // alignment * alignment
    return {name: (kind, dims, start + offset) for name, kind, dims, offset in infos}


def _unpermute_rows(values: np.ndarray, heads: int) -> np.ndarray:
    """Undo llama.cpp's interleaving of the rotary halves in q/k rows (as transformers does)."""
    dim = values.shape[0] // heads // 2
    shaped = values.reshape(heads, dim, 2, *values.shape[1:])
    return np.ascontiguousarray(shaped.swapaxes(2, 1).reshape(values.shape))


def _int4_linear_class() -> type:
    torch = require("torch")

    class _Int4Linear(torch.nn.Module):  # type: ignore[misc, name-defined]
        """A bias-free linear on int4 weights (Q4_1 blocks); see :class:`Int4Linear`."""

        def __init__(
            self, packed: Tensor, scales_and_zeros: Tensor | None, in_features: int
        ) -> None:
            super().__init__()
            self.in_features = in_features
            #: True: the AMX kernel's packing (scales inside); False: PyTorch's int4 layout
            self.amx = scales_and_zeros is None
            self.out_features = int(packed.shape[0]) * (_amx.TILE_OUTPUTS if self.amx else 1)
            self.register_buffer("packed", packed)
            self.register_buffer("scales_and_zeros", scales_and_zeros)

        def product(self, rows: Tensor) -> Tensor:
            """``rows @ W.T`` for contiguous bf16 ``rows`` of shape (n, in_features)."""
            if self.amx:
                return _amx.product(rows, self.packed)
            out: Tensor = torch.ops.aten._weight_int4pack_mm_for_cpu(
                rows, self.packed, GROUP_SIZE, self.scales_and_zeros
            )
            return out

        def forward(self, x: Tensor) -> Tensor:
            rows = x.reshape(-1, self.in_features)
            return self.product(rows.contiguous()).view(*x.shape[:-1], self.out_features)

        def extra_repr(self) -> str:
            kernel = "amx" if self.amx else "int4pack"
            return (
                f"in_features={self.in_features}, out_features={self.out_features}, "
                f"q4_1, kernel={kernel}"
            )

    _Int4Linear.__qualname__ = _Int4Linear.__name__ = "Int4Linear"
    _Int4Linear.__module__ = __name__
    return _Int4Linear


_CLASS: type | None = None


@cache
def _q8_0_linear_class() -> type:
    torch = require("torch")

    class _Q8Linear(torch.nn.Module):  # type: ignore[misc, name-defined]
        """The lm_head on the GGUF's Q8_0 blocks, multiplied on the AMX kernel.

        ``weight`` stays the model's bf16 tensor (tied to the token embedding: no copy),
        for code that reads the lm_head's weights (training, shapes); ``forward`` computes
        with the file's int8 blocks (:mod:`tessera.llm._amx`).
        """

        def __init__(self, packed: Tensor, weight: Tensor | None) -> None:
            super().__init__()
            self.out_features = int(packed.shape[0]) * _amx.TILE_OUTPUTS
            self.in_features = int(packed.shape[1]) * GROUP_SIZE
            self.weight = weight
            self.register_buffer("packed", packed)

        def forward(self, x: Tensor) -> Tensor:
            rows = x.reshape(-1, self.in_features).contiguous()
            out = _amx.product(rows, self.packed)
            return out.view(*x.shape[:-1], self.out_features)

        def rows(self, token_ids: Tensor) -> nn.Module:
            """A linear of only these outputs (vocabulary rows), in their order, padded
            with copies of the last to whole tiles (its outputs past ``len(token_ids)``
            repeat the last): a Medusa head's restricted vocabulary
            (:meth:`tessera.llm.medusa.MedusaHeads.candidates`) on the same blocks, each
            output the same bits as in the whole product. It keeps no bf16 ``weight``."""
            ids = token_ids.numpy()
            padded = np.concatenate([ids, np.full(-len(ids) % _amx.TILE_OUTPUTS, ids[-1])])
            values, scales = _amx.unpack_q8_0(self.packed)
            sub: nn.Module = type(self)(_amx.pack_q8_0(values[padded], scales[padded]), None)
            return sub

        def extra_repr(self) -> str:
            shape = f"in_features={self.in_features}, out_features={self.out_features}"
            return f"{shape}, q8_0, kernel=amx"

    _Q8Linear.__qualname__ = _Q8Linear.__name__ = "Q8Linear"
    _Q8Linear.__module__ = __name__
    return _Q8Linear


def _q8_0_lm_head(model: Any, tensors: dict[str, Any], file: np.ndarray, gguf: str) -> bool:
    """Put ``model``'s lm_head on the file's Q8_0 blocks where the AMX kernel runs.

    The file's ``output.weight``, or the token embedding it is tied to. Only a Q8_0
    tensor (the default model's) is used; otherwise the bf16 lm_head stays.
    """
    if not _amx.available():
        return False
    head = model.get_output_embeddings()
    name = "output.weight" if "output.weight" in tensors else "token_embd.weight"
    if name not in tensors or tensors[name][0] != _Q8_0 or getattr(head, "bias", None) is not None:
        return False
    _, dims, offset = tensors[name]
    rows, columns = (int(n) for n in head.weight.shape)
    if dims != (columns, rows):
        raise bad_value(
            "gguf",
            gguf,
            f"its tensor {name} must match the model's lm_head ({rows} x {columns})",
            "Pass the GGUF file the model was converted from.",
        )
    if rows % _amx.TILE_OUTPUTS:
        return False
    size = rows * columns // GROUP_SIZE * _Q8_0_BLOCK_BYTES
    values, scales = read_q8_0(file[offset : offset + size], rows, columns)
    model.set_output_embeddings(_q8_0_linear_class()(_amx.pack_q8_0(values, scales), head.weight))
    return True


def Int4Linear(
    values: np.ndarray, scales: np.ndarray, minimums: np.ndarray, dtype: Any
) -> nn.Module:  # noqa: N802
    """A ``torch.nn.Module`` computing ``x @ W.T`` with ``W = d * q + m`` in Q4_1 blocks.

    Parameters
    ----------
    values : numpy.ndarray of uint8, shape (out_features, in_features)
    scales, minimums : numpy.ndarray of float16, shape (out_features, in_features / 32)
        As :func:`read_q4_1` returns them.
    dtype : torch.dtype
        The activations' dtype (``torch.bfloat16``); scales and zeros are stored in it.

    Returns
    -------
    torch.nn.Module
        Its ``forward`` takes ``(..., in_features)`` and returns ``(..., out_features)``.
        It runs on the AMX kernel (:mod:`tessera.llm._amx`) where
        :func:`tessera.llm._amx.available` and ``out_features`` is whole tiles of 16,
        else on PyTorch's int4 kernel.
    """
    global _CLASS
    torch = require("torch")
    if _CLASS is None:
        _CLASS = _int4_linear_class()
    if _amx.available() and not (values.shape[0] % _amx.TILE_OUTPUTS):
        amx: nn.Module = _CLASS(_amx.pack(values, scales, minimums), None, int(values.shape[1]))
        return amx
    q = torch.from_numpy(values.astype(np.int32))
    packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q, 1)
    d = torch.from_numpy(scales.astype(np.float32))
    zero = torch.from_numpy(minimums.astype(np.float32)) + 8 * d
    # (in_features / 32, out_features, 2): the layout the CPU kernel reads
    scales_and_zeros = torch.stack([d.t(), zero.t()], dim=-1).to(dtype).contiguous()
    layer: nn.Module = _CLASS(packed, scales_and_zeros, int(values.shape[1]))
    return layer


#: Attribute of an attention module holding its q, k and v int4 linears as one
#: (:func:`use_gguf_int4`), and of an MLP holding its gate and up linears as one.
FUSED_QKV, FUSED_GATE_UP = "_tessera_fused_qkv", "_tessera_fused_gate_up"
# _convert_weight_to_int4pack_for_cpu interleaves output rows in blocks of 64: packed
# linears whose rows are whole blocks concatenate into the packing of their rows together
# (the AMX packing is in tiles of 16 rows, its scales inside)
_PACK_ROWS = 64


def _fuse(owner: Any, names: tuple[str, ...], attribute: str) -> None:
    """One int4 linear for ``owner``'s linears ``names`` (same input), kept on ``owner``.

    The kernel computes every output column from its own blocks, so the fused product's
    columns equal each linear's bit for bit (``tests/llm/test_quant.py``); it saves the
    lean decoding pass (:mod:`tessera.llm._step`) kernel calls. The linears' 4-bit weights
    become views of the fused ones (no second copy); their scales stay their own. Only
    linears of whole 64-row blocks (PyTorch's layout) are fused, or linears all on the
    AMX kernel (others are left as they are).
    """
    torch = require("torch")
    linears = [getattr(owner, name) for name in names]
    if _CLASS is None or not all(isinstance(linear, _CLASS) for linear in linears):
        return
    if len({linear.in_features for linear in linears}) != 1:
        return
    if len({linear.amx for linear in linears}) != 1:
        return
    amx = linears[0].amx
    if not amx and any(linear.out_features % _PACK_ROWS for linear in linears):
        return  # the packed rows of such a linear are not a slice of the fused ones
    packed = torch.cat([linear.packed for linear in linears])
    scales = (
        None
        if amx
        else torch.cat([linear.scales_and_zeros for linear in linears], dim=1).contiguous()
    )
    start = 0
    for linear in linears:
        size = int(linear.packed.shape[0])
        linear.packed = packed[start : start + size]
        start += size
    owner.__dict__[attribute] = _CLASS(packed, scales, linears[0].in_features)


def use_gguf_int4(model: Any, gguf: str | Path) -> int:
    """Replace the decoder's linears of ``model`` by int4 linears on ``gguf``'s Q4_1 blocks.

    ``model`` must be the transformers Llama model read from ``gguf`` (as
    :func:`tessera.llm.load_model` reads it); its bf16 weights of those linears are freed.
    Linears stored in another format in the file stay as they are.

    Parameters
    ----------
    model : transformers.PreTrainedModel
    gguf : str or pathlib.Path
        The GGUF file the model was converted from.

    Returns
    -------
    int
        How many linears now run on int4 weights.
    """
    path = Path(gguf)
    replaced = _load_packed(model, path)
    if replaced is not None:
        return replaced
    tensors = _gguf_tensors(path)
    file = np.memmap(path, dtype=np.uint8, mode="r")
    config = model.config
    heads = int(config.num_attention_heads)
    kv_heads = int(getattr(config, "num_key_value_heads", heads) or heads)
    dtype = next(model.parameters()).dtype
    replaced = 0
    for index, layer in enumerate(model.model.layers):
        for module_path, short in _GGUF_NAMES.items():
            name = f"blk.{index}.{short}.weight"
            if name not in tensors or tensors[name][0] != _Q4_1:
                continue
            _, dims, offset = tensors[name]
            owner_path, _, attribute = module_path.rpartition(".")
            owner = layer.get_submodule(owner_path)
            linear = getattr(owner, attribute)
            rows, columns = linear.out_features, linear.in_features
            if linear.bias is not None or dims != (columns, rows):
                raise bad_value(
                    "gguf",
                    str(gguf),
                    f"its tensor {name} must match the model's {module_path} of layer {index} "
                    f"({rows} x {columns}, no bias)",
                    "Pass the GGUF file the model was converted from.",
                )
            values, scales, minimums = read_q4_1(
                file[offset : offset + rows * columns // GROUP_SIZE * _BLOCK_BYTES], rows, columns
            )
            if short in ("attn_q", "attn_k"):
                count = heads if short == "attn_q" else kv_heads
                values, scales, minimums = (
                    _unpermute_rows(a, count) for a in (values, scales, minimums)
                )
            setattr(owner, attribute, Int4Linear(values, scales, minimums, dtype))
            replaced += 1
    for layer in model.model.layers:
        _fuse(layer.self_attn, ("q_proj", "k_proj", "v_proj"), FUSED_QKV)
        _fuse(layer.mlp, ("gate_proj", "up_proj"), FUSED_GATE_UP)
    _q8_0_lm_head(model, tensors, file, str(gguf))
    _installed(model)
    _save_packed(model, path)
    return replaced


def _installed(model: Any) -> None:
    model._tessera_weights = "q4_1"
    model.__dict__.pop("_tessera_lean", None)  # tessera.llm._step.forget_lean


#: Bumped whenever the AMX packing (:func:`tessera.llm._amx.pack`) changes, so that packings
#: cached by an older version are not read.
_PACKING_VERSION = 1
#: The linears of a layer as the AMX cache keeps them: (owner, attribute or fused name).
_PACKED_PARTS = (
    ("self_attn", FUSED_QKV),
    ("self_attn", "o_proj"),
    ("mlp", FUSED_GATE_UP),
    ("mlp", "down_proj"),
)
#: The linears each of those holds, in the fused packing's order.
_PART_LINEARS = (
    ("q_proj", "k_proj", "v_proj"),
    ("o_proj",),
    ("gate_proj", "up_proj"),
    ("down_proj",),
)


def packed_cache_path(gguf: Path) -> Path:
    """Where the AMX packing of ``gguf``'s blocks is cached (``~/.cache/tessera``), keyed by
    the file's path, size and modification time and the packing's version."""
    stat = gguf.stat()
    identity = f"{gguf.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{_PACKING_VERSION}"
    key = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return _amx.cache_dir() / f"q4_1-{key}.safetensors"


def _save_packed(model: Any, gguf: Path) -> None:
    """Cache the AMX packings :func:`use_gguf_int4` made (every layer's linears on the AMX
    kernel, fused) so that the next load reads them instead of the GGUF's blocks; nothing
    where they are not all such (or the cache folder cannot be written)."""
    safetensors_torch = require("safetensors.torch")
    tensors = {}
    for index, layer in enumerate(model.model.layers):
        for owner_name, name in _PACKED_PARTS:
            owner = getattr(layer, owner_name)
            linear = owner.__dict__.get(name) or getattr(owner, name, None)
            if _CLASS is None or not isinstance(linear, _CLASS):
                return
            int4: Any = linear
            if not int4.amx:
                return
            tensors[f"{index}.{name}"] = int4.packed
    head = model.get_output_embeddings()
    if type(head).__name__ == "Q8Linear":
        tensors["lm_head"] = head.packed
    try:
        with _amx.staged(packed_cache_path(gguf)) as staging:
            safetensors_torch.save_file(tensors, staging)
    except OSError:
        return  # a read-only cache folder: the next load packs again


def _load_packed(model: Any, gguf: Path) -> int | None:
    """Install the cached AMX packings of ``gguf`` (:func:`_save_packed`) in ``model``:
    how many linears now run on them, or None where there is no usable cache (no AMX
    kernel here, none written, or one that does not fit the model)."""
    global _CLASS
    if not _amx.available():
        return None
    target = packed_cache_path(gguf)
    if not target.is_file():
        return None
    safetensors_torch = require("safetensors.torch")
    try:
        tensors = safetensors_torch.load_file(str(target))
    except Exception:  # a partial or damaged file: pack again (and rewrite it)
        return None
    layers = model.model.layers
    found = []
    for index, layer in enumerate(layers):
        for (owner_name, name), attributes in zip(_PACKED_PARTS, _PART_LINEARS, strict=True):
            owner = getattr(layer, owner_name)
            linears = [getattr(owner, attribute) for attribute in attributes]
            packed = tensors.get(f"{index}.{name}")
            outputs = sum(int(linear.out_features) for linear in linears)
            expected = (
                outputs // _amx.TILE_OUTPUTS,
                int(linears[0].in_features) // GROUP_SIZE,
                _amx.Q4_1_TILE,
            )
            if packed is None or tuple(packed.shape) != expected:
                return None
            if any(getattr(linear, "bias", None) is not None for linear in linears):
                return None  # not the model this GGUF converts to: its own load refuses it
            found.append((owner, name, attributes, linears, packed))
    if _CLASS is None:
        _CLASS = _int4_linear_class()
    for owner, name, attributes, linears, packed in found:
        start, inputs = 0, int(linears[0].in_features)
        for attribute, linear in zip(attributes, linears, strict=True):
            size = int(linear.out_features) // _amx.TILE_OUTPUTS
            setattr(owner, attribute, _CLASS(packed[start : start + size], None, inputs))
            start += size
        if len(linears) > 1:
            owner.__dict__[name] = _CLASS(packed, None, inputs)
    head = model.get_output_embeddings()
    if "lm_head" in tensors and getattr(head, "bias", None) is None:
        packed = tensors["lm_head"]
        rows, columns = (int(n) for n in head.weight.shape)
        shape = (rows // _amx.TILE_OUTPUTS, columns // GROUP_SIZE, _amx.Q8_0_TILE)
        if tuple(packed.shape) == shape:
            model.set_output_embeddings(_q8_0_linear_class()(packed, head.weight))
    _installed(model)
    return 7 * len(layers)
