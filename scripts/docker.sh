#!/usr/bin/env bash
# A Docker daemon for the container tests, the image gate's tests and the benchmarks.
#
#   scripts/docker.sh start [DOCKERD-ARGS...]  install Debian's docker.io and busybox-static if
#                                              missing; start dockerd unless one already answers
#   scripts/docker.sh images                   build the test images locally (no registry)
#   scripts/docker.sh stop                     stop the dockerd this script started, remove its state
#   scripts/docker.sh restart [DOCKERD-ARGS...]
#   scripts/docker.sh status
#
# The daemon started here keeps its state under $NETAUDIT_DOCKER_DIR (default
# /tmp/netaudit-docker: data root, exec root, pid file, log) and serves the usual socket,
# /var/run/docker.sock, so that the collection finds it where it finds any Docker. A daemon that
# was already running is used as it is and never stopped. It needs no systemd.
set -euo pipefail
state=${NETAUDIT_DOCKER_DIR:-/tmp/netaudit-docker}
sock=/var/run/docker.sock
log=/tmp/netaudit-docker-apt.log

answers() { docker -H "unix://$sock" info >/dev/null 2>&1; }

install() {
  local need=()
  command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
  command -v docker >/dev/null 2>&1 || need+=(docker.io)
  # busybox-static's binary runs in an empty image (Debian's plain busybox is linked dynamically)
  dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
  if [ ${#need[@]} -gt 0 ]; then
    echo "docker.sh: installing ${need[*]} (apt log: $log)"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq "${need[@]}"; } >"$log" 2>&1; then
      tail -n 20 "$log" >&2
      echo "docker.sh: apt-get failed" >&2
      return 1
    fi
  fi
}

start() {
  install
  if answers; then
    echo "docker.sh: a Docker daemon already answers on $sock"
    return 0
  fi
  mkdir -p "$state/root" "$state/exec"
  echo "docker.sh: starting dockerd (state in $state, log $state/dockerd.log)"
  # setsid: the daemon outlives the shell that started it, and nothing of it is in the caller's group
  setsid dockerd --data-root "$state/root" --exec-root "$state/exec" --pidfile "$state/dockerd.pid" \
    -H "unix://$sock" "$@" >"$state/dockerd.log" 2>&1 < /dev/null &
  echo "$!" > "$state/started.pid"
  for _ in $(seq 1 120); do
    if answers; then
      echo "docker.sh: dockerd is up ($(docker -H "unix://$sock" version --format '{{.Server.Version}}'))"
      return 0
    fi
    if ! kill -0 "$(cat "$state/started.pid")" 2>/dev/null; then
      tail -n 30 "$state/dockerd.log" >&2
      echo "docker.sh: dockerd exited" >&2
      return 1
    fi
    sleep 0.5
  done
  tail -n 30 "$state/dockerd.log" >&2
  echo "docker.sh: dockerd did not answer within 60 s" >&2
  return 1
}

stop() {
  [ -f "$state/started.pid" ] || { echo "docker.sh: no dockerd started here"; return 0; }
  local pid
  pid=$(cat "$state/started.pid")
  if kill -0 "$pid" 2>/dev/null; then
    # the test containers go first (a daemon stops its containers anyway, but says less)
    docker -H "unix://$sock" ps -aq --filter name=natest- | xargs -r docker -H "unix://$sock" rm -f >/dev/null 2>&1 || true
    kill "$pid"
    for _ in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  # what the daemon leaves: its mounts under the state dir, the default bridge
  grep -o " ${state}[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  ip link del docker0 2>/dev/null || true
  rm -rf "$state"
  echo "docker.sh: dockerd stopped"
}

images() {
  # netaudit-test/busybox:1 - a static busybox and nothing else (no Python, no ss): httpd, nc,
  # telnetd and a shell; the tests bind-mount the host's /usr, /lib and /lib64 read-only where a
  # container needs Python.
  local dir
  dir=$(mktemp -d /tmp/netaudit-image.XXXXXX)
  mkdir -p "$dir/bin" "$dir/tmp" "$dir/etc" "$dir/www"
  cp /bin/busybox "$dir/bin/busybox"
  local a
  for a in sh httpd nc sleep ls cat echo telnetd kill date true false env; do
    ln -s busybox "$dir/bin/$a"
  done
  echo "root:x:0:0:root:/:/bin/sh" > "$dir/etc/passwd"
  echo "nobody:x:65534:65534:nobody:/:/bin/false" >> "$dir/etc/passwd"
  echo "root:x:0:" > "$dir/etc/group"
  echo "ok" > "$dir/www/index.html"
  tar -C "$dir" -c . | docker -H "unix://$sock" import \
    -c 'CMD ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]' -c 'EXPOSE 8080' - netaudit-test/busybox:1 >/dev/null
  rm -rf "$dir"
  echo "docker.sh: built netaudit-test/busybox:1"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  restart) shift; stop; start "$@" ;;
  images) images ;;
  status) if answers; then echo "docker.sh: up"; else echo "docker.sh: down"; exit 1; fi ;;
  *) echo "usage: $0 start [DOCKERD-ARGS...]|stop|restart [DOCKERD-ARGS...]|images|status" >&2; exit 2 ;;
esac
