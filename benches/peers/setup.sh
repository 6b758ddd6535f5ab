# Sourced by the peer benchmarks: installs and builds what they run (nginx and
# wrk from Debian, Throng's bench binaries, Goose from crates.io, Locust from
# PyPI), each only if missing. Expects to run from the repository root.
for tool in nginx wrk taskset; do
  command -v "$tool" >/dev/null || {
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get install -y -qq nginx wrk util-linux >/dev/null
  }
done
cargo build --release --quiet -p throng-benches --bins
(cd benches/peers/goose && CARGO_TARGET_DIR="$PWD/../../../target/goose" cargo build --release --quiet)
if [ ! -x target/locust-venv/bin/locust ]; then
  python3 -m venv target/locust-venv
  target/locust-venv/bin/pip install -q locust
fi
