#!/usr/bin/env bash
# Run a command next to a throwaway Redis server, then stop the server.
#
#   scripts/with-redis.sh CMD [ARG...]
#
# Starts redis-server on a free loopback port (no persistence, files in a temp dir),
# exports REDIS_URL=redis://127.0.0.1:PORT, runs CMD, stops the server (also when CMD
# fails or is interrupted) and exits with CMD's exit code. Without redis-server on the
# machine, CMD runs alone and notebook 07 measures only its SQLite online store.
set -uo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 CMD [ARG...]" >&2
    exit 2
fi

if ! command -v redis-server >/dev/null 2>&1; then
    echo "with-redis: redis-server not found, running without Redis" \
         "(install it: apt-get install redis-server, or brew install redis)" >&2
    exec "$@"
fi

workdir=$(mktemp -d "${TMPDIR:-/tmp}/with-redis.XXXXXX")
pidfile="$workdir/redis.pid"

stop_redis() {
    if [ -s "$pidfile" ]; then
        pid=$(cat "$pidfile")
        kill "$pid" 2>/dev/null
        for _ in $(seq 50); do  # up to 5 s for a clean shutdown
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -rf "$workdir"
}
trap stop_redis EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port=$("${PYTHON:-python3}" -c 'import socket
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])')

ready=no
if redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --daemonize yes --pidfile "$pidfile" --dir "$workdir" --logfile "$workdir/redis.log"; then
    for _ in $(seq 50); do  # up to 5 s to accept connections
        if [ -s "$pidfile" ] && "${PYTHON:-python3}" -c 'import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.2).close()' "$port" 2>/dev/null; then
            ready=yes
            break
        fi
        sleep 0.1
    done
fi

if [ "$ready" = yes ]; then
    export REDIS_URL="redis://127.0.0.1:$port"
else
    echo "with-redis: redis-server did not start, running without Redis" >&2
    if [ -s "$workdir/redis.log" ]; then cat "$workdir/redis.log" >&2; fi
fi

"$@"
