# Shared by the scripts here: a release `lattice` on a throwaway SQLite
# folder, its address, and accounts made over the client API.
#
#   . "$(dirname "$0")/lib.sh"; start_server; token=$(register alice)
# sets: target (release binaries), work (a temporary folder), socket (a
# tmux socket name), url, server (its pid); cleans all up on exit
# (add more with the `extra_cleanup` function).

target=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
socket="bench-$$"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
server=""
extra_cleanup() { :; }
cleanup() {
  extra_cleanup
  tmux -L "$socket" kill-server 2>/dev/null || true
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

start_server() {
  LATTICE_SERVER__BIND="127.0.0.1:$port" LATTICE_SERVER__DATA_DIR="$work/server" \
    LATTICE_RATE_LIMITS__ENABLED=false LATTICE_LOGGING__LEVEL=warn \
    "$target/lattice" >"$work/server.log" 2>&1 &
  server=$!
  until curl -fs "$url/health" >/dev/null; do sleep 0.1; done
}

# Registers USER with the password "bench password"; prints the token.
register() {
  curl -fsS -X POST "$url/_matrix/client/v3/register" -H 'Content-Type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"bench password\",\"auth\":{\"type\":\"m.login.dummy\"}}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

# The tmux pane's text, and waiting until it shows a pattern.
screen() { tmux -L "$socket" capture-pane -p -t chat 2>/dev/null || true; }
wait_for() {
  until screen | grep -q -- "$1"; do sleep 0.01; done
}

# lattice-chat (release) in a tmux pane, signed in as alice: `chat` is
# the command that starts it again on the same store.
chat="env LANG=C.UTF-8 $target/lattice-chat --data-dir $work/chat"
chat_signed_in() {
  tmux -L "$socket" -u new-session -d -s chat -x 120 -y 40 "$chat --homeserver $url --user alice"
  wait_for "Sign in to"
  tmux -L "$socket" send-keys -t chat -l "bench password"
  tmux -L "$socket" send-keys -t chat Enter
  wait_for "online"
}
