"""tessera.synth against SDV, copulas, Faker and mimesis, side by side in one process.

Quality: SDMetrics' QualityReport overall score (synthetic rows = real rows, mean of
``--seeds`` samples from one fit) on scikit-learn's bundled data sets (the class as a
category where there is one) and statsmodels' ``fair`` (mixed types: two occupations as
categories). Speed: fit seconds and sampling rows/s. Fake people: rows/s for
name + address + email + phone.

SDV, copulas, SDMetrics and mimesis come from the ``bench`` extra; SDV and copulas are
under the Business Source License and are only ever imported here.

Run ``python benchmarks/synth_bench.py`` (``--write`` to update the ``## synth``
section of benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tessera.synth import GaussianCopula, fake_people

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import RESULTS, write_section  # noqa: E402

DATASETS = ("diabetes", "wine", "breast_cancer", "fair")


def load(name: str) -> pd.DataFrame:
    """A benchmark table; classes and nominal codes as string categories."""
    if name == "fair":
        import statsmodels.api as sm

        frame = sm.datasets.fair.load_pandas().data
        for column in ("occupation", "occupation_husb"):
            frame[column] = frame[column].astype(int).map(lambda v: f"occ{v}")
        return frame
    from sklearn import datasets

    frame = getattr(datasets, f"load_{name}")(as_frame=True).frame.copy()
    if name != "diabetes":
        frame["target"] = frame["target"].map(lambda v: f"class{v}")
    return frame


def metadata(frame: pd.DataFrame) -> dict[str, Any]:
    kinds = {c: "categorical" if frame[c].dtype == object else "numerical" for c in frame}
    return {"columns": {c: {"sdtype": k} for c, k in kinds.items()}}


def sdmetrics_score(real: pd.DataFrame, synthetic: pd.DataFrame) -> float:
    from sdmetrics.reports.single_table import QualityReport

    report = QualityReport()
    report.generate(real, synthetic[real.columns], metadata(real), verbose=False)
    return float(report.get_score())


class Ours:
    name = "tessera GaussianCopula"

    def fit(self, real: pd.DataFrame) -> None:
        self.model = GaussianCopula().fit(real)

    def sample(self, n: int, seed: int) -> pd.DataFrame:
        return self.model.sample(n, random_state=seed)


class SDV:
    name = "SDV 2.0 GaussianCopula"

    def fit(self, real: pd.DataFrame) -> None:
        from sdv.metadata import Metadata
        from sdv.single_table import GaussianCopulaSynthesizer

        meta = Metadata.load_from_dict({"tables": {"table": metadata(real)}})
        self.model = GaussianCopulaSynthesizer(meta)
        self.model.fit({"table": real})

    def sample(self, n: int, seed: int) -> pd.DataFrame:
        out = self.model.sample(n)
        return out["table"] if isinstance(out, dict) else out


class Copulas:
    """copulas' GaussianMultivariate (numbers only: categories go in as codes)."""

    name = "copulas GaussianMultivariate"

    def fit(self, real: pd.DataFrame) -> None:
        from copulas.multivariate import GaussianMultivariate

        self.categories = {c: sorted(real[c].unique()) for c in real if real[c].dtype == object}
        coded = real.copy()
        for c, values in self.categories.items():
            coded[c] = coded[c].map({v: i for i, v in enumerate(values)}).astype(float)
        self.model = GaussianMultivariate()
        self.model.fit(coded)

    def sample(self, n: int, seed: int) -> pd.DataFrame:
        np.random.seed(seed)  # noqa: NPY002  (copulas draws from the global generator)
        out = self.model.sample(n)
        for c, values in self.categories.items():
            codes = np.clip(np.round(out[c].to_numpy()), 0, len(values) - 1).astype(int)
            out[c] = np.asarray(values, dtype=object)[codes]
        return out


