#!/usr/bin/env bash
# Run the ADL xAPI LRS conformance test suite against coursewright's LRS.
#
#   scripts/lrs-conformance.sh [1.0.3|2.0.0] [extra console_runner options, e.g. -g 'Voided']
#
# By default it starts a fresh local installation (its own state directory under
# $WORK, migrated, one organisation, one xAPI credential with scope "all") served by
# granian on a free 127.0.0.1 port, runs the suite's console runner against
# <base>/xapi with HTTP Basic auth, and stops the server. To test a server that is
# already running instead, set LRS_ENDPOINT (e.g. http://127.0.0.1:8000/xapi),
# LRS_KEY and LRS_SECRET (a credential with scope "all").
#
# The suite is cloned and installed OUTSIDE the repository (default
# ${XDG_CACHE_HOME:-~/.cache}/lrs-conformance-test-suite): its code must never be
# committed here. Needs git, node and npm (it also needs network access for the clone
# and npm install). The runner writes a JSON log under the suite's logs/ directory;
# see docs/xapi.md ("Conformance") for the last results and the failures that are
# known and judged not to be LRS defects.
set -euo pipefail

VERSION="${1:-1.0.3}"
shift || true
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SUITE="${LRS_SUITE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lrs-conformance-test-suite}"
WORK="${LRS_WORK_DIR:-}"
KEEP_WORK=1
if [ -z "$WORK" ]; then WORK="$(mktemp -d -t coursewright-lrs-conformance.XXXXXX)"; KEEP_WORK=0; fi
PYTHON="$ROOT/.venv/bin/python"
GRANIAN="$ROOT/.venv/bin/granian"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "$KEEP_WORK" = 0 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

case "$SUITE" in
  "$ROOT"|"$ROOT"/*) echo "LRS_SUITE_DIR must be outside the repository" >&2; exit 2 ;;
esac

if [ ! -d "$SUITE" ]; then
  git clone --depth 1 https://github.com/adlnet/lrs-conformance-test-suite "$SUITE"
fi
if [ ! -d "$SUITE/node_modules" ]; then
  (cd "$SUITE" && npm install --no-audit --no-fund)
fi

if [ -z "${LRS_ENDPOINT:-}" ]; then
  PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  export COURSEWRIGHT_VAR_DIR="$WORK/state" DJANGO_SETTINGS_MODULE=coursewright.settings \
         COURSEWRIGHT_DEBUG=false COURSEWRIGHT_BASE_URL="http://127.0.0.1:$PORT" \
         COURSEWRIGHT_LOG_LEVEL=WARNING PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
  unset DATABASE_URL  # the embedded default (SQLite) in the fresh state directory
  mkdir -p "$COURSEWRIGHT_VAR_DIR"
  read -r LRS_KEY LRS_SECRET < <("$PYTHON" - <<'PY'
import django

django.setup()
from django.core.management import call_command

call_command("migrate", verbosity=0)
from coursewright.accounts.models import User
from coursewright.audit.actor import Actor
from coursewright.orgs.actions import create_organisation
from coursewright.tracking.credentials import issue_credential

owner = User.objects.create_user("alice@conformance.invalid", "conformance-" + "x" * 12)
org = create_organisation(name="Conformance", region="eu", owner=owner, actor=Actor.system())
credential, secret = issue_credential(org, name="ADL conformance suite", scopes=["all"],
                                      actor=Actor.person(owner))
print(credential.key, secret)
PY
)
  (cd "$COURSEWRIGHT_VAR_DIR" && exec "$GRANIAN" --interface wsgi --host 127.0.0.1 \
      --port "$PORT" --workers 1 --blocking-threads 4 --http 1 --no-ws \
      --log-level warning coursewright.wsgi:application) &
  SERVER_PID=$!
  LRS_ENDPOINT="http://127.0.0.1:$PORT/xapi"
  for _ in $(seq 60); do
    curl -fs -o /dev/null "$LRS_ENDPOINT/about" && break
    sleep 1
  done
fi
: "${LRS_KEY:?set LRS_KEY (and LRS_SECRET) for LRS_ENDPOINT}"
: "${LRS_SECRET:?set LRS_SECRET}"

echo "ADL LRS conformance suite $(git -C "$SUITE" rev-parse --short HEAD 2>/dev/null || true)" \
     "xAPI $VERSION against $LRS_ENDPOINT"
cd "$SUITE"
# -z: the log keeps only the failing tests
node bin/console_runner.js -x "$VERSION" -e "$LRS_ENDPOINT" -a -u "$LRS_KEY" \
     -p "$LRS_SECRET" -z "$@"
