#!/usr/bin/env bash
# ansible-test bootstraps pip in each sanity venv from a get-pip script on Ansible's CI file host,
# which the lab cannot reach. Place a stand-in at the cache path it checks first: it uses the
# interpreter's own ensurepip, then installs the requested packages from PyPI with pip itself.
set -euo pipefail
PYTHON=${1:-python3}
pip_version=$("$PYTHON" - <<'PY'
from types import SimpleNamespace
from ansible_test._internal.python_requirements import get_venv_packages
import sys
print(get_venv_packages(SimpleNamespace(version=f"{sys.version_info[0]}.{sys.version_info[1]}"))["pip"])
PY
)
cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
mkdir -p "$(dirname "$cache")"
cat > "$cache" <<'PY'
"""Offline stand-in for get-pip.py, written by tests/lab/ansible-test-offline.sh."""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
PY
echo "[lab] ansible-test pip $pip_version bootstrap stand-in at $cache"
