#!/usr/bin/env bash
# Start the sandbox's background services and wait until each one answers:
#
#   postgres     PostgreSQL 15 on localhost:5432 (user postgres, trust auth)
#   redis        Redis on localhost:6379
#   mailcatcher  MailCatcher, SMTP on 1025, web UI on 1080
#   caddy        dev-server preview proxy on $PREVIEW_PORT (20000)
#   docker       Docker daemon
#
# Services that already answer are left alone, so the script is safe to run again.
# Exits 0 when every service answers, 1 when one does not (its log tail is printed).
#
# Usage: start-services.sh [--check | --foreground | --help]
#   --check       only report whether every service answers (exit 0 / 1)
#   --foreground  start everything, then keep running (container main process)
#
# Environment:
#   START_SERVICES           services to handle (default: "postgres redis mailcatcher caddy docker")
#   START_SERVICES_TIMEOUT   seconds to wait for each service (default: 60)
#   START_SERVICES_LOG       log file (default: /var/log/start-services.log)
#   CADDYFILE                Caddy config (default: /etc/caddy/Caddyfile)
#   PREVIEW_PORT, PREVIEW_UPSTREAM   passed to Caddy (see the Caddyfile)

set -uo pipefail

export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

readonly PG_MAJOR=15
readonly PG_PORT=5432
readonly REDIS_PORT=6379
readonly SMTP_PORT=1025
readonly MAILCATCHER_HTTP_PORT=1080

SERVICES="${START_SERVICES:-postgres redis mailcatcher caddy docker}"
TIMEOUT="${START_SERVICES_TIMEOUT:-60}"
LOG_FILE="${START_SERVICES_LOG:-/var/log/start-services.log}"
PREVIEW_PORT="${PREVIEW_PORT:-20000}"
export PREVIEW_PORT
CADDYFILE="${CADDYFILE:-/etc/caddy/Caddyfile}"

MODE=start
case "${1:-}" in
    "") ;;
    --check) MODE=check ;;
    --foreground) MODE=foreground ;;
    -h | --help)
        sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "start-services: unknown argument: $1 (try --help)" >&2
        exit 64
        ;;
esac

if ! [[ "$TIMEOUT" =~ ^[0-9]+$ ]] || [ "$TIMEOUT" -lt 1 ]; then
    echo "start-services: START_SERVICES_TIMEOUT must be a positive number of seconds, got '$TIMEOUT'" >&2
    exit 64
fi

# Services need root; the E2B default user has passwordless sudo.
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        exec sudo -n \
            --preserve-env=START_SERVICES,START_SERVICES_TIMEOUT,START_SERVICES_LOG,CADDYFILE,PREVIEW_PORT,PREVIEW_UPSTREAM \
            -- "$(readlink -f "$0")" "$@"
    fi
    echo "start-services: must run as root or with passwordless sudo" >&2
    exit 1
fi

mkdir -p "$(dirname "$LOG_FILE")"

log() {
    local line
    line="$(date -u '+%Y-%m-%dT%H:%M:%SZ') start-services: $*"
    printf '%s\n' "$line"
    printf '%s\n' "$line" >>"$LOG_FILE" 2>/dev/null || true
}

# Print the last lines of a service's own log, to explain a failure.
log_tail() {
    local file=$1
    if [ -r "$file" ]; then
        log "last lines of $file:"
        tail -n 20 "$file" | while IFS= read -r line; do log "  $line"; done
    fi
}

# Run a command with its output appended to the log file.
run_logged() {
    "$@" >>"$LOG_FILE" 2>&1 </dev/null
}

# Start a long-running process in its own session, detached from this script, so it
# survives the script exiting and the caller's process group being killed.
spawn() {
    local logfile=$1
    shift
    setsid -f "$@" >>"$logfile" 2>&1 </dev/null
}

# --- health checks: each returns 0 when the service answers -----------------------------

postgres_ok() {
    pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 2
}

