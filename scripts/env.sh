# Source this file: creates (once) and activates the project's virtual environment in .venv.
# torch is installed first at the CPU build's pin; an unpinned torch would pull several GB of CUDA.
set -e
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_venv="${AUTOPERI_VENV:-$_root/.venv}"
_python="$(command -v python3.11 || command -v python3)"
if [ ! -x "$_venv/bin/python" ]; then
    echo "creating the environment in $_venv" >&2
    "$_python" -m venv "$_venv"
fi
# shellcheck disable=SC1091
source "$_venv/bin/activate"
_stamp="$_venv/.autoperi-installed"
_want="$(sha256sum "$_root/pyproject.toml" | cut -d' ' -f1)"
if [ "$(cat "$_stamp" 2>/dev/null)" != "$_want" ]; then
    echo "installing dependencies (a few minutes the first time)" >&2
    python -m pip install --quiet --upgrade pip
    python -m pip install --quiet "torch==2.13.0"
    python -m pip install --quiet -e "$_root[test]"
    python -c "import torch; assert not torch.cuda.is_available() and '+cpu' in torch.__version__, torch.__version__"
    echo "$_want" > "$_stamp"
fi
set +e
