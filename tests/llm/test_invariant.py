"""Batch-invariant kernels: a token's logits are the same bits alone or inside a tree."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tessera.errors import InvalidInputError  # noqa: E402
from tessera.llm import is_batch_invariant, make_batch_invariant  # noqa: E402
from tessera.llm._invariant import (  # noqa: E402
    INVARIANT_MAX_QUERIES,
    MIN_ROWS,
    invariant_product,
    invariant_rows,
    several_generations,
    use_invariant_linears,
)
from tessera.llm.medusa import MedusaConfig, MedusaHeads  # noqa: E402
from tessera.llm.medusa._decode import (  # noqa: E402
    _forward,
    _new_cache,
    medusa_generate,
    plain_generate,
)
from tessera.llm.medusa._tree import MedusaTree, build_tree  # noqa: E402
from tessera.llm.medusa._verify import StepTree  # noqa: E402

VOCAB = 97
TREE = MedusaTree.from_paths([(0,), (1,), (2,), (0, 0), (0, 1), (1, 0), (0, 0, 0), (0, 1, 0)])


def small_llama(seed: int = 0, intermediate_size: int = 1536, dtype: Any = None) -> Any:
    """A small random Llama (bf16 by default) whose MLP is 1536 wide, as SmolLM2's is.

    That width is where oneDNN's one-row bf16 product rounds differently from the same row
    inside a batch on AVX512-BF16 CPUs.
    """
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=intermediate_size,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
    )
    model = transformers.LlamaForCausalLM(config).eval().to(dtype or torch.bfloat16)
    model.requires_grad_(False)
    return model


def bf16_llama(seed: int = 0) -> Any:
    return small_llama(seed)


@pytest.fixture(scope="module")
def model() -> Any:
    return make_batch_invariant(bf16_llama())


def random_heads(seed: int = 1) -> MedusaHeads:
    torch.manual_seed(seed)
    heads = MedusaHeads(MedusaConfig(hidden_size=64, vocab_size=VOCAB, num_heads=3))
    for block in heads.blocks:
        torch.nn.init.normal_(block[0].linear.weight, std=0.3)
    return heads.eval().to(torch.bfloat16)


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(2, 40), seed=st.integers(0, 10_000))
def test_one_row_product_equals_that_row_inside_any_batch(rows: int, seed: int) -> None:
    layer = torch.nn.Linear(1536, 576, bias=False).to(torch.bfloat16)
    make_batch_invariant_layer = copy.deepcopy(layer)
    wrapper = torch.nn.Sequential(make_batch_invariant_layer)
    wrapper.config = transformers.PretrainedConfig()
    make_batch_invariant(wrapper)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, 1536, generator=generator).to(torch.bfloat16)
    with torch.inference_mode():
        batch = make_batch_invariant_layer(x)
        for i in range(rows):
            assert torch.equal(make_batch_invariant_layer(x[i]), batch[i])
            assert torch.equal(make_batch_invariant_layer(x[i : i + 1])[0], batch[i])
        reference = x.double() @ layer.weight.double().T
    torch.testing.assert_close(batch.double(), reference, atol=0.05, rtol=1e-2)


def _alone(layer: Any, x: Any) -> Any:
    return torch.cat([layer(x[i : i + 1]) for i in range(x.shape[0])])


def test_invariant_rows_is_a_row_count_up_to_which_every_row_gets_its_bits_alone() -> None:
    limit = invariant_rows()
    assert limit in (4, 8, 16, 32, 64) and invariant_rows() == limit  # checked once
    layer = torch.nn.Linear(1536, 576, bias=False).to(torch.bfloat16)
    use_invariant_linears(layer)
    x = torch.randn(limit, 1536, generator=torch.Generator().manual_seed(3)).bfloat16()
    with torch.inference_mode():
        alone = _alone(layer, x)
        packed = layer.__dict__["_tessera_packed"][3]
        for rows in (MIN_ROWS, limit // 2 + 1, limit):  # one oneDNN call each
            out = torch.ops.mkldnn._linear_pointwise(x[:rows], packed, None, "none", [], "")
            assert torch.equal(out, alone[:rows])


@settings(max_examples=20, deadline=None)
@given(rows=st.integers(1, 200), seed=st.integers(0, 10_000), several=st.booleans())
def test_long_decoding_and_packed_passes_give_every_row_its_bits_alone(
    rows: int, seed: int, several: bool
) -> None:
    """Products past invariant_rows() rows (AMX CPUs change path at 33) are cut into parts:
    a decoding pass of up to 64 rows, and a pass of several generations of any length."""
    layer = torch.nn.Linear(576, 1536, bias=True).to(torch.bfloat16)
    use_invariant_linears(layer)
    x = torch.randn(rows, 576, generator=torch.Generator().manual_seed(seed)).bfloat16()
    with torch.inference_mode():
        alone = _alone(layer, x)
        if several:
            with several_generations():
                assert torch.equal(layer(x), alone)
        elif rows <= INVARIANT_MAX_QUERIES:
            assert torch.equal(layer(x), alone)
        packed = layer.__dict__["_tessera_packed"][3]
        padded = x if rows >= MIN_ROWS else torch.cat([x, x[:1].expand(MIN_ROWS - rows, -1)])
        assert torch.equal(invariant_product(padded, packed, layer.bias)[:rows], alone)


@pytest.mark.parametrize("rows", [1, 2, 3, 4, 7, 13])
def test_packed_product_equals_the_stock_product_of_a_padded_batch(rows: int) -> None:
    """The reordered-weight path gives F.linear's bits (rows >= 2), and follows weight changes."""
    torch.manual_seed(rows)
    layer = torch.nn.Linear(576, 192, bias=True).to(torch.bfloat16)
    fast = copy.deepcopy(layer)
    use_invariant_linears(fast)
    x = torch.randn(rows, 576).to(torch.bfloat16)
    padded = torch.cat([x, x[:1].expand(max(0, MIN_ROWS - rows), -1)])
    with torch.inference_mode():
        assert torch.equal(fast(x), layer(padded)[:rows])
        assert torch.equal(fast(x[0]), layer(padded)[0])
    with torch.no_grad():  # an in-place update (as merging an adapter does) is seen
        fast.weight.mul_(2)
        layer.weight.mul_(2)
    with torch.inference_mode():
        assert torch.equal(fast(x), layer(padded)[:rows])
    # with gradients it is the stock product, and gradients flow
    x.requires_grad_(True)
    fast(x).float().sum().backward()
    assert x.grad is not None and fast.weight.grad is not None


