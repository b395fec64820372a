#!/usr/bin/env bash
# lattice-chat's startup with a warm store: from launching the binary to
# the room list on screen, for an account in ROOMS rooms (default 100).
#
#   cargo build --release -p lattice-homeserver -p lattice-tui
#   bench/scripts/tui_startup.sh [ROOMS] [RUNS]
#
# A release `lattice` on a throwaway SQLite folder; the rooms are made over
# the client API with curl; lattice-chat signs in once in tmux (its store
# then holds the rooms), then is started RUNS times (default 9) while the
# pane is read every few milliseconds until the first room's line shows.
# The figure includes tmux's own start and the reading's granularity
# (capture-pane takes 2-4 ms here), so it is an upper bound.
set -euo pipefail
cd "$(dirname "$0")/../.."
rooms=${1:-100}
runs=${2:-9}
. "$(dirname "$0")/lib.sh"
start_server

token=$(register alice)
for i in $(seq -f "%03g" 1 "$rooms"); do
  room=$(curl -fsS -X POST "$url/_matrix/client/v3/createRoom" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -d "{\"name\":\"room-$i\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["room_id"])')
  curl -fsS -X PUT "$url/_matrix/client/v3/rooms/$room/send/m.room.message/t$i" \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "{\"msgtype\":\"m.text\",\"body\":\"hello from room $i\"}" >/dev/null
done


# The first start signs in and fills the store.
chat_signed_in
wait_for "# room-"
sleep 2
tmux -L "$socket" send-keys -t chat C-c
while tmux -L "$socket" has-session -t chat 2>/dev/null; do sleep 0.05; done

# Warm starts: the store has the session and the rooms.
times=()
for _ in $(seq 1 "$runs"); do
  start=$(date +%s%N)
  tmux -L "$socket" -u new-session -d -s chat -x 120 -y 40 "$chat"
  until screen | grep -q -- "# room-"; do :; done
  end=$(date +%s%N)
  times+=($(( (end - start) / 1000000 )))
  tmux -L "$socket" send-keys -t chat C-c
  while tmux -L "$socket" has-session -t chat 2>/dev/null; do sleep 0.05; done
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n | tr '\n' ' ')
echo "rooms: $rooms; warm starts to a room list on screen (ms, sorted): $sorted"
