"""Tree-attention decoding on a tiny random Llama: exactness against plain decoding."""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tessera.errors import InvalidInputError  # noqa: E402
from tessera.llm.medusa import MedusaConfig, MedusaHeads  # noqa: E402
from tessera.llm.medusa._decode import (  # noqa: E402
    DecodeStats,
    Sampling,
    _forward,
    _new_cache,
    medusa_generate,
    plain_generate,
)
from tessera.llm.medusa._tree import MedusaTree, build_tree  # noqa: E402
from tessera.llm.medusa._verify import StepTree, keep_path  # noqa: E402

VOCAB = 61
PROMPTS = [[1, 5, 9, 13], [2, 40, 3, 3, 7, 22, 8], [17]]


@pytest.fixture(scope="module")
def model() -> Any:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
    )
    built = transformers.LlamaForCausalLM(config).eval()
    built.requires_grad_(False)
    return built


def random_heads(num_heads: int = 3, seed: int = 1) -> MedusaHeads:
    torch.manual_seed(seed)
    heads = MedusaHeads(MedusaConfig(hidden_size=32, vocab_size=VOCAB, num_heads=num_heads))
    for block in heads.blocks:
        torch.nn.init.normal_(block[0].linear.weight, std=0.5)
    return heads.eval()


class OracleHeads(MedusaHeads):
    """Heads that know the plain greedy output and put its token at a chosen rank."""

    def __init__(self, future: list[int], stats: DecodeStats, rank: int, wrong_from: int) -> None:
        super().__init__(MedusaConfig(hidden_size=32, vocab_size=VOCAB, num_heads=3))
        self.future, self.stats, self.rank, self.wrong_from = future, stats, rank, wrong_from

    def candidates(
        self, hidden_state: Any, lm_head: Any, topk: int, count: int | None = None
    ) -> Any:
        logits = torch.zeros(3, VOCAB)
        position = self.stats.tokens  # index of the root token in the output
        for k in range(3):
            target = position + k + 1
            if target < len(self.future) and k < self.wrong_from:
                order = [t for t in range(VOCAB) if t != self.future[target]]
                order.insert(self.rank, self.future[target])
                logits[k, torch.tensor(order)] = torch.linspace(10, 0, VOCAB)
        return torch.topk(logits[:count], topk, dim=-1).indices


def plain(model: Any, prompt: list[int], n: int = 40, **kw: Any) -> list[int]:
    return [t for step in plain_generate(model, prompt, max_new_tokens=n, **kw) for t in step]


def test_plain_matches_transformers_generate(model: Any) -> None:
    for prompt in PROMPTS:
        ours = plain(model, prompt, 30)
        theirs = model.generate(
            torch.tensor([prompt]), max_new_tokens=30, do_sample=False, pad_token_id=0
        )[0, len(prompt) :].tolist()
        assert ours == theirs