@pytest.mark.parametrize("rows", [1, 3, 4, 9, 64])
def test_stacked_weights_give_the_separate_products_bits_and_follow_changes(rows: int) -> None:
    """One product over q, k and v (or gate and up) stacked: each column's bits are those of
    its own linear's product, and an in-place update of one weight is seen."""
    from tessera.llm import _invariant

    if not _invariant._mkldnn_bf16():
        pytest.skip("no oneDNN bf16 products on this CPU: nothing is stacked")
    torch.manual_seed(rows)
    linears = [torch.nn.Linear(96, width, bias=False).to(torch.bfloat16) for width in (96, 32, 32)]
    holder = torch.nn.Module()
    x = torch.randn(rows, 96).to(torch.bfloat16)
    padded = torch.cat([x, x[:1].expand(max(0, MIN_ROWS - rows), -1)])

    def stacked() -> Any:
        packed = _invariant.fused_packed_weight(holder, "stacked", tuple(linears))
        assert packed is not None
        return torch.ops.mkldnn._linear_pointwise(padded, packed, None, "none", [], "")[:rows]

    with torch.inference_mode():
        assert torch.equal(stacked(), torch.cat([lin(padded)[:rows] for lin in linears], dim=1))
    with torch.no_grad():
        linears[1].weight.mul_(2)
    with torch.inference_mode():
        assert torch.equal(stacked(), torch.cat([lin(padded)[:rows] for lin in linears], dim=1))


