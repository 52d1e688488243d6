#!/bin/sh
# The hostile mapped user (tests/integration/test_hostile_user.py, tests/e2e/test_hostile_user.py).
# usage: hostile_attack.sh TAG PATHS
# PATHS lists every path under /run/ignity, one a line (root's `find /run/ignity`).
# Deepest paths first (a renamed directory hides nothing). For every path it tries to write, replace, rename, chmod and link it; in every
# directory it tries to create every name seen anywhere in the tree, plus payloads.
# Each payload leaves /out/pwned-TAG-WHAT only when root runs, loads or sources it;
# every link points at /out/victim (root's) or /etc/passwd. Each attempt that
# succeeds prints one line "HOSTILE-OK WHAT PATH"; the last line is "HOSTILE-DONE SUCCEEDED PATHS".
tag=$1 list=$2
evil=/tmp/evil-$tag
mkdir -p "$evil"
ok=0 tried=0
payload() {  # an executable that marks a run as root
  printf '#!/bin/sh\n[ "$(id -u)" = 0 ] && : >/out/pwned-%s-%s\nexit 0\n' "$tag" "$1"
}
for prog in sh bash dash sleep true cat echo env execlineb s6-envdir s6-setuidgid s6-svscanctl \
    s6-svc s6-supervise python3 ignity kill id stat sync foreground redirfd importas exit; do
  payload "path-$prog" >"$evil/$prog" && chmod 755 "$evil/$prog"
done
payload bash-env >"$evil/bash-env"
# What a file named NAME holds: envdir poison for the variables with-env would load, else a payload.
content() {
  case $1 in
    PATH) printf %s "$evil:/usr/bin:/bin" ;;  # with-env reads values whole (s6-envdir -n): no newline
    LD_PRELOAD) printf %s "$evil/pwn.so" ;;
    BASH_ENV | ENV) printf %s "$evil/bash-env" ;;
    *) payload "$(echo "$2" | tr / _)" ;;
  esac
}
hit() { ok=$((ok + 1)); echo "HOSTILE-OK $1 $2"; }
plant() {  # plant FILE: write the payload for FILE's name into it (created or truncated)
  content "${1##*/}" "$1" 2>/dev/null >"$1" && { chmod 755 "$1" 2>/dev/null; return 0; }
  return 1
}
names=$( (sed 's|.*/||' "$list"; echo PATH; echo LD_PRELOAD; echo BASH_ENV; echo ENV; echo stopping
  echo cmd-status.3; echo pwn; echo finish; echo run; echo SIGTERM) | sort -u)
while IFS= read -r p; do
  [ -n "$p" ] || continue
  tried=$((tried + 1))
  if [ -d "$p" ] && [ ! -L "$p" ]; then
    for n in $names; do
      plant "$p/$n" && hit create "$p/$n"
      ln -s /out/victim "$p/$n.lnk" 2>/dev/null && hit symlink "$p/$n.lnk"
    done
    ln -s /etc/passwd "$p/ftrig1:@400000006b0f4f0a2b860df3:hostil" 2>/dev/null && hit ftrig-link "$p"
    mkfifo "$p/pwn-fifo" 2>/dev/null && hit mkfifo "$p"
    ln /etc/shadow "$p/pwn-hard" 2>/dev/null && hit hardlink "$p"
    mkdir "$p/evilsvc" 2>/dev/null && hit mkdir "$p/evilsvc" && plant "$p/evilsvc/run"
  elif [ ! -L "$p" ] && [ ! -p "$p" ]; then
    plant "$p" && hit write "$p"
  fi
  chmod 0777 "$p" 2>/dev/null && hit chmod "$p"
  chown -h "$(id -u)" "$p" 2>/dev/null && [ "$(stat -c %u "$p")" != 0 ] && hit chown "$p"
  mv "$p" "$p.hostile" 2>/dev/null && { hit rename "$p"; plant "$p"; }
  ln -sfn /out/victim "$p" 2>/dev/null && [ -L "$p" ] && [ "$(readlink "$p")" = /out/victim ] && hit replace-link "$p"
  ln -sfn /etc/passwd "$p" 2>/dev/null && [ "$(readlink "$p")" = /etc/passwd ] && hit replace-passwd "$p"
done <<EOF
$(sort -r "$list")
EOF
# The controls a supervisor or PID 1 listens on.
s6-svscanctl -an /run/ignity/services-state 2>/dev/null && hit svscanctl /run/ignity/services-state
for d in /run/ignity/services-state/*/; do
  s6-svc -r "$d" 2>/dev/null && hit svc "$d"
done
echo "HOSTILE-DONE $ok $tried"