def timed(function: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def measure_quality(
    names: list[str], seeds: int, speed_rows: int, copulas_rows: int
) -> list[dict[str, Any]]:
    rows = []
    for name in names:
        real = load(name)
        for method in (Ours(), SDV(), Copulas()):
            train = real
            if isinstance(method, Copulas) and len(real) > copulas_rows:
                # copulas takes many minutes on thousands of rows: fit it on a subsample.
                train = real.sample(copulas_rows, random_state=0)
            _, fit_seconds = timed(lambda m=method, r=train: m.fit(r))
            scores = [
                sdmetrics_score(real, method.sample(len(real), seed)) for seed in range(seeds)
            ]
            # copulas samples a few hundred rows/s: 2,000 rows time it well enough.
            n = {Ours: speed_rows, SDV: 20_000}.get(type(method), 2_000)
            _, sample_seconds = timed(lambda m=method, n=n: m.sample(n, 99))
            label = method.name
            if train is not real:
                label += f" (fitted on {len(train):,} rows)"
            rows.append(
                {
                    "data": f"{name} ({real.shape[0]}x{real.shape[1]})",
                    "method": label,
                    "quality": float(np.mean(scores)),
                    "fit_s": fit_seconds,
                    "rows_per_s": n / sample_seconds,
                }
            )
            print(rows[-1], flush=True)
    return rows


def measure_people(n_ours: int, n_faker: int, n_mimesis: int) -> list[tuple[str, float]]:
    from faker import Faker
    from mimesis import Address, Person
    from mimesis.locales import Locale

    fake_people(10)  # read the providers once
    out = []
    for locale in ("en_US", "de_DE", "fr_FR"):
        _, seconds = timed(lambda loc=locale: fake_people(n_ours, locale=loc, random_state=0))
        out.append((f"tessera fake_people ({locale})", n_ours / seconds))
    faker = Faker("en_US")
    Faker.seed(0)

    def faker_rows() -> list[tuple[str, str, str, str]]:
        return [
            (faker.name(), faker.address(), faker.email(), faker.phone_number())
            for _ in range(n_faker)
        ]

    _, seconds = timed(faker_rows)
    out.append(("Faker, row by row (en_US)", n_faker / seconds))
    person, address = Person(Locale.EN, seed=0), Address(Locale.EN, seed=0)

    def mimesis_rows() -> list[tuple[str, str, str, str]]:
        return [
            (person.full_name(), address.address(), person.email(), person.phone_number())
            for _ in range(n_mimesis)
        ]

    _, seconds = timed(mimesis_rows)
    out.append(("mimesis, row by row (en)", n_mimesis / seconds))
    return out


def markdown(quality: list[dict[str, Any]], people: list[tuple[str, float]], seeds: int) -> str:
    lines = [
        "## synth",
        "",
        f"Measured by `python benchmarks/synth_bench.py` on {time.strftime('%Y-%m-%d')} "
        "(a shared 2-core machine; timings are noisy, ratios matter). Quality: SDMetrics "
        f"QualityReport overall score, mean of {seeds} samples of as many rows as the real "
        "table, from one fit. Sampling rows/s: from 500,000 rows for ours, 20,000 for SDV, "
        "2,000 for copulas.",
        "",
        "| data | method | quality | fit s | sample rows/s |",
        "|---|---|---:|---:|---:|",
    ]
    for row in quality:
        lines.append(
            f"| {row['data']} | {row['method']} | {row['quality']:.3f} | {row['fit_s']:.2f} | "
            f"{row['rows_per_s']:,.0f} |"
        )
    lines += ["", "Quality margin of tessera over SDV (target: +0.03 on each):", ""]
    by = {(r["data"], r["method"]): r for r in quality}
    for data in dict.fromkeys(r["data"] for r in quality):
        ours = by[(data, Ours.name)]["quality"]
        sdv = by[(data, SDV.name)]["quality"]
        verdict = "met" if ours - sdv >= 0.03 else "MISSED"
        lines.append(f"- {data}: {ours - sdv:+.3f} ({verdict})")
    lines += [
        "",
        "Fake people (name + address + email + phone):",
        "",
        "| generator | rows/s |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {rate:,.0f} |" for name, rate in people]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--data", nargs="*", default=list(DATASETS))
    parser.add_argument("--speed-rows", type=int, default=500_000)
    parser.add_argument(
        "--copulas-rows", type=int, default=1500, help="fit copulas on at most this many rows"
    )
    parser.add_argument("--write", action="store_true", help="write the section of RESULTS.md")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")  # SDV and copulas are chatty
    quality = measure_quality(args.data, args.seeds, args.speed_rows, args.copulas_rows)
    people = measure_people(200_000, 3_000, 20_000)
    text = markdown(quality, people, args.seeds)
    print(text)
    if args.write:
        write_section("synth", text)
        print(f"wrote the synth section of {RESULTS}")


if __name__ == "__main__":
    main()
