# find_python X.Y: the path of a working Python X.Y (pyenv's newest X.Y.*, else pythonX.Y on PATH),
# or nothing. Sourced by .ci/pythons.
find_python() {
  local version="$1" candidate
  local root
  root="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"
  for candidate in $(ls -d "$root/versions/$version".* 2>/dev/null | sort -V -r) ; do
    if "$candidate/bin/python$version" -c "import venv, ensurepip" 2>/dev/null; then
      echo "$candidate/bin/python$version"
      return
    fi
  done
  # a bare pyenv shim fails unless a version is selected: the check weeds it out
  candidate="$(command -v "python$version" || true)"
  if [ -n "$candidate" ] && "$candidate" -c "import venv, ensurepip" 2>/dev/null; then
    echo "$candidate"
  fi
}
