"""Training and validation metrics: Bedrock's CSV files and a loss plot."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "TRAINING_COLUMNS",
    "TRAINING_CSV",
    "VALIDATION_COLUMNS",
    "VALIDATION_CSV",
    "MetricRow",
    "plot_losses",
    "write_metrics",
]

#: Bedrock's file and column names for customisation job metrics.
TRAINING_CSV = "step_wise_training_metrics.csv"
TRAINING_COLUMNS = ("step_number", "epoch_number", "training_loss", "training_perplexity")
VALIDATION_CSV = "validation_metrics.csv"
VALIDATION_COLUMNS = ("step_number", "epoch_number", "validation_loss", "validation_perplexity")
LOSS_PLOT = "loss.png"


@dataclass(frozen=True)
class MetricRow:
    """The loss after one optimiser step (training) or at one validation.

    Attributes
    ----------
    step : int
        Optimiser steps done so far (1-based).
    epoch : int
        The epoch the step belongs to (1-based).
    loss : float
        Mean cross-entropy per assistant token (nats).
    """

    step: int
    epoch: int
    loss: float

    @property
    def perplexity(self) -> float:
        """``exp(loss)`` (inf when that overflows)."""
        return math.exp(self.loss) if self.loss < 700 else math.inf


def _write(path: Path, columns: Sequence[str], rows: Sequence[MetricRow]) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.step, row.epoch, f"{row.loss:.6f}", f"{row.perplexity:.6f}"])


def write_metrics(
    folder: Path, training: Sequence[MetricRow], validation: Sequence[MetricRow]
) -> tuple[Path, Path]:
    """Write :data:`TRAINING_CSV` and :data:`VALIDATION_CSV` into ``folder``.

    The validation file holds only its header when there was no validation data.
    """
    folder.mkdir(parents=True, exist_ok=True)
    training_path, validation_path = folder / TRAINING_CSV, folder / VALIDATION_CSV
    _write(training_path, TRAINING_COLUMNS, training)
    _write(validation_path, VALIDATION_COLUMNS, validation)
    return training_path, validation_path


def plot_losses(
    path: Path, training: Sequence[MetricRow], validation: Sequence[MetricRow], *, title: str
) -> Path:
    """Training loss per step and validation loss per validation, as a PNG."""
    # Figure without pyplot: no global state, no GUI backend, safe in threads.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4), dpi=100)
    axes = figure.add_subplot()
    axes.plot(
        [r.step for r in training],
        [r.loss for r in training],
        color="#4c72b0",
        linewidth=1,
        label="training loss",
    )
    if validation:
        axes.plot(
            [r.step for r in validation],
            [r.loss for r in validation],
            color="#dd8452",
            marker="o",
            label="validation loss",
        )
    axes.set_xlabel("step")
    axes.set_ylabel("loss per assistant token (nats)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    return path