def test_stacking_is_refused_with_a_bias_or_where_it_would_change_bits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tessera.llm import _invariant

    holder = torch.nn.Module()
    biased = [torch.nn.Linear(64, 64, bias=True).to(torch.bfloat16) for _ in range(2)]
    assert _invariant.fused_packed_weight(holder, "x", tuple(biased)) is None
    plain = tuple(torch.nn.Linear(64, 64, bias=False).to(torch.bfloat16) for _ in range(2))
    # the once-per-shape check found the stacked product rounding otherwise: not used
    monkeypatch.setitem(_invariant._FUSION_EXACT, ((64, 64), 64), False)
    assert _invariant.fused_packed_weight(holder, "x", plain) is None


def sequential_logits(model: Any, prefix: list[int], chain: list[int]) -> Any:
    """Plain decoding: prefill ``prefix``, then feed ``chain`` one token per pass."""
    lm_head = model.get_output_embeddings()
    cache = _new_cache(model)
    hidden = _forward(model, torch.tensor(prefix), cache)
    for token in chain:
        hidden = _forward(model, torch.tensor([token]), cache)
    return lm_head(hidden[-1])


@pytest.mark.parametrize("prefix_length", [1, 7, 70])
def test_tree_logits_equal_one_token_decoding_bit_for_bit(model: Any, prefix_length: int) -> None:
    generator = torch.Generator().manual_seed(prefix_length)
    prefix = torch.randint(0, VOCAB, (prefix_length,), generator=generator).tolist()
    tokens = torch.randint(0, VOCAB, (TREE.num_nodes,), generator=generator)
    state = StepTree(TREE, torch.bfloat16)
    lm_head = model.get_output_embeddings()
    with torch.inference_mode():
        cache = _new_cache(model)
        _forward(model, torch.tensor(prefix), cache)
        n = len(prefix)
        tree_logits = lm_head(_forward(model, tokens, cache, n + state.depths, state.mask(n)))
        for node in range(TREE.num_nodes):
            chain = [node]
            while TREE.parents[chain[-1]] >= 0:
                chain.append(int(TREE.parents[chain[-1]]))
            path = [int(tokens[c]) for c in reversed(chain)]
            expected = sequential_logits(model, prefix, path)
            assert torch.equal(tree_logits[node], expected), f"node {node}"


