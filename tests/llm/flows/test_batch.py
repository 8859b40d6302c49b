"""run_batch on real flows (no model needed): evaluators, metrics, tables, datasets, bad input."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _flowdocs import data, echo_flow
from tessera.errors import InvalidInputError
from tessera.llm.flows import get_trace, run_batch
from tessera.llm.flows._batch import read_dataset
from tessera.llm.flows.examples import EXAMPLE_CODE, support_category

#: Input (Object {text}) -> Code support_category -> Output "category".
CATEGORY_FLOW = {
    "name": "categorise",
    "nodes": [
        {"name": "in", "type": "Input", "outputs": [{"name": "document", "type": "Object"}]},
        {
            "name": "code",
            "type": "Code",
            "configuration": {"function": "tessera.llm.flows.examples:support_category"},
            "inputs": [{"name": "completion", "type": "String", "expression": "$.data.text"}],
            "outputs": [{"name": "category", "type": "String"}],
        },
        {"name": "category", "type": "Output", "inputs": [{"name": "document", "type": "String"}]},
    ],
    "connections": [
        data("in", "document", "code", "completion"),
        data("code", "category", "category", "document"),
    ],
}

#: Input (String) -> Output "out".
ECHO_FLOW = echo_flow()

RECORDS = [
    {"text": "billing question", "expected": "billing"},
    {"text": "where is my parcel", "expected": "shipping"},
    {"text": "the wifi drops", "expected": "technical"},
    {"text": "hello there", "expected": "account"},  # 'other': fails
]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "traces.db"


def test_metrics_and_records(db: Path) -> None:
    result = run_batch(CATEGORY_FLOW, RECORDS, allowed_code=[EXAMPLE_CODE], db=db)
    assert [r.output for r in result.records] == ["billing", "shipping", "technical", "other"]
    assert [r.passed for r in result.records] == [True, True, True, False]
    assert [r.input for r in result.records] == [{"text": r["text"]} for r in RECORDS]
    m = result.metrics
    assert (m.records, m.passed, m.errors, m.accuracy, m.mean_score) == (4, 3, 0, 0.75, 0.75)
    assert 0 < m.latency_p50_ms <= m.latency_p95_ms
    for record in result.records:  # every run is traced
        assert get_trace(record.run_id, db=db).outputs == {"category": record.output}


def test_the_table_round_trips_as_jsonl_and_csv(tmp_path: Path, db: Path) -> None:
    result = run_batch(
        CATEGORY_FLOW, RECORDS, allowed_code=[EXAMPLE_CODE], db=db, out=tmp_path / "t.jsonl"
    )
    rows = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert rows == result.rows()
    result.write(tmp_path / "t.csv")
    with (tmp_path / "t.csv").open(newline="") as file:
        table = list(csv.DictReader(file))
    assert [row["output"] for row in table] == ["billing", "shipping", "technical", "other"]
    assert [row["passed"] for row in table] == ["True", "True", "True", "False"]
    assert json.loads(table[0]["input"]) == {"text": "billing question"}
    with pytest.raises(InvalidInputError, match=r"path=.* \.csv or \.jsonl"):
        result.write(tmp_path / "t.xlsx")


def test_metamorphic_order_and_repetition_keep_the_metrics(db: Path) -> None:
    first = run_batch(CATEGORY_FLOW, RECORDS, allowed_code=[EXAMPLE_CODE], trace=False)
    shuffled = RECORDS[:]
    random.Random(0).shuffle(shuffled)
    second = run_batch(CATEGORY_FLOW, shuffled * 2, allowed_code=[EXAMPLE_CODE], trace=False)
    assert (second.metrics.accuracy, second.metrics.mean_score) == (
        first.metrics.accuracy,
        first.metrics.mean_score,
    )
    by_text = {r.input["text"]: r.output for r in first.records}
    assert all(by_text[r.input["text"]] == r.output for r in second.records)


@settings(max_examples=20)
@given(pairs=st.lists(st.tuples(st.text(max_size=5), st.booleans()), min_size=1, max_size=6))
def test_exact_accuracy_is_the_share_of_equal_pairs(pairs: list[tuple[str, bool]]) -> None:
    records = [{"input": text, "expected": text if same else text + "!"} for text, same in pairs]
    result = run_batch(ECHO_FLOW, records, trace=False)
    assert result.metrics.accuracy == pytest.approx(sum(s for _, s in pairs) / len(pairs))


def test_contains_numeric_and_function_evaluators() -> None:
    records = [
        {"input": "The answer is 3.14 metres", "expected": "3.1416"},
        {"input": "About -2e3 units", "expected": "-2000"},
        {"input": "no number", "expected": "1"},
    ]
    numeric = run_batch(ECHO_FLOW, records, evaluator="numeric", tolerance=0.01, trace=False)
    assert [r.passed for r in numeric.records] == [True, True, False]
    contains = run_batch(
        ECHO_FLOW, [{"input": "Billing, I think", "expected": "billing"}], evaluator="contains",
        trace=False,
    )  # fmt: skip
    assert contains.metrics.accuracy == 1.0
    exact = run_batch(ECHO_FLOW, [{"input": " a ", "expected": "a"}], trace=False)
    assert exact.metrics.accuracy == 1.0  # surrounding space ignored

    same = [{"input": "x", "expected": "x"}, {"input": "x", "expected": "y"}]
    by_reference = run_batch(
        ECHO_FLOW, same, evaluator="operator:eq", allowed_code=["operator:eq"], trace=False
    )
    assert [r.score for r in by_reference.records] == [1.0, 0.0]
    partial = run_batch(
        ECHO_FLOW, same, evaluator=lambda out, exp: 0.5, pass_threshold=0.5, trace=False
    )
    assert (partial.metrics.mean_score, partial.metrics.accuracy) == (0.5, 1.0)


def test_failing_records_are_errors_not_crashes() -> None:
    records = [{"input": "ok", "expected": "ok"}, {"input": 42, "expected": "42"}]
    result = run_batch(ECHO_FLOW, records, trace=False)
    assert result.records[1].error is not None and "Input node" in result.records[1].error
    assert (result.metrics.errors, result.metrics.passed, result.metrics.accuracy) == (1, 1, 0.5)
    out_of_range = run_batch(ECHO_FLOW, records[:1], evaluator=lambda o, e: 7, trace=False)
    assert "score in [0, 1]" in str(out_of_range.records[0].error)


def test_datasets_from_files(tmp_path: Path) -> None:
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"q": "a", "expected": "a"}\n\n{"q": "b", "expected": "c"}\n')
    result = run_batch(ECHO_FLOW, jsonl, input_field="q", trace=False)
    assert [r.input for r in result.records] == ["a", "b"]
    data_csv = tmp_path / "d.csv"
    data_csv.write_text("input,expected\nbilling please,billing\nhi,account\n")
    assert read_dataset(data_csv) == [
        {"input": "billing please", "expected": "billing"},
        {"input": "hi", "expected": "account"},
    ]
    assert run_batch(ECHO_FLOW, data_csv, evaluator="contains", trace=False).metrics.passed == 1


@pytest.mark.parametrize(
    ("text", "suffix", "message"),
    [
        ('{"a": 1}\nnot json\n', ".jsonl", "line 2: not JSON"),
        ("[1, 2]\n", ".jsonl", "line 1: list, not an object"),
        ("", ".jsonl", "it has no records"),
        ("a,b\n", ".txt", r"a \.jsonl or \.csv file"),
    ],
)
def test_bad_dataset_files(tmp_path: Path, text: str, suffix: str, message: str) -> None:
    path = tmp_path / f"data{suffix}"
    path.write_text(text)
    with pytest.raises(InvalidInputError, match=message):
        read_dataset(path)


def test_bad_arguments() -> None:
    with pytest.raises(InvalidInputError, match=r"record 1 has no field 'expected'"):
        run_batch(ECHO_FLOW, [{"input": "a", "expected": "a"}, {"input": "b"}], trace=False)
    with pytest.raises(InvalidInputError, match="evaluator='fuzzy' is invalid"):
        run_batch(ECHO_FLOW, [{"input": "a", "expected": "a"}], evaluator="fuzzy")
    with pytest.raises(InvalidInputError, match="must be in the Code allow-list"):
        run_batch(ECHO_FLOW, [{"input": "a", "expected": "a"}], evaluator="os:system")
    with pytest.raises(InvalidInputError, match="tolerance=-1 is invalid"):
        run_batch(ECHO_FLOW, [{"input": "a", "expected": "a"}], evaluator="numeric", tolerance=-1)
    with pytest.raises(InvalidInputError, match="pass_threshold=2 is invalid"):
        run_batch(ECHO_FLOW, [{"input": "a", "expected": "a"}], pass_threshold=2)


def test_several_outputs_need_a_name() -> None:
    two = {
        **ECHO_FLOW,
        "nodes": [
            *ECHO_FLOW["nodes"],
            {"name": "copy", "type": "Output", "inputs": [{"name": "document", "type": "String"}]},
        ],
        "connections": [*ECHO_FLOW["connections"], data("in", "document", "copy", "document")],
    }
    records = [{"input": "a", "expected": "a"}]
    result = run_batch(two, records, trace=False)
    assert "name the one to score with output=" in str(result.records[0].error)
    assert run_batch(two, records, output="copy", trace=False).metrics.accuracy == 1.0


def test_the_category_normaliser() -> None:
    assert support_category(" Billing.") == "billing"
    assert support_category("Shipping (refund?)") == "shipping"  # the first word wins
    assert support_category("log in trouble") == "account"
    assert support_category("I don't know") == "other"
