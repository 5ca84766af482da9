# A throwaway PostgreSQL server for the test suite and the benchmarks: sourced by
# .ci/run and .ci/with-postgres, run as `bash .ci/postgres.sh start DIR` / `stop DIR`
# by bench/postgres.py.
#
# initdb into DIR (a fresh temporary directory), trust authentication on the loopback
# address only (initdb's default pg_hba.conf has no other host lines), a free TCP port
# on 127.0.0.1, no password. As root (CI), the server runs as the `postgres` user,
# since initdb refuses root. Where initdb/pg_ctl are missing and apt-get can install
# them (CI, root), Debian's `postgresql` package is installed first.

# where Debian's packages put each major version's server binaries
PG_LIB_DIR="${PG_LIB_DIR:-/usr/lib/postgresql}"

pg_bin_dir() {
    local candidate
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return 0
    fi
    for candidate in $(ls -d "$PG_LIB_DIR"/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$candidate/initdb" ] && [ -x "$candidate/pg_ctl" ]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

pg_install() {
    # Debian's server package; only as root, where apt-get works
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 1
    echo "postgres.sh: installing Debian's postgresql package" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
}

pg_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# as_owner CMD...: run as the user who owns the data directory
pg_as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# pg_start DIR: start a server in DIR; prints its URL on stdout
pg_start() {
    local dir="$1" bin port
    bin="$(pg_bin_dir)" || { pg_install && bin="$(pg_bin_dir)"; } || {
        echo "postgres.sh: no PostgreSQL server binaries (initdb, pg_ctl) found" >&2
        return 1
    }
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
        chown postgres "$dir" || return 1
    fi
    chmod 700 "$dir"
    pg_as_owner "$bin/initdb" -D "$dir/data" -A trust -U gpucm -E UTF8 --locale=C.UTF-8 \
        --no-sync >"$dir/initdb.log" 2>&1 || {
        echo "postgres.sh: initdb failed:" >&2
        tail -5 "$dir/initdb.log" >&2
        return 1
    }
    port="$(pg_free_port)"
    # A throwaway server: durability off (its data dies with the run), a socket in DIR
    # and 127.0.0.1 only.
    pg_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off \
-c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >/dev/null || {
        echo "postgres.sh: the server did not start:" >&2
        tail -5 "$dir/server.log" >&2
        return 1
    }
    echo "$bin" >"$dir/bin"
    pg_as_owner "$bin/psql" -q -h 127.0.0.1 -p "$port" -U gpucm -d postgres \
        -c "CREATE DATABASE gpucm_test" >/dev/null || return 1
    echo "postgresql://gpucm@127.0.0.1:$port/gpucm_test"
}

# pg_stop DIR: stop the server started in DIR and remove DIR
pg_stop() {
    local dir="$1" bin
    [ -d "$dir" ] || return 0
    if [ -f "$dir/bin" ] && [ -f "$dir/data/postmaster.pid" ]; then
        bin="$(cat "$dir/bin")"
        pg_as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    case "${1:-}" in
        start) pg_start "$2" ;;
        stop) pg_stop "$2" ;;
        *) echo "usage: bash .ci/postgres.sh start|stop DIR" >&2; exit 2 ;;
    esac
fi
