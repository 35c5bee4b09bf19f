# Shared by .ci/start and .ci/test. The Cargo target dir lives outside the clone so a fresh clone
# (CI) reuses an earlier build when one is there; it still works when the folder is empty.
export KEYHOLD_CACHE="${KEYHOLD_CACHE:-$HOME/.cache/keyhold}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KEYHOLD_CACHE/target}"
export PATH="$HOME/.cargo/bin:$PATH"
