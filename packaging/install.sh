#!/bin/sh
# install.sh [--root DIR] [--uninstall [--purge]]
#
# Installs gittensor-miner-agent from this tarball where the .deb would put it, for systems
# without dpkg: the static binary, both systemd units, the sysusers entry (and the system user it
# names), the man page, completions and docs under files/, and /etc/gittensor-miner-agent/
# config.toml (the example, kept when it exists). The list of what it placed, and of the
# directories it had to create, is kept in /usr/lib/gittensor-miner-agent/installed.
#
#   --uninstall          stops and disables the service, removes what install placed; keeps
#                        the config and state (as `apt remove`)
#   --uninstall --purge  also deletes /etc/gittensor-miner-agent and the state (as `apt purge`);
#                        the system user stays, as with the .deb (`userdel gittensor-miner-agent`)
#   --root DIR           works on the system tree under DIR instead of / (and touches no
#                        running systemd)
set -eu

name=gittensor-miner-agent
here=$(cd "$(dirname "$0")" && pwd)
root= mode=install purge=
while [ $# -gt 0 ]; do
  case $1 in
    --root) [ $# -ge 2 ] || { echo "install.sh: --root needs a directory" >&2; exit 2; }; root=${2%/}; shift 2 ;;
    --uninstall) mode=uninstall; shift ;;
    --purge) purge=1; shift ;;
    -h | --help) sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument '$1' (see install.sh --help)" >&2; exit 2 ;;
  esac
done
if [ -n "$purge" ] && [ "$mode" != uninstall ]; then
  echo "install.sh: --purge goes with --uninstall" >&2; exit 2
fi
if [ -n "$root" ] && [ ! -d "$root" ]; then
  echo "install.sh: --root $root is not a directory" >&2; exit 2
fi
if [ "$(id -u)" != 0 ]; then
  echo "install.sh: must run as root (sudo $0 ...): it writes /usr, /etc and creates a system user" >&2
  exit 1
fi
manifest=$root/usr/lib/$name/installed
# A running systemd to tell, only when installing into this very system.
live=
if [ -z "$root" ] && [ -d /run/systemd/system ]; then live=1; fi

