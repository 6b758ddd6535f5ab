# What Throng's commands install on a fresh machine, idempotently: sourced by
# ops/scripts/up and .ci/run.

# Installs the Debian packages given that are missing.
install_packages() {
  local missing=()
  for package in "$@"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# Playwright's Node driver for the browser engine (.cargo/config.toml points
# playwright-rs at it); ops/browser/package.json pins the version the crate speaks.
install_browser_driver() {
  if [ ! -f ops/browser/node_modules/playwright-core/cli.js ]; then
    echo "installing the Playwright driver (npm, ops/browser)"
    (cd ops/browser && npm install --no-audit --no-fund --silent)
  fi
}
