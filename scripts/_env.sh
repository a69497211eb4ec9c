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

# Byte-compile the package for PYTHON, as pip does on install. Nothing else writes its .pyc here (this machine
# sets PYTHONDONTWRITEBYTECODE=1), so every worker process and every interpreter worker would otherwise compile
# dotbridge from source at start-up (about 10 ms). compileall skips what is up to date.
compile_package() {  # PYTHON [DIR...]
  local py="$1"
  shift
  "$py" -m compileall -q "$ROOT/python/dotbridge" "$@" >/dev/null 2>&1 || true
}

ensure_venv() {
  create_venv || return 1
  compile_package "$PY"
}

create_venv() {
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
  # copy, then rename: a running Python that mapped the old library keeps it intact (an in-place cp
  # truncates the mapped file under it: random segfaults in test runs during a republish)
  cp "$BIN/native/libdotbridge.so" "$BIN/libdotbridge.so.new" && mv -f "$BIN/libdotbridge.so.new" "$BIN/libdotbridge.so" || return 1
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

# --- interpreter workers (helper "interp"): a CPython 3.12+ environment for their tests ---------------------
# .venv is Debian's 3.11, where sub-interpreters share one GIL. If pyenv has a 3.13 (else 3.12), make
# .venv-3.13 from it (no pip: PyPI is not reachable) with a .pth to .venv-3.13/shim, a directory of links
# to the pure-Python packages it needs from Debian's dist-packages (msgpack runs on its pure-Python
# fallback; pytest, pytest-timeout and their deps), and to this repo's python/. Prints its python;
# returns 1 when there is no 3.12+ or the environment does not import.
INTERP_SHIM_PKGS="msgpack _pytest pytest pluggy iniconfig packaging attr attrs py py.py pytest_timeout.py"
find_python312() {  # [VERSION]: only that one (e.g. 3.12)
  local root="${PYENV_ROOT:-$HOME/.pyenv}" v p
  for v in ${1:-3.13 3.12}; do
    for p in $(ls -d "$root"/versions/"$v".*/bin/python"$v" 2>/dev/null | sort -V -r); do
      [ -x "$p" ] && { echo "$p"; return 0; }
    done
  done
  return 1
}
ensure_interp_venv() {  # [VERSION]
  local base ver venv shim site dist=/usr/lib/python3/dist-packages n d
  base="$(find_python312 "${1:-}")" || return 1
  ver="$("$base" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" || return 1
  venv="$ROOT/.venv-$ver"
  shim="$venv/shim"
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import dotbridge, msgpack, pytest, pytest_timeout" >/dev/null 2>&1; then
    compile_package "$venv/bin/python" "$shim/msgpack"
    echo "$venv/bin/python"
    return 0
  fi
  [ -d "$dist/msgpack" ] && [ -d "$dist/pytest" ] || return 1
  log "creating .venv-$ver from $base (interpreter workers' tests; pure-Python packages from $dist)"
  rm -rf "$venv"
  "$base" -m venv --without-pip "$venv" >/dev/null || return 1
  mkdir -p "$shim"
  for n in $INTERP_SHIM_PKGS; do
    [ -e "$dist/$n" ] && ln -sfn "$dist/$n" "$shim/$n"
  done
  # msgpack is copied, not linked: every interpreter worker imports it (its pure-Python fallback), so it is
  # byte-compiled for this Python (compile_package) without writing into Debian's dist-packages.
  rm -f "$shim/msgpack"
  mkdir -p "$shim/msgpack"
  cp "$dist"/msgpack/*.py "$shim/msgpack/"
  for d in "$dist"/{msgpack,pytest,pytest_timeout,pluggy,iniconfig,packaging,attrs,py}-*.{dist-info,egg-info}; do
    [ -e "$d" ] && ln -sfn "$d" "$shim/"
  done
  site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" || return 1
  printf '%s\n%s\n' "$shim" "$ROOT/python" > "$site/dotbridge-shim.pth"
  "$venv/bin/python" -c "import dotbridge, msgpack, pytest, pytest_timeout" >/dev/null 2>&1 || return 1
  compile_package "$venv/bin/python" "$shim/msgpack"
  echo "$venv/bin/python"
}
# ----------------------------------------------------------------------------------------------------------

# Each step returns non-zero on failure (explicitly: `set -e` is off inside `if`/`||`).
setup_all() {
  ensure_debian_packages || return 1
  ensure_venv || return 1
  ensure_dotnet_built || return 1
  ensure_compiler_built || return 1
}