def test_tree_logits_equal_sequential_logits(model: Any) -> None:
    tree = MedusaTree.from_paths([(0,), (1,), (2,), (0, 0), (0, 1), (1, 0), (0, 0, 0)])
    state = StepTree(tree, torch.float32)
    prefix = [3, 14, 15, 9, 26]
    tokens = torch.tensor([7, 11, 12, 13, 21, 22, 23, 31])[: tree.num_nodes]
    lm_head = model.get_output_embeddings()
    with torch.inference_mode():
        cache = _new_cache(model)
        _forward(model, torch.tensor(prefix), cache)
        n = len(prefix)
        hidden = _forward(model, tokens, cache, n + state.depths, state.mask(n))
        tree_logits = lm_head(hidden)
        for node in range(tree.num_nodes):
            chain = [node]
            while tree.parents[chain[-1]] >= 0:
                chain.append(int(tree.parents[chain[-1]]))
            sequence = prefix + [int(tokens[c]) for c in reversed(chain)]
            reference = model(torch.tensor([sequence])).logits[0, -1]
            torch.testing.assert_close(tree_logits[node], reference, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("chain", [[0, 1, 4], [0, 2, 6], [0, 3], [0]])
def test_cache_after_acceptance_equals_fresh_prefill(model: Any, chain: list[int]) -> None:
    tree = MedusaTree.from_paths([(0,), (1,), (2,), (0, 0), (0, 1), (1, 0), (0, 0, 0)])
    state = StepTree(tree, torch.float32)
    prefix = [5, 6, 7]
    tokens = torch.tensor([40, 41, 42, 43, 44, 45, 46, 47])
    with torch.inference_mode():
        cache = _new_cache(model)
        _forward(model, torch.tensor(prefix), cache)
        _forward(model, tokens, cache, 3 + state.depths, state.mask(3))
        keep_path(cache, 3, chain, tree.num_nodes)
        fresh = _new_cache(model)
        _forward(model, torch.tensor(prefix + [int(tokens[c]) for c in chain]), fresh)
    assert cache.get_seq_length() == len(prefix) + len(chain)
    for ours, theirs in zip(cache.layers, fresh.layers, strict=True):
        torch.testing.assert_close(ours.keys, theirs.keys, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(ours.values, theirs.values, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("nodes", [1, 5, 12])
@pytest.mark.parametrize("prompt", PROMPTS)
def test_medusa_greedy_equals_plain_greedy_random_heads(
    model: Any, prompt: list[int], nodes: int
) -> None:
    tree = build_tree([[0.5, 0.2, 0.1], [0.3, 0.1, 0.1], [0.2, 0.1, 0.1]], nodes)
    expected = plain(model, prompt, 40)
    got = [
        t
        for s in medusa_generate(model, random_heads(), tree, prompt, max_new_tokens=40)
        for t in s
    ]
    assert got == expected


@pytest.mark.parametrize("rank", [0, 1, 2])
@pytest.mark.parametrize("wrong_from", [1, 2, 3])
def test_oracle_heads_accept_long_chains_exactly(model: Any, rank: int, wrong_from: int) -> None:
    prompt = PROMPTS[1]
    expected = plain(model, prompt, 50)
    stats = DecodeStats()
    heads = OracleHeads(expected, stats, rank=rank, wrong_from=wrong_from)
    tree = MedusaTree.from_paths(
        [p for d in (1, 2, 3) for p in __import__("itertools").product(range(3), repeat=d)][:39]
    )
    steps = list(medusa_generate(model, heads, tree, prompt, max_new_tokens=50, stats=stats))
    assert [t for s in steps for t in s] == expected
    # the heads are right for the first `wrong_from` depths, so each full step gains that many + 1
    assert max(len(s) for s in steps) == wrong_from + 1
    assert stats.tokens == 50


def test_eos_and_budget_cut_inside_a_step(model: Any) -> None:
    prompt = PROMPTS[0]
    expected = plain(model, prompt, 30)
    eos = expected[7]
    stats = DecodeStats()
    tree = MedusaTree.from_paths([(0,), (0, 0), (0, 0, 0)])
    heads = OracleHeads(expected, stats, rank=0, wrong_from=3)
    got = [
        t
        for s in medusa_generate(
            model, heads, tree, prompt, max_new_tokens=30, eos_token_ids=[eos], stats=stats
        )
        for t in s
    ]
    assert got == plain(model, prompt, 30, eos_token_ids=[eos])
    assert got[-1] == eos
    for budget in (1, 2, 5, 6):
        stats = DecodeStats()
        heads = OracleHeads(expected, stats, rank=0, wrong_from=3)
        got = [
            t
            for s in medusa_generate(model, heads, tree, prompt, max_new_tokens=budget, stats=stats)
            for t in s
        ]
        assert got == expected[:budget]


def test_typical_acceptance_at_tiny_temperature_is_greedy(model: Any) -> None:
    tree = build_tree([[0.5, 0.2], [0.3, 0.1], [0.2, 0.1]], 6)
    sampling = Sampling(temperature=1e-4, seed=3)
    for prompt in PROMPTS:
        got = [
            t
            for s in medusa_generate(
                model, random_heads(), tree, prompt, max_new_tokens=30, sampling=sampling
            )
            for t in s
        ]
        assert got == plain(model, prompt, 30)


def test_sampling_is_reproducible_and_varies_with_seed(model: Any) -> None:
    tree = build_tree([[0.5, 0.2], [0.3, 0.1]], 4)
    runs = {}
    for seed in (1, 1, 2):
        sampling = Sampling(temperature=1.5, top_p=0.95, seed=seed)
        runs.setdefault(seed, []).append(
            [
                t
                for s in medusa_generate(
                    model, random_heads(2), tree, PROMPTS[0], max_new_tokens=30, sampling=sampling
                )
                for t in s
            ]
        )
    assert runs[1][0] == runs[1][1]
    assert runs[1][0] != runs[2][0]
    sampled = plain(model, PROMPTS[0], 30, sampling=Sampling(temperature=1.5, seed=1))
    assert sampled != plain(model, PROMPTS[0], 30)


def test_each_head_owns_its_weights() -> None:
    heads = MedusaHeads(MedusaConfig(hidden_size=8, vocab_size=10, num_heads=4, num_layers=2))
    weights = [layer.linear.weight for block in heads.blocks for layer in block]
    assert len({w.data_ptr() for w in weights}) == 8
    with torch.no_grad():
        heads.blocks[0][0].linear.weight.fill_(1.0)
    assert float(heads.blocks[1][0].linear.weight.detach().abs().sum()) == 0.0
    assert sum(p.numel() for p in heads.parameters()) == 8 * (8 * 8 + 8)


def test_fresh_heads_predict_what_the_base_predicts() -> None:
    torch.manual_seed(0)
    heads = MedusaHeads(MedusaConfig(hidden_size=8, vocab_size=10, num_heads=2))
    lm_head = torch.nn.Linear(8, 10, bias=False)
    hidden = torch.randn(5, 8)
    logits = heads(hidden, lm_head)
    assert logits.shape == (2, 5, 10)
    torch.testing.assert_close(logits[1], lm_head(hidden))


def test_separate_vocabulary_projections_start_from_the_lm_head() -> None:
    lm_head = torch.nn.Linear(8, 10, bias=False)
    heads = MedusaHeads(
        MedusaConfig(hidden_size=8, vocab_size=10, num_heads=2, share_lm_head=False), lm_head
    )
    hidden = torch.randn(3, 8)
    torch.testing.assert_close(heads(hidden)[0], lm_head(hidden))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("num_heads", 0),
        ("num_heads", 40),
        ("num_layers", 0),
        ("hidden_size", 2.5),
        ("share_lm_head", "yes"),
    ],
)
def test_bad_config(field: str, value: object) -> None:
    kwargs: dict[str, Any] = {"hidden_size": 8, "vocab_size": 10, field: value}
    with pytest.raises(InvalidInputError, match=field):
        MedusaConfig(**kwargs)


def test_shared_head_needs_lm_head() -> None:
    heads = MedusaHeads(MedusaConfig(hidden_size=8, vocab_size=10))
    with pytest.raises(InvalidInputError, match="lm_head"):
        heads(torch.randn(2, 8))


def test_tree_deeper_than_heads_is_refused(model: Any) -> None:
    tree = MedusaTree.from_paths([(0,), (0, 0), (0, 0, 0)])
    with pytest.raises(InvalidInputError, match="only 2 heads"):
        list(medusa_generate(model, random_heads(2), tree, [1, 2], max_new_tokens=5))


def test_token_map_restricts_proposals_but_not_the_output(model: Any) -> None:
    heads = random_heads()
    allowed = [0, 3, 5, 7, 11, 13, 17, 19, 23, 29]
    heads.set_token_map(allowed)
    proposals = heads.candidates(torch.randn(32), model.get_output_embeddings(), 4)
    assert proposals.shape == (3, 4)
    assert set(proposals.flatten().tolist()) <= set(allowed)
    tree = build_tree([[0.5, 0.2, 0.1], [0.3, 0.1, 0.1], [0.2, 0.1, 0.1]], 8)
    for prompt in PROMPTS:
        got = [t for s in medusa_generate(model, heads, tree, prompt, max_new_tokens=30) for t in s]
        assert got == plain(model, prompt, 30)


def test_token_map_survives_save_and_load(tmp_path: Any) -> None:
    from tessera.llm.medusa import load_heads, save_heads

    heads = random_heads()
    heads.set_token_map([9, 2, 2, 40])
    save_heads(heads, tmp_path / "h")
    loaded, _ = load_heads(tmp_path / "h")
    assert loaded.token_map.tolist() == [2, 9, 40]
    with pytest.raises(InvalidInputError, match="token_ids"):
        heads.set_token_map([VOCAB])