def test_invariant_attention_agrees_with_stock_attention() -> None:
    """float32 model: the float64 attention is the same function as transformers' own."""
    stock = small_llama(seed=3, intermediate_size=128, dtype=torch.float32)
    invariant = make_batch_invariant(copy.deepcopy(stock))
    ids = torch.randint(0, VOCAB, (1, 90))
    with torch.inference_mode():
        for length in (5, 64, 90):  # float64 path, boundary, prefill path
            expected = stock(ids[:, :length]).logits
            got = invariant(ids[:, :length]).logits
            torch.testing.assert_close(got, expected, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_medusa_greedy_equals_plain_greedy_in_bf16(model: Any, seed: int) -> None:
    heads = random_heads(seed)
    generator = torch.Generator().manual_seed(seed)
    prompt = torch.randint(0, VOCAB, (5 + seed,), generator=generator).tolist()
    tree = build_tree([[0.6, 0.2, 0.1], [0.4, 0.2, 0.1], [0.3, 0.1, 0.1]], 9)
    with torch.inference_mode():
        plain = [t for s in plain_generate(model, prompt, max_new_tokens=60) for t in s]
        fast = [
            t for s in medusa_generate(model, heads, tree, prompt, max_new_tokens=60) for t in s
        ]
    assert fast == plain


def test_make_batch_invariant_is_idempotent_and_marks_the_model() -> None:
    stock = bf16_llama(seed=4)
    assert not is_batch_invariant(stock)
    layer = stock.model.layers[0].mlp.down_proj
    assert make_batch_invariant(stock) is stock
    patched = layer.forward
    make_batch_invariant(stock)
    assert is_batch_invariant(stock) and layer.forward == patched
    assert stock.config._attn_implementation == "tessera_invariant"


def test_too_large_tree_is_refused_on_an_invariant_model(model: Any) -> None:
    paths = [(r,) for r in range(INVARIANT_MAX_QUERIES)]
    heads = MedusaHeads(MedusaConfig(hidden_size=64, vocab_size=VOCAB, num_heads=1))
    with pytest.raises(InvalidInputError, match="tree") as info:
        list(
            medusa_generate(
                model,
                heads.to(torch.bfloat16),
                MedusaTree.from_paths(paths),
                [1, 2],
                max_new_tokens=4,
            )
        )
    assert str(INVARIANT_MAX_QUERIES) in str(info.value)


# --- the prompt-lookup chain -----------------------------------------------------------


def brute_force_proposal(tokens: list[int], root: int, length: int, max_ngram: int) -> list[int]:
    context = [*tokens, root]
    for n in range(min(max_ngram, len(context)), 0, -1):
        key = context[-n:]
        for end in range(len(tokens) - 1, n - 2, -1):
            if tokens[end - n + 1 : end + 1] == key:
                extended = list(context)
                while len(extended) < len(context) + length:  # the copy feeds itself
                    extended.append(extended[end + 1 + len(extended) - len(context)])
                return extended[len(context) :]
    return []


@settings(max_examples=200, deadline=None)
@given(
    tokens=st.lists(st.integers(0, 5), max_size=40),
    root=st.integers(0, 5),
    length=st.integers(1, 6),
    max_ngram=st.integers(1, 4),
    split=st.integers(0, 40),
)
def test_lookup_proposes_what_followed_the_latest_longest_match(
    tokens: list[int], root: int, length: int, max_ngram: int, split: int
) -> None:
    from tessera.llm.medusa._drafters import PromptLookup

    whole = PromptLookup(tokens, max_ngram)
    grown = PromptLookup(tokens[:split], max_ngram)
    grown.extend(tokens[split:])
    expected = brute_force_proposal(tokens, root, length, max_ngram)
    assert whole.propose(root, length) == expected
    assert grown.propose(root, length) == expected


@settings(max_examples=60, deadline=None)
@given(chain=st.lists(st.integers(0, 9), min_size=1, max_size=6), seed=st.integers(0, 99))
def test_chain_merges_into_the_tree(chain: list[int], seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    state = StepTree(TREE, torch.float32)
    # as at decode time: each head proposes distinct tokens, so siblings differ
    ranked = [torch.randperm(10, generator=generator)[: TREE.topk] for _ in range(TREE.depth)]
    flat = torch.cat([torch.randint(0, 10, (1,), generator=generator), *ranked])
    tokens = flat[state.candidate_index]
    step, merged, first = state.with_chain(tokens, chain)
    assert first == TREE.num_nodes and merged.shape[0] == step.num_nodes
    assert torch.equal(merged[:first], tokens)
    parents = step.parents
    # the chain is a path from the root, one node per token
    node = 0
    for token in chain:
        below = [c for c in range(1, step.num_nodes) if parents[c] == node]
        matching = [c for c in below if int(merged[c]) == token]
        assert matching, "chain token missing"
        node = matching[0]
    # added nodes have distinct (parent, token) among themselves and the tree
    for i in range(first, step.num_nodes):
        siblings = [c for c in range(1, step.num_nodes) if parents[c] == parents[i] and c != i]
        assert int(merged[i]) not in {int(merged[c]) for c in siblings}
    # attention rows: exactly the node and its ancestors; depths follow the parents
    for i in range(step.num_nodes):
        ancestors = {i}
        j = i
        while parents[j] >= 0:
            j = int(parents[j])
            ancestors.add(j)
        assert set(np.flatnonzero(step.attention[i])) == ancestors
        assert step.node_depths[i] == len(ancestors) - 1
    assert step.num_nodes - first <= len(chain)


def repetitive_prompt(seed: int) -> list[int]:
    generator = torch.Generator().manual_seed(seed)
    phrase = torch.randint(0, VOCAB, (6,), generator=generator).tolist()
    return phrase * 3 + phrase[:2]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("with_heads", [True, False])
def test_lookup_chain_keeps_greedy_output_exact(model: Any, seed: int, with_heads: bool) -> None:
    from tessera.llm.medusa._decode import DecodeStats

    heads = random_heads(seed)
    prompt = repetitive_prompt(seed)
    tree = TREE if with_heads else MedusaTree.from_paths([])
    with torch.inference_mode():
        plain = [t for s in plain_generate(model, prompt, max_new_tokens=50) for t in s]
        stats = DecodeStats()
        fast = [
            t
            for s in medusa_generate(
                model, heads, tree, prompt, max_new_tokens=50, stats=stats, lookup_tokens=5
            )
            for t in s
        ]
    assert fast == plain
    assert sum(stats.accepted) == len(plain) and stats.tokens == len(plain)
    assert 0 <= stats.lookup_tokens <= len(plain)


def test_lookup_chain_accepts_a_repeated_answer_in_few_passes() -> None:
    """Heads that know nothing, a prompt that contains the answer: the chain finds it."""
    from tessera.llm.medusa._decode import DecodeStats

    model = make_batch_invariant(bf16_llama(seed=5))
    with torch.inference_mode():
        seed_prompt = [5, 17, 33]
        answer = [t for s in plain_generate(model, seed_prompt, max_new_tokens=30) for t in s]
        prompt = seed_prompt + answer + seed_prompt  # the answer follows seed_prompt once
        plain = [t for s in plain_generate(model, prompt, max_new_tokens=30) for t in s]
        assert plain == answer  # the model repeats itself: the premise of the test
        stats = DecodeStats()
        fast = [
            t
            for s in medusa_generate(
                model,
                random_heads(),
                MedusaTree.from_paths([]),
                prompt,
                max_new_tokens=30,
                stats=stats,
                lookup_tokens=6,
            )
            for t in s
        ]
    assert fast == plain
    assert stats.lookup_tokens >= 20
    assert stats.mean_accepted > 4


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"lookup_tokens": -1}, "lookup_tokens"), ({"lookup_ngram": 0}, "lookup_ngram")],
)
def test_bad_lookup_arguments(model: Any, kwargs: dict[str, int], name: str) -> None:
    with pytest.raises(InvalidInputError, match=name):
        list(medusa_generate(model, random_heads(), TREE, [1, 2], max_new_tokens=4, **kwargs))


@pytest.mark.parametrize("value", [-1, 33, 2.5])
def test_load_checks_lookup_tokens_before_loading(value: Any) -> None:
    from tessera.llm import load

    with pytest.raises(InvalidInputError, match="lookup_tokens"):
        load("/nonexistent/model/folder", lookup_tokens=value)


def test_attention_features_it_lacks_are_refused() -> None:
    from tessera.llm._invariant import _invariant_attention

    query = torch.zeros(1, 4, 1, 16)
    key = value = torch.zeros(1, 2, 3, 16)
    with pytest.raises(InvalidInputError, match="softcap"):
        _invariant_attention(torch.nn.Identity(), query, key, value, None, 0.25, softcap=30.0)
    out, _ = _invariant_attention(torch.nn.Identity(), query, key, value, None, 0.25, softcap=None)
    assert out.shape == (1, 1, 4, 16)
