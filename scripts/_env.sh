# Shared set-up for scripts/demo, scripts/test and scripts/bench: sourced, not run.
# Makes .venv (a Python with dotbridge importable) and builds the .NET parts,
# skipping whatever is already up to date.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
BIN="$ROOT/python/dotbridge/_bin"
# Where dotnet build/test/publish put bin/ and obj/ (outside the source tree, so parallel
# builds with their own DOTBRIDGE_ARTIFACTS do not collide).
ARTIFACTS="${DOTBRIDGE_ARTIFACTS:-$ROOT/artifacts/dotnet}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

log() { echo "[setup] $*" >&2; }

# Debian packages: used where apt exists (PyPI is not reachable on the build machines).
DEB_PKGS="python3-msgpack python3-pytest python3-numpy python3-venv python3-setuptools python3-cloudpickle python3-pytest-timeout libpython3.11 libpython3.11-testsuite clang zlib1g-dev"
ensure_debian_packages() {
  command -v apt-get >/dev/null 2>&1 || return 0
  command -v dpkg >/dev/null 2>&1 || return 0
  local missing=()
  for p in $DEB_PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null || return 1
}

ensure_venv() {
  if [ -x "$PY" ] && "$PY" -c "import dotbridge, msgpack" >/dev/null 2>&1; then
    return 0
  fi
  if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import msgpack, pytest, venv" >/dev/null 2>&1; then
    log "creating .venv from Debian's python3 (system site-packages: msgpack, pytest, numpy)"
    rm -rf "$VENV"
    /usr/bin/python3 -m venv --system-site-packages "$VENV" || return 1
    "$PY" -m pip install -q --no-build-isolation --no-deps --no-index -e "$ROOT" >/dev/null || return 1
  else
    log "creating .venv and installing dependencies with pip"
    rm -rf "$VENV"
    python3 -m venv "$VENV" || return 1
    "$PY" -m pip install -q -e "$ROOT[test]" || return 1
  fi
}

# Rebuild the .NET parts when any C# source or project file is newer than the stamp.
ensure_dotnet_built() {
  local stamp="$BIN/.stamp"
  if [ -f "$stamp" ] && [ -z "$(find "$ROOT/Bridge" "$ROOT/Interop" "$ROOT/Directory.Build.props" "$ROOT/Directory.Packages.props" "$ROOT/version.txt" \
        \( -name bin -o -name obj \) -prune -o -newer "$stamp" -type f -print -quit)" ]; then
    return 0
  fi
  log "building the .NET worker and the Native AOT pool library (first time: about a minute)"
  mkdir -p "$BIN"
  # The .NET worker is ReadyToRun: spawn -> first result about 50 ms sooner (helper "dotnetworker").
  dotnet publish "$ROOT/Bridge/Bridge.csproj" -c Release -o "$BIN/worker" -p:UseAppHost=true \
    -r linux-x64 --self-contained false -p:PublishReadyToRun=true \
    --artifacts-path "$ARTIFACTS" -nologo -v q -clp:ErrorsOnly || return 1
  dotnet publish "$ROOT/Bridge/Native/Bridge.Native.csproj" -c Release -r linux-x64 -o "$BIN/native" \
    --artifacts-path "$ARTIFACTS" -nologo -v q -clp:ErrorsOnly || return 1
  cp "$BIN/native/libdotbridge.so" "$BIN/libdotbridge.so" || return 1
  touch "$stamp"
}

# --- inline C# kernels (helper "inline"): publish Bridge.Compiler (Roslyn) for dotbridge.dotnet.compile ---
# A separate console app, never part of the pool or the AOT library. ReadyToRun halves its start-up
# (first compile of a kernel: about 0.75 s instead of 1.4 s) at the price of a longer publish (about a minute).
ensure_compiler_built() {
  local stamp="$BIN/compiler/.stamp"
  if [ -f "$stamp" ] && [ -z "$(find "$ROOT/Bridge/Compiler" "$ROOT/Directory.Build.props" "$ROOT/Directory.Packages.props" "$ROOT/version.txt" \
        \( -name bin -o -name obj \) -prune -o -newer "$stamp" -type f -print -quit)" ]; then
    return 0
  fi
  log "publishing the inline C# compiler (Bridge.Compiler, ReadyToRun)"
  rm -rf "$BIN/compiler"
  dotnet publish "$ROOT/Bridge/Compiler/Bridge.Compiler.csproj" -c Release -r linux-x64 --self-contained false \
    -p:PublishReadyToRun=true -o "$BIN/compiler" --artifacts-path "$ARTIFACTS" -nologo -v q -clp:ErrorsOnly || return 1
  touch "$stamp"
}
# ----------------------------------------------------------------------------------------------------------

# Each step returns non-zero on failure (explicitly: `set -e` is off inside `if`/`||`).
setup_all() {
  ensure_debian_packages || return 1
  ensure_venv || return 1
  ensure_dotnet_built || return 1
  ensure_compiler_built || return 1
}
