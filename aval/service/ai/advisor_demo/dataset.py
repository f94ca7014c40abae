"""The labelled reports the model learns from, and the fixed split into training and test rows."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

# The municipal services a report can be sent to, in the order of the model's outputs.
SERVICES: tuple[str, ...] = ("voirie", "proprete", "eclairage", "espaces_verts")

DATASET_NAME = "signalements.csv"
# Every TEST_EVERY-th data row (1-based: rows 5, 10, 15, ...) is held out for evaluation.
TEST_EVERY = 5


class DatasetError(ValueError):
    """The data file cannot be learned from; the message names the row and the fix."""


@dataclass(frozen=True)
class Report:
    """One labelled citizen's report."""

    row: int
    """1-based row number among the data rows (the header is row 0)."""
    text: str
    service: str

    @property
    def held_out(self) -> bool:
        """Whether this row belongs to the test set (the fixed split rule)."""
        return self.row % TEST_EVERY == 0


@dataclass(frozen=True)
class Dataset:
    """A data file's reports, with its name and the digest of its bytes."""

    name: str
    reports: tuple[Report, ...]
    sha256: str

    @property
    def training(self) -> tuple[Report, ...]:
        return tuple(r for r in self.reports if not r.held_out)

    @property
    def test(self) -> tuple[Report, ...]:
        return tuple(r for r in self.reports if r.held_out)

    def class_counts(self) -> dict[str, int]:
        return {s: sum(1 for r in self.reports if r.service == s) for s in SERVICES}


def shipped_dataset() -> Dataset:
    """The data set shipped with Aval (service/advisor_demo/data/signalements.csv)."""
    data = resources.files(__package__).joinpath("data", DATASET_NAME).read_bytes()
    return parse_dataset(DATASET_NAME, data)


def load_dataset(path: Path) -> Dataset:
    """A data file in the same format (columns `text,service`, UTF-8), to retrain on."""
    return parse_dataset(path.name, path.read_bytes())


def parse_dataset(name: str, data: bytes) -> Dataset:
    """Reads `text,service` rows.

    Raises:
        DatasetError: not UTF-8, wrong header, empty text, unknown service, or a service with
            no training row.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{name}: not UTF-8 ({exc.reason}); save the file as UTF-8") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header != ["text", "service"]:
        raise DatasetError(f"{name}: the first line must be `text,service`, not {header!r}")
    reports: list[Report] = []
    for row, fields in enumerate(reader, start=1):
        if len(fields) != 2 or not fields[0].strip():
            raise DatasetError(f"{name}: data row {row} must be a non-empty text and a service")
        if fields[1] not in SERVICES:
            raise DatasetError(
                f"{name}: data row {row} names service {fields[1]!r}; use one of "
                + ", ".join(SERVICES)
            )
        reports.append(Report(row=row, text=fields[0], service=fields[1]))
    dataset = Dataset(name=name, reports=tuple(reports), sha256=hashlib.sha256(data).hexdigest())
    missing = [s for s in SERVICES if not any(r.service == s for r in dataset.training)]
    if missing:
        raise DatasetError(f"{name}: no training row for {', '.join(missing)}; add some")
    return dataset
