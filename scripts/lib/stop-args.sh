# Sourced by the stop-*.sh scripts: their common `[DIR] [--wipe]` arguments.
# stop_args DEFAULT_DIR "$@"  sets DIR (the last argument that is not --wipe, else
# DEFAULT_DIR) and WIPE (1 with --wipe, else 0).
stop_args() {
  DIR="$1"
  shift
  WIPE=0
  for a in "$@"; do
    case "$a" in
      --wipe) WIPE=1 ;;
      *) DIR="$a" ;;
    esac
  done
}
