#!/usr/bin/env bash
# Runs the Terraform structure tests: installs the HCL parser from the npm
# registry (package-lock.json pins it) when it is missing, then node's test
# runner. Needs Node 18 or newer.
set -euo pipefail
cd "$(dirname "$0")"
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 18 ]; then
  echo "node $major is too old: the tests need Node 18 or newer" >&2
  exit 1
fi
if [ ! -f node_modules/@cdktf/hcl2json/package.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
exec node --test terraform.test.mjs