redis_ok() {
    [ "$(timeout 3 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]
}

mailcatcher_ok() {
    curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:${MAILCATCHER_HTTP_PORT}/" 2>/dev/null
}

# Any HTTP answer will do: without a dev server behind it the proxy answers 502.
caddy_ok() {
    curl -sS -o /dev/null --max-time 2 "http://127.0.0.1:${PREVIEW_PORT}/" 2>/dev/null
}

docker_ok() {
    timeout 5 docker info >/dev/null 2>&1
}

# --- starters ----------------------------------------------------------------------------

postgres_log() { echo "/var/log/postgresql/postgresql-${PG_MAJOR}-main.log"; }
start_postgres() {
    install -d -o postgres -g postgres -m 2775 /var/run/postgresql
    run_logged pg_ctlcluster "$PG_MAJOR" main start
}

redis_log() { echo /var/log/redis/redis-server.log; }
start_redis() {
    install -d -o redis -g redis -m 0755 /var/run/redis /var/log/redis /var/lib/redis
    run_logged runuser -u redis -- redis-server /etc/redis/redis.conf \
        --daemonize yes \
        --supervised no \
        --bind 127.0.0.1 \
        --port "$REDIS_PORT" \
        --pidfile /var/run/redis/redis-server.pid \
        --logfile /var/log/redis/redis-server.log \
        --dir /var/lib/redis
}

mailcatcher_log() { echo /var/log/mailcatcher.log; }
start_mailcatcher() {
    # 0.0.0.0 so the web UI can be reached through the sandbox's public port URL.
    spawn "$(mailcatcher_log)" runuser -u nobody -- mailcatcher \
        --foreground \
        --no-quit \
        --ip 0.0.0.0 \
        --smtp-port "$SMTP_PORT" \
        --http-port "$MAILCATCHER_HTTP_PORT"
}

caddy_log() { echo /var/log/caddy/preview.log; }
start_caddy() {
    install -d -o caddy -g caddy -m 0755 /var/log/caddy
    spawn "$(caddy_log)" runuser -u caddy -- \
        caddy run --config "$CADDYFILE" --adapter caddyfile
}

docker_log() { echo /var/log/dockerd.log; }
start_docker() {
    local pid
    # A pid file left by a previous boot keeps dockerd from starting.
    if [ -f /var/run/docker.pid ]; then
        pid="$(cat /var/run/docker.pid 2>/dev/null || true)"
        if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
            rm -f /var/run/docker.pid
        fi
    fi
    spawn "$(docker_log)" dockerd
}

# --- main ----------------------------------------------------------------------------------

known_service() {
    case "$1" in
        postgres | redis | mailcatcher | caddy | docker) return 0 ;;
        *) return 1 ;;
    esac
}

# service_ok / service_start / service_log NAME dispatch to the functions above.
service_ok() {
    case "$1" in
        postgres) postgres_ok ;;
        redis) redis_ok ;;
        mailcatcher) mailcatcher_ok ;;
        caddy) caddy_ok ;;
        docker) docker_ok ;;
        *) return 1 ;;
    esac
}

service_start() {
    case "$1" in
        postgres) start_postgres ;;
        redis) start_redis ;;
        mailcatcher) start_mailcatcher ;;
        caddy) start_caddy ;;
        docker) start_docker ;;
        *) return 1 ;;
    esac
}

service_log() {
    case "$1" in
        postgres) postgres_log ;;
        redis) redis_log ;;
        mailcatcher) mailcatcher_log ;;
        caddy) caddy_log ;;
        docker) docker_log ;;
        *) return 1 ;;
    esac
}

read -r -a services <<<"$SERVICES"
for service in "${services[@]}"; do
    if ! known_service "$service"; then
        log "unknown service '$service' in START_SERVICES"
        exit 64
    fi
done

if [ "$MODE" = check ]; then
    status=0
    for service in "${services[@]}"; do
        if service_ok "$service"; then
            echo "$service: up"
        else
            echo "$service: down"
            status=1
        fi
    done
    exit "$status"
fi

log "starting: ${services[*]} (timeout ${TIMEOUT}s each)"

# Start everything first, then wait, so slow services start in parallel.
for service in "${services[@]}"; do
    if service_ok "$service"; then
        log "$service is already running"
    elif service_start "$service"; then
        log "$service starting"
    else
        log "$service: start command failed (exit $?)"
    fi
done

failed=()
for service in "${services[@]}"; do
    deadline=$((SECONDS + TIMEOUT))
    until service_ok "$service"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            break
        fi
        sleep 1
    done
    if service_ok "$service"; then
        log "$service is up"
    else
        log "$service did not answer within ${TIMEOUT}s"
        log_tail "$(service_log "$service")"
        failed+=("$service")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    log "FAILED: ${failed[*]} (see $LOG_FILE)"
    exit 1
fi
log "all services are up"

if [ "$MODE" = foreground ]; then
    trap 'log "stopping"; exit 0' TERM INT
    while :; do
        sleep 3600 &
        wait "$!"
    done
fi
exit 0
