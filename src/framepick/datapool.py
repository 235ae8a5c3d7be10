"""The datapool: a folder that remembers every sequence selected so far, across runs.

A run with ``datapool=DIR`` treats the pool's items as already selected: diversity continues
from their embeddings (so nothing near them is picked again), sequences holding a frame that
is already in the pool are not candidates, and ``n_samples`` counts new frames only. When the
run has written its outputs, its new picks are appended. A frame is "in the pool" by its
content digest (the one the duplicate check uses), not by its name: names are relative to an
input folder, and two weeks of recordings both hold a ``cam0.mp4``.

The pool is one file, ``DIR/datapool.npz`` (embeddings + a JSON description), replaced
atomically: a reader, or a run that is killed, sees the old pool or the new one, never a
mix. A pool is tied to the embedding space it was built in (:attr:`Datapool.signature`: the
model and its input size, or the precomputed embeddings' dimension); a run in another
space is refused, because distances between the two would mean nothing. Two runs appending
to one pool at the same time are not coordinated: the later append wins.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._fsutil import atomic_open
from .errors import DatapoolError

__all__ = ["POOL_FILE", "Datapool", "PoolItem", "open_datapool", "run_record"]

POOL_FILE = "datapool.npz"
_VERSION = 1


@dataclass(frozen=True)
class PoolItem:
    """One selected sequence: its frames, its source and the run (index into ``runs``) that added it."""

    frame_names: tuple[str, ...]
    video_name: str
    run: int
    frame_digests: tuple[str, ...] = ()  # hex content digests of the frames, what a later run matches on


@dataclass
class Datapool:
    """Everything selected so far; row ``i`` of ``embeddings`` is ``items[i]``."""

    folder: Path
    signature: str
    embeddings: np.ndarray  # (P, D) float32, the sequence embeddings as they were selected
    items: list[PoolItem] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)  # when and from where each run added items

    def __len__(self) -> int:
        return len(self.items)

    @property
    def path(self) -> Path:
        return self.folder / POOL_FILE

    def check_dim(self, dim: int) -> None:
        """Refuse embeddings of another dimension than the pool's."""
        if len(self) and self.embeddings.shape[1] != dim:
            raise DatapoolError(
                f"datapool '{self.folder}' holds {self.embeddings.shape[1]}-dim embeddings, this run's have {dim}: "
                "use the pool's model settings or another datapool folder"
            )

    def frame_digests(self) -> set[str]:
        return {digest for item in self.items for digest in item.frame_digests}

    def append(
        self, embeddings: np.ndarray, items: Sequence[tuple[Sequence[str], str, Sequence[str]]], run: dict[str, Any]
    ) -> None:
        """Add one run's picks, ``(frame names, video name, frame digests)`` each, and write the pool
        at once (atomic replace); nothing is written for no picks."""
        if len(items) == 0:
            return
        new = np.asarray(embeddings, np.float32).reshape(len(items), -1)
        merged = np.concatenate([self.embeddings.reshape(-1, new.shape[1]), new])
        index = len(self.runs)
        added = [PoolItem(tuple(names), video, index, tuple(digests)) for names, video, digests in items]
        all_items = self.items + added
        runs = [*self.runs, dict(run, items=len(items))]
        _write(self.path, self.signature, merged, all_items, runs)
        self.embeddings, self.items, self.runs = merged, all_items, runs


def _write(
    path: Path, signature: str, embeddings: np.ndarray, items: list[PoolItem], runs: list[dict[str, Any]]
) -> None:
    meta = {
        "version": _VERSION,
        "signature": signature,
        "dim": int(embeddings.shape[1]),
        "runs": runs,
        "items": [
            {
                "frame_names": list(i.frame_names),
                "video_name": i.video_name,
                "run": i.run,
                "frame_digests": list(i.frame_digests),
            }
            for i in items
        ],
    }
    with atomic_open(path, "wb") as fh:
        np.savez(fh, meta=np.array(json.dumps(meta)), embeddings=embeddings)


def open_datapool(folder: str | Path, signature: str, dim: int | None = None) -> Datapool:
    """The pool in ``folder`` (empty when there is none yet), checked against this run's embedding
    space (``dim`` None: the signature only, e.g. before the embeddings exist)."""
    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise DatapoolError(f"datapool '{folder}' is not a folder: give a folder (it is created when missing)")
    path = root / POOL_FILE
    if not path.is_file():
        return Datapool(root, signature, np.zeros((0, dim or 0), np.float32))
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            embeddings = np.asarray(data["embeddings"], np.float32)
        items = [
            PoolItem(tuple(i["frame_names"]), str(i["video_name"]), int(i["run"]), tuple(i["frame_digests"]))
            for i in meta["items"]
        ]
        runs = list(meta["runs"])
        stored, version = str(meta["signature"]), int(meta["version"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatapoolError(
            f"datapool file '{path}' cannot be read ({type(exc).__name__}): move it away to start a new pool"
        ) from None
    if version != _VERSION:
        raise DatapoolError(f"datapool '{folder}' was written by another framepick version (format {version})")
    if stored != signature or (dim is not None and embeddings.shape[1:] != (dim,)):
        raise DatapoolError(
            f"datapool '{folder}' was built with {stored} ({embeddings.shape[1]}-dim embeddings), this run uses "
            f"{signature} ({dim or embeddings.shape[1]}-dim): distances between the two mean nothing; "
            "use the pool's model settings or another datapool folder"
        )
    if len(items) != len(embeddings):
        raise DatapoolError(
            f"datapool file '{path}' is inconsistent ({len(items)} items, {len(embeddings)} embeddings)"
        )
    return Datapool(root, signature, embeddings, items, runs)


def run_record(input_dir: str, output_dir: str) -> dict[str, Any]:
    """What the pool remembers of the run that adds items."""
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    return {"time": now, "input_dir": input_dir, "output_dir": output_dir}
