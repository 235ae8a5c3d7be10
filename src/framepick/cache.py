"""On-disk cache of per-source decode+embed results, so reruns and killed runs resume.

One entry per source, keyed by the sha256 of

- the cache format version,
- the source's kind and absolute path,
- the identity of every file it reads (absolute path, size, ``st_mtime_ns``, ``st_mode``;
  a video has one file, a frame folder one per image),
- the run's resolved model signature (model, input size, the engine that really runs; see
  :class:`~framepick.models.resolved.ResolvedModel`) and the stride mask, or, without a model,
  the decode size (:meth:`framepick.scan.ScanRequest.cache_key`).

An entry stores the *raw* (un-normalised) embeddings, the digests of the decoded pixels, the
timestamps, the frame statistics (sharpness, luminance, contrast) and the per-frame and
per-source errors: everything :class:`SourceFrames` holds but the scan's thumbnails, so a
cached source needs neither decoding nor the model. Entries are written atomically
(a temporary file, then :func:`os.replace`) as soon as a source is complete, so a run killed
mid-way keeps the sources already done. A changed file (size, modification time, or
permissions) gets a new key and is decoded again; an unreadable entry is a miss.

:class:`CachedExecutor` puts the cache in front of any executor: it loads the hits, has the
inner executor scan the rest and stores what comes back, all under the one resolved identity.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._fsutil import atomic_open
from ._log import logger
from .discover import Source
from .scan import Executor, Progress, ScanRequest, SourceDone, SourceFrames

if TYPE_CHECKING:
    from .models.resolved import ResolvedModel

__all__ = ["CACHE_VERSION", "CachedExecutor", "EmbeddingCache", "default_cache_dir", "resolve_cache_dir"]

# 5: per-frame metadata (sharpness, luminance, contrast); 4: JPEG frames decoded at reduced scale,
# their digest from the file bytes; 3: the embedded mask is stored; 2: FFmpeg's default error
# handling (indices as a plain decode), damaged frames
CACHE_VERSION = 6


def default_cache_dir() -> Path:
    """``$FRAMEPICK_CACHE_DIR``, else ``$XDG_CACHE_HOME/framepick``, else ``~/.cache/framepick``."""
    explicit = os.environ.get("FRAMEPICK_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "framepick"
    return Path.home() / ".cache" / "framepick"


def resolve_cache_dir(value: str | None) -> Path | None:
    """The folder a ``cache_dir`` setting means: ``auto`` -> the default, ``None`` -> no cache."""
    if value is None:
        return None
    if value == "auto":
        return default_cache_dir()
    return Path(value).expanduser()


def _file_identity(path: Path) -> list[Any]:
    st = os.stat(path)
    return [str(path.absolute()), st.st_size, st.st_mtime_ns, st.st_mode]


class EmbeddingCache:
    """Per-source :class:`SourceFrames` under ``root/v{version}/``, for one engine signature."""

    def __init__(self, root: Path, signature: str) -> None:
        self.root = Path(root) / f"v{CACHE_VERSION}"
        self.signature = signature

    def key(self, source: Source) -> str | None:
        """The entry's key, or None when a file cannot even be stat'ed (never cached)."""
        files = source.files if source.files else (source.path,)
        try:
            identity = [_file_identity(f) for f in files]
        except OSError:
            return None
        payload = [CACHE_VERSION, source.kind, str(source.path.absolute()), identity, self.signature]
        return hashlib.sha256(json.dumps(payload).encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def load(self, source: Source) -> SourceFrames | None:
        key = self.key(source)
        if key is None:
            return None
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if meta["signature"] != self.signature or meta["version"] != CACHE_VERSION:
                    return None
                pts_known = data["pts_known"]
                return SourceFrames(
                    embeddings=np.asarray(data["embeddings"], np.float32),
                    digests=[bytes.fromhex(h) for h in data["digests"].tolist()],
                    pts=[int(p) if k else None for p, k in zip(data["pts"].tolist(), pts_known.tolist())],
                    seconds=[None if np.isnan(s) else float(s) for s in data["seconds"].tolist()],
                    frame_errors={int(k): v for k, v in meta["frame_errors"].items()},
                    frame_suspects={int(k): v for k, v in meta["frame_suspects"].items()},
                    error=meta["error"],
                    embedded=np.asarray(data["embedded"], bool),
                    metadata=np.asarray(data["metadata"], np.float64),
                )
        except Exception as exc:  # a damaged entry is a miss, never a failure
            logger.debug("cache entry %s unreadable (%s); decoding %s again", path, exc, source.name)
            return None

    def store(self, source: Source, result: SourceFrames) -> bool:
        """Write the entry atomically; False (and a debug log line) when it cannot be written."""
        key = self.key(source)
        if key is None:
            return False
        path = self._path(key)
        meta = {
            "version": CACHE_VERSION,
            "signature": self.signature,
            "source": source.name,
            "frame_errors": {str(k): v for k, v in result.frame_errors.items()},
            "frame_suspects": {str(k): v for k, v in result.frame_suspects.items()},
            "error": result.error,
        }
        try:
            with atomic_open(path, "wb") as fh:
                np.savez(
                    fh,
                    meta=np.array(json.dumps(meta)),
                    embeddings=np.asarray(result.embeddings, np.float32),
                    digests=np.array([d.hex() for d in result.digests], dtype=f"<U{32}"),
                    pts=np.array([0 if p is None else p for p in result.pts], np.int64),
                    pts_known=np.array([p is not None for p in result.pts], bool),
                    seconds=np.array([np.nan if s is None else s for s in result.seconds], np.float64),
                    embedded=np.asarray(result.embedded, bool),
                    metadata=np.asarray(result.metadata, np.float64),
                )
            return True
        except OSError as exc:
            logger.warning("cannot write the embedding cache at %s: %s", self.root, exc)
            return False


class CachedExecutor:
    """``inner`` with the embedding cache under ``root`` in front: the sources cached under the
    request's key (the resolved model's signature and the stride mask) are loaded, the rest
    are scanned by ``inner`` and stored as each completes (in a thread of its own: with many
    small sources, writing them in the model's thread cost a sixth of the stage)."""

    def __init__(self, inner: Executor, root: Path) -> None:
        self.inner, self.root = inner, Path(root)
        self._looked_up: tuple[ScanRequest, str, list[SourceFrames | None]] | None = None

    @property
    def loads_here(self) -> bool:
        return self.inner.loads_here

    def lookup(self, request: ScanRequest, model: ResolvedModel | None) -> list[SourceFrames | None]:
        """Each source's cached result under ``model``'s identity, None where it is not cached
        (kept for the :meth:`scan` of the same request and model that follows)."""
        key = request.cache_key(model)
        last = self._looked_up
        if last is not None and last[0] is request and last[1] == key:
            return last[2]
        cache = EmbeddingCache(self.root, key)
        found = [cache.load(source) for source in request.sources]
        self._looked_up = (request, key, found)
        return found

    def missing(self, request: ScanRequest, model: ResolvedModel | None) -> list[int]:
        """The sources not cached under ``model``'s identity: what scanning with it would decode."""
        return [i for i, r in enumerate(self.lookup(request, model)) if r is None]

    def scan(
        self,
        request: ScanRequest,
        model: ResolvedModel | None,
        on_source_done: SourceDone | None = None,
        progress: Progress | None = None,
    ) -> list[SourceFrames]:
        cache = EmbeddingCache(self.root, request.cache_key(model))
        results = list(self.lookup(request, model))
        self._looked_up = None
        todo = [i for i, r in enumerate(results) if r is None]
        logger.info("cache %s: %d of %d sources cached", cache.root, len(results) - len(todo), len(results))
        if not todo:
            return [r for r in results if r is not None]
        stored: list[Future[bool]] = []
        with ThreadPoolExecutor(1, thread_name_prefix="framepick-cache") as writer:

            def done(j: int, result: SourceFrames) -> None:
                stored.append(writer.submit(cache.store, request.sources[todo[j]], result))
                if on_source_done is not None:
                    on_source_done(todo[j], result)

            fresh = self.inner.scan(request.subset(todo), model, done, progress)
        for future in stored:
            future.result()  # a failure to write is logged by the cache; anything else is raised here
        for i, result in zip(todo, fresh):
            results[i] = result
        return [r for r in results if r is not None]