if [ "$mode" = install ]; then
  if [ -z "$root" ] && command -v dpkg-query >/dev/null &&
    dpkg-query -W -f '${Status}' "$name" 2>/dev/null | grep -q 'ok installed'; then
    echo "install.sh: the $name .deb is installed here; upgrade it with apt (or remove it first: sudo apt remove $name)" >&2
    exit 1
  fi
  [ -d "$here/files" ] || { echo "install.sh: $here/files is missing: run install.sh from the unpacked tarball" >&2; exit 1; }
  new=$(mktemp)
  trap 'rm -f "$new"' EXIT
  # Directories made here are recorded (parents first) so that --uninstall removes them again;
  # those from an earlier install stay recorded.
  if [ -f "$manifest" ]; then grep '^d ' "$manifest" >"$new" || true; fi
  mkdirs() {
    if [ ! -d "$1" ]; then
      mkdirs "$(dirname "$1")"
      mkdir -m 0755 "$1"
      echo "d ${1#"$root"}" >>"$new"
    fi
  }
  (cd "$here/files" && find . -type f | sort) | while read -r f; do
    f=${f#./}
    mkdirs "$root/$(dirname "$f")"
    case $f in usr/bin/*) m=0755 ;; *) m=0644 ;; esac
    # Replaced, not written into: a running binary stays intact until the service restarts.
    cp "$here/files/$f" "$root/$f.new.$$"
    chmod "$m" "$root/$f.new.$$"
    mv -f "$root/$f.new.$$" "$root/$f"
    echo "f /$f" >>"$new"
  done
  # A file an earlier version placed and this one no longer has.
  if [ -f "$manifest" ]; then
    grep '^f ' "$manifest" | while read -r _ f; do
      grep -qxF "f $f" "$new" || rm -f "$root$f"
    done
  fi
  mkdirs "$(dirname "$manifest")"
  echo "f /usr/lib/$name/installed" >>"$new"
  # Sorted: a reinstall writes the same list.
  sort -u "$new" >"$manifest"
  chmod 0644 "$manifest"

  # The system user and group, from the same sysusers entry the .deb ships.
  if command -v systemd-sysusers >/dev/null; then
    if [ -n "$root" ]; then
      systemd-sysusers --root "$root" "$root/usr/lib/sysusers.d/$name.conf"
    else
      systemd-sysusers "$name.conf"
    fi
  elif [ -z "$root" ]; then
    getent passwd "$name" >/dev/null ||
      useradd --system --user-group --home-dir /var/lib/$name --no-create-home --shell /usr/sbin/nologin --comment "gittensor miner agent" "$name"
  else
    echo "install.sh: systemd-sysusers is missing, so the user $name cannot be created under $root" >&2
    exit 1
  fi
  gid=$(awk -F: -v n="$name" '$1 == n { print $3 }' "$root/etc/group")

  # The config, as the .deb's conffile: placed once, an edited one is kept. Readable by the
  # service's group (it may name wallet paths), and the credentials directory root's alone.
  mkdir -p "$root/etc/$name"
  if [ ! -e "$root/etc/$name/config.toml" ]; then
    cp "$here/files/usr/share/doc/$name/config.example.toml" "$root/etc/$name/config.toml"
    chown "0:$gid" "$root/etc/$name/config.toml"
    chmod 0640 "$root/etc/$name/config.toml"
  fi
  if [ ! -d "$root/etc/$name/credentials" ]; then
    mkdir -m 0700 "$root/etc/$name/credentials"
  fi

  if [ -n "$live" ]; then
    systemctl daemon-reload
    # An upgrade restarts what runs (the plain unit and every instance); nothing else is started.
    systemctl try-restart "$name.service" "$name@*.service" || true
  fi
  echo "install.sh: installed $("$root/usr/bin/$name" --version 2>/dev/null || echo "$name") under ${root:-/}."
  echo "Next: the hotkey copy, the PAT and the config, then enable the service (README, \"Install\"):"
  echo "  sudo install -m 0600 ~/.bittensor/wallets/<wallet>/hotkeys/<hotkey> /etc/$name/hotkey"
  echo "  sudo $name pat set --systemd"
  echo "  sudo systemctl enable --now $name"
  exit 0
fi

# --uninstall (--purge alone still purges what an earlier uninstall left)
if [ ! -f "$manifest" ] && [ -z "$purge" ]; then
  echo "install.sh: nothing to uninstall: $manifest (written by install.sh) is missing under ${root:-/}" >&2
  exit 1
fi
if [ -n "$live" ]; then
  systemctl disable --now "$name.service" >/dev/null 2>&1 || true
  systemctl stop "$name@*.service" || true
fi
if [ -f "$manifest" ]; then
  # Read first: the manifest is one of the files it lists.
  list=$(cat "$manifest")
  printf '%s\n' "$list" | grep '^f ' | while read -r _ f; do rm -f "$root$f"; done
  # Deepest first: a directory goes only when nothing else is in it.
  printf '%s\n' "$list" | grep '^d ' | sort -r | while read -r _ d; do rmdir "$root$d" 2>/dev/null || true; done
fi
if [ -n "$purge" ]; then
  # What the service and the operator's setup created (as the .deb's postrm purge).
  rm -rf "$root/etc/$name" "$root/var/lib/$name" "$root/var/lib/private/$name"
  rm -rf "$root/run/$name" "$root/run/$name"@*
  rm -f "$root/etc/systemd/system/"*.wants/"$name"@*.service "$root/etc/systemd/system/"*.wants/"$name".service
fi
if [ -n "$live" ]; then systemctl daemon-reload; fi
echo "install.sh: removed $name from ${root:-/}$([ -n "$purge" ] && echo ', with its config and state' || echo '; config and state kept (--uninstall --purge deletes them)')."
echo "The system user $name stays, as the .deb leaves it (userdel $name removes it)."
