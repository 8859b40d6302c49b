"""Does LoRA fine-tuning help? SmolLM2-135M before and after, on a held-out set.

The task: read a customer's message and answer with their contact as JSON in a fixed
schema, ``{"name": ..., "email": ..., "state": "<2 letters>", "zip": "<zip code>"}``. The
people come from :func:`tessera.synth.fake_people` (names, e-mails, US addresses), the
messages from a dozen templates that put the facts in different orders among
distractors (phone numbers, other numbers); the held-out set uses people never seen in
training and templates of its own, so that copying a training answer cannot score.

Scores on the held-out set, greedy decoding: the share of answers that parse as a JSON
object with exactly the four keys, the share that are exactly right (all four values),
and the share of right values among all fields.

Steps: build the data (``benchmarks/data/tune/*.jsonl``), score the embedded model,
fine-tune it with :func:`tessera.llm.tune.fine_tune` (one CPU thread), register the
adapter as ``custom:contact-json`` and score it loaded by that name. Run
``python benchmarks/tune_eval.py`` (``--write`` updates the ``## tune`` section of
benchmarks/RESULTS.md; ``--data-only`` just writes the data).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_section  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "tune"
SYSTEM = 'Answer with JSON only: {"name": ..., "email": ..., "state": ..., "zip": ...}'

TRAIN_TEMPLATES = (
    "Hi, this is {name}. Please send the order to {address}. My email is {email}.",
    "Order update for {address}: contact {name} at {email} or {phone}.",
    "{name} here ({email}). New shipping address: {address}. Call {phone} if needed.",
    "Please change my address to {address}. Thanks, {name} - {email}",
    "My phone is {phone} and my email {email}. I live at {address}. Name: {name}.",
    "Dear support, I ({name}) moved to {address}. Reach me via {email}. Order #{number}.",
    "Invoice {number} should go to {name}, {address}; questions to {email}.",
    "From {email}: hello, {name} writing. Deliver to {address} please, phone {phone}.",
)
TEST_TEMPLATES = (
    "Hello! {name} speaking. I need the parcel at {address}. Email: {email}, tel {phone}.",
    "Ticket {number}. Customer {name} <{email}> lives at {address}.",
    "Ship it to {address} for {name}. You can write to {email}.",
    "Could you update my details? Email {email}, address {address}, name {name}.",
)
FIELDS = ("name", "email", "state", "zip")
#: The answer's JSON Schema, for the constrained rows (decoded with ``json_schema=``).
SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 60},
        "email": {"type": "string", "maxLength": 60},
        "state": {"type": "string", "pattern": "^[A-Z]{2}$"},
        "zip": {"type": "string", "pattern": "^[0-9]{5}(-[0-9]{4})?$"},
    },
    "required": list(FIELDS),
    "additionalProperties": False,
}


def build_records(count: int, templates: tuple[str, ...], seed: int) -> list[dict[str, Any]]:
    """``count`` chat records: a templated message and its contact as JSON."""
    import numpy as np

    from tessera.synth import fake_people

    rng = np.random.default_rng(seed)
    people = fake_people(count, fields=("name", "email", "phone", "address"), random_state=rng)
    records = []
    for index, person in enumerate(people.itertuples(index=False)):
        state_zip = str(person.address).rsplit(", ", 1)[-1]  # "WI 21255"
        state, zip_code = state_zip.split()
        template = templates[index % len(templates)]
        message = template.format(
            name=person.name,
            email=person.email,
            phone=person.phone,
            address=str(person.address).replace("\n", ", "),
            number=int(rng.integers(10_000, 99_999)),
        )
        answer = {"name": person.name, "email": person.email, "state": state, "zip": zip_code}
        records.append(
            {
                "system": SYSTEM,
                "messages": [
                    {"role": "user", "content": message},
                    {"role": "assistant", "content": json.dumps(answer)},
                ],
            }
        )
    return records


def write_data(train: int, validation: int, test: int, seed: int = 0) -> dict[str, Path]:
    """Write train/validation (training templates) and test (its own templates) JSONL."""
    DATA.mkdir(parents=True, exist_ok=True)
    # Different seeds give different people: no held-out person appears in training.
    parts = {
        "train": build_records(train, TRAIN_TEMPLATES, seed),
        "validation": build_records(validation, TRAIN_TEMPLATES, seed + 1),
        "test": build_records(test, TEST_TEMPLATES, seed + 2),
    }
    paths = {}
    for name, records in parts.items():
        paths[name] = DATA / f"{name}.jsonl"
        paths[name].write_text("".join(json.dumps(r) + "\n" for r in records))
    return paths


def score(answer: str, expected: str) -> tuple[bool, bool, int]:
    """(valid JSON with the four keys, all four right, how many values right)."""
    truth = json.loads(expected)
    try:
        got = json.loads(answer.strip())
    except ValueError:
        return False, False, 0
    if not isinstance(got, dict) or set(got) != set(FIELDS):
        right = sum(isinstance(got, dict) and got.get(k) == truth[k] for k in FIELDS)
        return False, False, right
    right = sum(str(got[k]).strip() == truth[k] for k in FIELDS)
    return True, right == len(FIELDS), right


def evaluate(
    model: Any, tokenizer: Any, records: list[dict[str, Any]], batch: int = 16
) -> dict[str, Any]:
    """Greedy answers in left-padded batches; the three scores and a few examples."""
    import torch

    tokenizer.padding_side = "left"
    prompts = [
        tokenizer.apply_chat_template(
            [{"role": "system", "content": r["system"]}, r["messages"][0]],
            add_generation_prompt=True,
            tokenize=False,
        )
        for r in records
    ]
    answers: list[str] = []
    start = time.perf_counter()
    for i in range(0, len(prompts), batch):
        inputs = tokenizer(
            prompts[i : i + batch], return_tensors="pt", padding=True, add_special_tokens=False
        )
        with torch.no_grad():
            out = model.generate(
                **inputs, max_new_tokens=64, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
        answers += tokenizer.batch_decode(
            out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True
        )
    seconds = time.perf_counter() - start
    scores = [score(a, r["messages"][1]["content"]) for a, r in zip(answers, records, strict=True)]
    n = len(records)
    return {
        "valid_json": sum(s[0] for s in scores) / n,
        "exact": sum(s[1] for s in scores) / n,
        "fields": sum(s[2] for s in scores) / (n * len(FIELDS)),
        "seconds": seconds,
        "examples": answers[:3],
    }


def evaluate_constrained(runtime: Any, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Greedy answers decoded under :data:`SCHEMA` (tessera's runtime, one at a time)."""
    constraint = runtime.constraint(json_schema=SCHEMA)
    answers: list[str] = []
    start = time.perf_counter()
    for r in records:
        messages = [{"role": "system", "content": r["system"]}, r["messages"][0]]
        answers.append(runtime.generate(messages, constraint=constraint, max_new_tokens=64).text)
    seconds = time.perf_counter() - start
    scores = [score(a, r["messages"][1]["content"]) for a, r in zip(answers, records, strict=True)]
    n = len(records)
    return {
        "valid_json": sum(s[0] for s in scores) / n,
        "exact": sum(s[1] for s in scores) / n,
        "fields": sum(s[2] for s in scores) / (n * len(FIELDS)),
        "seconds": seconds,
        "examples": answers[:3],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=320, help="training records")
    parser.add_argument("--validation", type=int, default=32, help="validation records")
    parser.add_argument("--test", type=int, default=64, help="held-out records")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--name", default="contact-json", help="custom model name")
    parser.add_argument("--data-only", action="store_true", help="write the data and stop")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args(argv)

    paths = write_data(args.train, args.validation, args.test)
    if args.data_only:
        print({k: str(v) for k, v in paths.items()})
        return
    import torch

    torch.set_num_threads(1)
    from tessera.llm import load
    from tessera.llm.tune import TuneParams, fine_tune, register_model

    test = [json.loads(line) for line in paths["test"].read_text().splitlines()]
    base = load(None, dtype="float32")
    before = evaluate(base.model, base.tokenizer, test)
    print("before:", {k: v for k, v in before.items() if k != "examples"}, before["examples"][:2])
    before_schema = evaluate_constrained(base, test)
    print("before, json_schema:", before_schema)
    del base
    params = TuneParams(epoch_count=args.epochs, batch_size=args.batch_size, dtype=args.dtype)
    start = time.process_time()
    result = fine_tune(paths["train"], validation=paths["validation"], params=params)
    cpu_seconds = time.process_time() - start
    version = register_model(result, args.name)
    tuned = load(version.spec, dtype="float32")
    after = evaluate(tuned.model, tuned.tokenizer, test)
    print("after:", {k: v for k, v in after.items() if k != "examples"}, after["examples"][:2])
    after_schema = evaluate_constrained(tuned, test)
    print("after, json_schema:", after_schema)

    command = "python benchmarks/tune_eval.py" + (" " + " ".join(argv or sys.argv[1:])).rstrip()
    rows = [
        ("SmolLM2-135M-Instruct (embedded)", before),
        ("SmolLM2-135M-Instruct (embedded), `json_schema=` the answer's schema", before_schema),
        (f"+ LoRA ({version.spec})", after),
        (f"+ LoRA ({version.spec}), `json_schema=` the answer's schema", after_schema),
    ]
    table = "\n".join(
        f"| {name} | {m['valid_json']:.1%} | {m['exact']:.1%} | {m['fields']:.1%} |"
        for name, m in rows
    )
    last = result.training[-1]
    section = f"""## tune

`{command}` on {platform.machine()} ({os.cpu_count()} shared cores, 1 torch thread,
torch {torch.__version__}): contact extraction into a fixed JSON schema, {args.train}
training records, {args.validation} validation, {args.test} held-out records (new people
and message templates never seen in training), greedy decoding, float32. Both models get
the same system prompt (the schema, zero-shot); the tuned one was trained with it. The
`json_schema=` rows decode under the answer's JSON Schema (four required string keys,
`state` two capitals, `zip` a ZIP or ZIP+4) with tessera's runtime, one record at a time.

| model | valid JSON | exactly right | fields right |
|---|---|---|---|
{table}

Fine-tuning: LoRA r={params.lora_rank}, alpha={params.lora_alpha:g} on
{", ".join(params.target_modules)}; {params.epoch_count} epoch(s), batch {params.batch_size},
learning rate {params.learning_rate:g} ({params.dtype} base weights); {result.steps} steps,
{result.trained_tokens} assistant tokens an epoch, {result.seconds:.0f} s of training wall
time ({cpu_seconds:.0f} s of CPU time, validations included: other jobs shared the cores).
Training loss {result.training[0].loss:.3f} at step 1, {last.loss:.3f} at step {last.step};
best validation loss {result.best_validation_loss:.3f} (perplexity
{2.718281828459045 ** (result.best_validation_loss or 0):.3f}) at step {result.best_step}, the
adapter kept. Scoring took
{before["seconds"]:.0f} s before and {after["seconds"]:.0f} s after (batches of 16); under the
schema {before_schema["seconds"]:.0f} s before and {after_schema["seconds"]:.0f} s after.
"""
    print(section)
    facts = {
        "before": before,
        "after": after,
        "before_json_schema": before_schema,
        "after_json_schema": after_schema,
        "model": version.spec,
        "steps": result.steps,
    }
    (DATA / "results.json").write_text(json.dumps(facts, indent=2))
    if args.write:
        write_section("tune", section)


if __name__ == "__main__":
    main()
