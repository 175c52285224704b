#!/bin/sh
# provision-guest.sh <instance-id> <health-timeout-seconds> [nowait]: runs inside a vmdemo guest as
# root, from the folder vm-setup sent over SSH (gateway.env, openclaw.json, openclaw.service,
# browser). Installs the gateway's secrets (0600), its config and its systemd service (synced to
# disk, so they survive the VM being killed), starts it and waits until the gateway answers /health
# on the guest's own port 18789, unless `nowait`. The folder is removed at the end.
set -eu
id="$1"
timeout="$2"
wait="${3:-wait}"
src=$(dirname "$0")
trap 'rm -rf "$src"' EXIT

install -d -m 0700 /etc/openclaw
install -m 0600 "$src/gateway.env" /etc/openclaw/gateway.env
install -d -m 0700 -o openclaw -g openclaw /home/openclaw/.openclaw
install -m 0600 -o openclaw -g openclaw "$src/openclaw.json" /home/openclaw/.openclaw/openclaw.json

if [ "$(cat "$src/browser")" = "install" ] && ! command -v chromium >/dev/null; then
  echo "provision: installing Debian's chromium for the browser tools"
  DEBIAN_FRONTEND=noninteractive apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium
fi

install -m 0644 "$src/openclaw.service" "/etc/systemd/system/openclaw-$id.service"
systemctl daemon-reload
systemctl enable "openclaw-$id.service" 2>/dev/null
sync
systemctl restart "openclaw-$id.service"
if [ "$wait" = nowait ]; then
  echo "provision: the gateway is restarting"
  exit 0
fi

waited=0
until curl -fsS -m 5 http://127.0.0.1:18789/health >/dev/null 2>&1; do
  if [ "$waited" -ge "$timeout" ]; then
    echo "provision: the gateway did not answer /health in the guest within $timeout s" >&2
    journalctl -u "openclaw-$id" -n 20 --no-pager >&2 || true
    exit 3
  fi
  if ! systemctl is-active -q "openclaw-$id.service" && [ "$(systemctl show -p NRestarts --value "openclaw-$id.service")" -gt 5 ]; then
    echo "provision: the gateway keeps failing" >&2
    journalctl -u "openclaw-$id" -n 20 --no-pager >&2 || true
    exit 3
  fi
  sleep 2
  waited=$((waited + 2))
done
echo "provision: gateway healthy in the guest after ${waited} s"
