"""Benchmarks 1 and 2: end-to-end throughput against its two limits, and against the usual way.

1. framepick end-to-end (decode, checks, embed, sequences, select, write) at default
   settings, and in the same process the two limits: decode-only (framepick's decoder:
   PyAV decode, FFmpeg scale to the model size, pixel digest) and inference-only (the same
   engine on pre-decoded frames). Target: end-to-end >= 0.85 x 1/(1/decode + 1/inference).
2. The usual way on the same input, same model and input size: every frame decoded to PNG on
   disk, a PyTorch DataLoader feeding the eager fp32 model (as the open-source ``lightly``
   embeds), the same greedy k-center (plain NumPy), the same CSV. Target: >= 6x slower.
Also: inference-only for every engine and input size (the levers), on the same frames; and
the cost of ``sequence_boundaries=shots`` (shot detection on the run's frame table) as a share
of the end-to-end time (target < 3%).

    PYTHONPATH=src python3 benchmarks/bench_throughput.py            # default size
    PYTHONPATH=src python3 benchmarks/bench_throughput.py --smoke    # seconds, correctness only
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common


def decode_only(sources, size: int) -> tuple[float, np.ndarray, int]:  # type: ignore[no-untyped-def]
    from framepick.decode import decoder_for

    kept = []
    n = 0
    start = time.perf_counter()
    for source in sources:
        for frame in decoder_for(source).frames(source, size):
            if len(kept) < 640:
                kept.append(frame.pixels)
            n += 1
    return n / (time.perf_counter() - start), np.stack(kept), n


def inference_only(embedder, pixels: np.ndarray, batch: int = 32) -> float:  # type: ignore[no-untyped-def]
    embedder.embed(pixels[:batch])  # warm-up (first call allocates, JIT-selects kernels)
    start = time.perf_counter()
    for begin in range(0, len(pixels), batch):
        embedder.embed(pixels[begin : begin + batch])
    return len(pixels) / (time.perf_counter() - start)


def shot_detection(result, e2e_time: float) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """What ``sequence_boundaries=shots`` adds to a run: detecting the shots on the run's frame table
    (the fastest of three rounds), as a share of the end-to-end time; the sequences are made the
    same way in both modes."""
    from framepick.shots import detect_shots

    table = result.table
    rounds = []
    for _ in range(3):
        start = time.perf_counter()
        found = detect_shots(table.source, table.index, table.embeddings, table.embedded_mask)
        rounds.append(time.perf_counter() - start)
    return {"seconds": min(rounds), "share_of_end_to_end": min(rounds) / e2e_time, "shots": len(found)}


def usual_way(input_dir: Path, work: Path, size: int, n_select: int, workers: int) -> dict[str, float]:
    """Frames to PNG, DataLoader + eager fp32, plain NumPy k-center, %-formatted CSV."""
    import av
    import torch
    from PIL import Image

    from framepick._kcenter import kcenter_reference
    from framepick.models.efficientnet_lite import load_pretrained

    t: dict[str, float] = {}
    frames_dir = work / "frames"
    frames_dir.mkdir()
    start = time.perf_counter()
    paths = []
    for clip in sorted(input_dir.glob("*.mp4")):
        with av.open(str(clip)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                path = frames_dir / f"{clip.stem}-{i:06d}.png"
                frame.to_image().save(path)  # PIL's default PNG settings, like `ffmpeg -i clip %06d.png`
                paths.append(path)
    t["extract_png"] = time.perf_counter() - start

    class Frames(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(paths)

        def __getitem__(self, i: int) -> torch.Tensor:
            with Image.open(paths[i]) as image:
                rgb = image.convert("RGB").resize((size, size), Image.BILINEAR)
            x = torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1).float()
            return (x - 127.0) / 128.0

    start = time.perf_counter()
    model = load_pretrained().eval()  # eager fp32, batch norms as trained (no folding)
    loader = torch.utils.data.DataLoader(Frames(), batch_size=32, num_workers=workers)
    out = []
    with torch.no_grad():
        for x in loader:
            out.append(model(x).numpy())
    emb = np.concatenate(out)
    t["embed"] = time.perf_counter() - start

    start = time.perf_counter()
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    kcenter_reference(emb, n_select, int(np.random.default_rng(0).integers(len(emb))))
    t["select"] = time.perf_counter() - start

    start = time.perf_counter()
    fmt = ",".join(["%.9g"] * emb.shape[1])
    with open(work / "embeddings.csv", "w") as fh:
        fh.write(",".join(["filenames", *(f"embedding_{i}" for i in range(emb.shape[1])), "labels"]) + "\n")
        for path, row in zip(paths, emb.tolist()):
            fh.write(f"{path.name},{fmt % tuple(row)},0\n")
    t["write"] = time.perf_counter() - start
    t["total"] = sum(t.values())
    t["frames"] = len(paths)
    return t


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=3)
    ap.add_argument("--frames", type=int, default=700, help="frames per clip")
    ap.add_argument("--size", type=int, default=224, help="model input size (default: framepick's default)")
    ap.add_argument("--workers", type=int, default=1, help="DataLoader workers of the usual way")
    ap.add_argument("--no-baseline", action="store_true", help="skip the usual way")
    ap.add_argument("--no-levers", action="store_true", help="skip the per-engine / per-size table")
    ap.add_argument("--smoke", action="store_true", help="tiny input, correctness only")
    ap.add_argument("--out", help="JSON path (default benchmarks/results/throughput.json)")
    args = ap.parse_args(argv)
    width, height = 1280, 720
    if args.smoke:
        args.clips, args.frames, args.size, width, height = 1, 24, 64, 320, 180

    from framepick import discover, load_config, run
    from framepick.embed import ENGINES, create_embedder

    input_dir = common.make_input("clips", args.clips, args.frames, width, height)
    sources = discover(input_dir)
    fig: dict = {"input": {"clips": args.clips, "frames_per_clip": args.frames, "resolution": f"{width}x{height}"}}

    # 1. limits, then end-to-end
    decode_fps, pixels, n_frames = decode_only(sources, args.size)
    # cache_dir None: every run decodes and embeds (a cached rerun would measure nothing)
    cfg_words = {"stopping_condition.n_samples": 0.1, "model.input_size": args.size, "cache_dir": None}
    engine = create_embedder("auto", args.size, "cpu")
    infer_fps = inference_only(engine, pixels)
    limit = 1.0 / (1.0 / decode_fps + 1.0 / infer_fps)
    work = Path(tempfile.mkdtemp(prefix="framepick-bench-"))
    try:
        config = load_config(overrides={"input_dir": str(input_dir), "output_dir": str(work / "out"), **cfg_words})
        start = time.perf_counter()
        result = run(config)
        e2e_time = time.perf_counter() - start
        e2e_fps = n_frames / e2e_time
        assert len(result.table) == n_frames
        # the limits again after the run: on a shared machine take the better of the two
        # measurements of each (both printed in the JSON), so that a disturbed limit cannot
        # flatter the ratio
        shots = shot_detection(result, e2e_time)
        decode_fps_2, _, _ = decode_only(sources, args.size)
        infer_fps_2 = inference_only(engine, pixels)
        measured = {"decode_only_fps": [decode_fps, decode_fps_2], "inference_only_fps": [infer_fps, infer_fps_2]}
        decode_fps, infer_fps = max(decode_fps, decode_fps_2), max(infer_fps, infer_fps_2)
        limit = 1.0 / (1.0 / decode_fps + 1.0 / infer_fps)
        fig["framepick"] = {
            "engine": engine.name,
            "signature": engine.signature,
            "input_size": args.size,
            "frames": n_frames,
            "decode_only_fps": decode_fps,
            "inference_only_fps": infer_fps,
            "combined_limit_fps": limit,
            "end_to_end_fps": e2e_fps,
            "end_to_end_sec": e2e_time,
            "ratio_to_limit": e2e_fps / limit,
            "stage_sec": result.timings,
            "limit_measurements": measured,
            "shot_detection": shots,
        }
        rows = [
            ("decode only", decode_fps, ""),
            (f"inference only ({engine.name})", infer_fps, ""),
            ("combined limit", limit, ""),
            ("framepick end-to-end", e2e_fps, f"{e2e_fps / limit:.2f} x limit (target >= 0.85)"),
        ]
        # 2. the usual way
        if not args.no_baseline:
            base = usual_way(input_dir, work, args.size, max(1, n_frames // 10), args.workers)
            base_fps = base["frames"] / base["total"]
            fig["usual_way"] = {
                **base,
                "fps": base_fps,
                "speedup": e2e_fps / base_fps,
                "dataloader_workers": args.workers,
            }
            rows.append(
                (
                    "usual way (PNG + DataLoader + eager fp32)",
                    base_fps,
                    f"framepick {e2e_fps / base_fps:.1f}x faster (target >= 6)",
                )
            )
        print(common.table(rows, ("what", "frames/s", "")))
        print(
            f"shot detection (sequence_boundaries=shots): {1e3 * shots['seconds']:.1f} ms, "
            f"{100 * shots['share_of_end_to_end']:.2f}% of end-to-end (target < 3%)"
        )
        # levers: every engine x input size, inference only, same frames
        if not args.no_levers:
            from PIL import Image

            levers = []
            sizes = (args.size,) if args.smoke else (224, 160, 128)
            for size in sizes:
                resized = (
                    pixels
                    if size == pixels.shape[1]
                    else np.stack([np.asarray(Image.fromarray(p).resize((size, size), Image.BILINEAR)) for p in pixels])
                )
                for name in ENGINES:
                    if "cpu" not in ENGINES[name].devices:  # a CUDA-only engine (framepick.engines)
                        continue
                    levers.append((name, size, inference_only(create_embedder(name, size, "cpu"), resized[:320])))
            fig["inference_levers"] = [{"engine": e, "input_size": s, "images_per_sec": v} for e, s, v in levers]
            print()
            print(common.table(levers, ("engine", "input size", "images/s")))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    path = common.save("throughput" if not args.smoke else "throughput-smoke", fig, args.out)
    print(f"\nwritten {path}")
    return fig


if __name__ == "__main__":
    main()
