"""Streaming conversion of DeepMind TFRecord files into our EfficientMORL-layout ``.h5``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emorl_eval.data.deepmind import SCHEMAS, example_to_row
from emorl_eval.data.h5io import H5Writer
from emorl_eval.data.layouts import root_attrs
from emorl_eval.data.schema import FactorSpec, specs_to_json
from emorl_eval.data.tfrecord import read_examples
from emorl_eval.errors import ConfigError, DataError


@dataclass
class ConversionResult:
    path: Path
    dataset: str
    records_read: int
    skipped: int
    rows: dict[str, int]
    factor_specs: list[FactorSpec]


def convert_tfrecord(src: str | os.PathLike, dataset: str, out: str | os.PathLike, num_test: int = 1000,
                     limit: int | None = None, max_objects: int | None = None, batch: int = 256,
                     progress: bool = False) -> ConversionResult:
    """Convert a DeepMind TFRecord file to an ``.h5`` file (atomic write).

    Args:
        src: ``*.tfrecords`` file (GZIP or uncompressed, detected).
        dataset: ``tetrominoes``, ``multi_dsprites`` or ``clevr``.
        out: output ``.h5``.
        num_test: the first ``num_test`` kept records go to ``test``, the rest to ``train``.
        limit: stop after this many records read.
        max_objects: keep only records with at most this many visible objects (6 gives CLEVR6).
        batch: records per write.
    """
    if dataset not in SCHEMAS:
        raise ConfigError(f"unknown TFRecord dataset {dataset!r}; choose one of {', '.join(SCHEMAS)}")
    schema = SCHEMAS[dataset]
    src = Path(src)
    if not src.is_file():
        raise DataError(f"{src}: no such file")
    specs = list(schema.factor_specs)
    disc = [j for j, s in enumerate(specs) if s.is_discrete]
    max_code = np.full(len(specs), -1.0)
    examples = read_examples(src)
    if progress:
        from tqdm import tqdm

        examples = tqdm(examples, desc=f"converting {src.name}", unit="rec", total=limit)
    attrs = root_attrs(dataset, specs, 0, {"source": str(src), "converted_from": "deepmind_tfrecord",
                                           "max_objects_filter": max_objects}, None)
    attrs["preprocess"] = schema.preprocess
    read = skipped = 0
    buf: dict[str, list] = {"test": [], "train": []}
    kept = 0
    num_entities = None
    with H5Writer(out, attrs) as writer:
        def flush(split: str) -> None:
            rows = buf[split]
            if rows:
                writer.append_arrays(split, np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows]),
                                     np.stack([r[2] for r in rows]))
                rows.clear()

        for example in examples:
            if limit is not None and read >= limit:
                break
            where = f"{src}: record {read}"
            read += 1
            row = example_to_row(schema, example, where)
            k = row[1].shape[0]
            if num_entities is None:
                num_entities = k
            elif k != num_entities:
                raise DataError(f"{where}: {k} mask entities, earlier records had {num_entities}")
            visible = row[2][1:, -1] > 0.5
            if max_objects is not None and int(visible.sum()) > max_objects:
                skipped += 1
                continue
            if disc and visible.any():
                max_code[disc] = np.maximum(max_code[disc], row[2][1:][visible][:, disc].max(axis=0))
            split = "test" if kept < num_test else "train"
            kept += 1
            buf[split].append(row)
            if len(buf[split]) >= batch:
                flush(split)
        flush("test")
        flush("train")
        if read == 0:
            raise DataError(f"{src}: no records")
        for j in disc:
            need = int(max_code[j]) + 1
            if need > (specs[j].num_classes or 0):
                specs[j] = FactorSpec(specs[j].name, "discrete", need)
        writer.attrs["factor_specs"] = specs_to_json(specs)
        writer.attrs["max_objects"] = int(num_entities or 1) - 1
        rows = dict(writer.rows)
    return ConversionResult(Path(out), dataset, read, skipped, rows, specs)
