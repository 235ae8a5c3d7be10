#!/bin/sh
# The image's entrypoint: maps the Lightly Worker habit of `docker run IMAGE key=value ...` onto
# framepick's command line, so that
#
#   docker run ... IMAGE input_dir=/input output_dir=/output selected_sequence_length=10
#
# runs `framepick run input_dir=/input output_dir=/output selected_sequence_length=10`.
#
#   - The first word decides (options before it, and --config's file, are skipped over):
#       key=value (or only options with --config)  -> framepick run ARGS
#       run | config | report | demo               -> framepick ARGS (passed through)
#       a program on PATH (bash, python, ...)       -> that program, for debugging the image
#       anything else                               -> framepick ARGS (its own error, exit 2)
#   - No arguments, or only options such as --help or --version: framepick ARGS (help for none).
#
# exec keeps framepick as the container's main process, so `docker stop` and Ctrl-C reach it
# (framepick exits 130 on an interrupt and leaves no partial result behind).
set -eu

if [ "$#" -eq 0 ]; then
    exec framepick --help
fi

first=""
has_config=0
skip_next=0
for arg in "$@"; do
    if [ "$skip_next" -eq 1 ]; then
        skip_next=0
        continue
    fi
    case "$arg" in
        --config) has_config=1; skip_next=1 ;;
        --config=*) has_config=1 ;;
        -*) ;;
        *) first=$arg; break ;;
    esac
done

case "$first" in
    run | config | report | demo)
        exec framepick "$@" ;;
    *=*)
        exec framepick run "$@" ;;
    "")
        if [ "$has_config" -eq 1 ]; then
            exec framepick run "$@"
        fi
        exec framepick "$@" ;;
    *)
        if [ "$first" = "$1" ] && command -v -- "$first" >/dev/null 2>&1; then
            exec "$@"
        fi
        exec framepick "$@" ;;
esac
