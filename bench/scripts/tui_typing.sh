#!/usr/bin/env bash
# lattice-chat's typing latency: from a key sent to its pane to the key's
# character in the composer on screen, with the room quiet and while
# another user floods the open room (every sync then brings messages the
# screen takes in and draws).
#
#   cargo build --release -p lattice-homeserver -p lattice-tui
#   bench/scripts/tui_typing.sh [KEYS]
#
# Each key is one measurement: "Q" typed, the pane read in a tight loop
# until the composer shows it, then Backspace and the same until it is
# gone. capture-pane takes 2-4 ms here, so figures are upper bounds with
# that granularity; what matters is quiet against flooded.
set -euo pipefail
cd "$(dirname "$0")/../.."
keys=${1:-100}
. "$(dirname "$0")/lib.sh"
flood=""
extra_cleanup() { if [ -n "$flood" ]; then kill "$flood" 2>/dev/null || true; fi; }
start_server

alice=$(register alice)
bob=$(register bob)
room=$(curl -fsS -X POST "$url/_matrix/client/v3/createRoom" -H "Authorization: Bearer $alice" \
  -H 'Content-Type: application/json' -d '{"name":"flooded","invite":["@bob:localhost"]}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["room_id"])')
curl -fsS -X POST "$url/_matrix/client/v3/join/$room" -H "Authorization: Bearer $bob" \
  -H 'Content-Type: application/json' -d '{}' >/dev/null

chat_signed_in
wait_for "# flooded"

# Latencies of KEYS keystrokes (typed and erased), sorted, in ms.
measure() {
  local times=() start end
  for _ in $(seq 1 "$keys"); do
    start=$(date +%s%N)
    tmux -L "$socket" send-keys -t chat -l Q
    until screen | grep -q "││Q "; do :; done
    end=$(date +%s%N)
    times+=($(( (end - start) / 100000 )))
    start=$(date +%s%N)
    tmux -L "$socket" send-keys -t chat BSpace
    while screen | grep -q "││Q "; do :; done
    end=$(date +%s%N)
    times+=($(( (end - start) / 100000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | python3 -c '
import sys
t = [int(x) / 10 for x in sys.stdin]
pick = lambda q: t[min(len(t) - 1, int(q * len(t)))]
print(f"{len(t)} keys: p50 {pick(0.5):.1f} ms, p90 {pick(0.9):.1f} ms, p99 {pick(0.99):.1f} ms, max {t[-1]:.1f} ms")'
}

echo "quiet room:"
measure

# Bob sends as fast as one connection goes, for as long as the measuring.
(
  n=0
  while :; do
    n=$((n + 1))
    curl -fsS -X PUT "$url/_matrix/client/v3/rooms/$room/send/m.room.message/f$n" \
      -H "Authorization: Bearer $bob" -H 'Content-Type: application/json' \
      -d "{\"msgtype\":\"m.text\",\"body\":\"flood message $n with **some** text\"}" >/dev/null || true
  done
) &
flood=$!
wait_for "flood message"
echo "while bob floods the room:"
measure
kill "$flood"; flood=""
sent=$(grep -c "" <(curl -fsS "$url/_matrix/client/v3/rooms/$room/messages?dir=b&limit=1000" -H "Authorization: Bearer $alice" | python3 -c 'import json,sys; [print(e["event_id"]) for e in json.load(sys.stdin)["chunk"] if e["type"] == "m.room.message"]'))
echo "messages bob sent during the measuring (up to 1000 counted): $sent"
