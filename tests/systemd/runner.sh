#!/bin/bash
# Runs inside the booted test container (tests/systemd_e2e.rs): drives the installed
# package as an operator would, records what systemd shows into /e2e, then powers off.
# The host side answers the `await-*` markers (it controls the emulated validators).
set -u
S=/e2e
unit=gittensor-miner-agent
config=/etc/gittensor-miner-agent/config.toml
# Instances of the template unit, one hotkey each (the host wrote NAME.toml, NAME.hotkey, pat-NAME).
instances=$(cat $S/instances)

wait_for() { for _ in $(seq 1 600); do [ -e "$S/$1" ] && return 0; sleep 0.2; done; return 1; }
wait_active() {
    local u=${1:-$unit}
    for _ in $(seq 1 300); do [ "$(systemctl is-active "$u")" = active ] && return 0; sleep 0.2; done
    return 1
}
# Until `status` (with these arguments) says every validator is covered (exit 0), 30 s at most.
wait_covered() { for _ in $(seq 1 150); do gittensor-miner-agent status "$@" > /dev/null 2>&1 && return 0; sleep 0.2; done; return 1; }
# Until systemd's copy of the agent's STATUS= line says every validator is covered, 10 s at
# most: sd_notify is a datagram PID 1 reads on its own time, so it may trail the state file
# that `status` reads by a moment.
wait_status_covered() {
    for _ in $(seq 1 50); do
        systemctl show "$1" -p StatusText --value | grep -q '^covered \([0-9]*\)/\1 ' && return 0
        sleep 0.2
    done
    return 1
}
show() { systemctl show "${1:-$unit}" -p ActiveState -p SubState -p Result -p ExecMainStatus -p NRestarts -p MainPID; }

# 1. The unconfigured first run: no PAT stored yet.
systemctl start $unit
sleep 4
show > $S/first-run.txt
journalctl -u $unit --no-pager -o cat > $S/first-run-journal.txt
systemctl reset-failed $unit

# 2. The documented set-up: store the PAT for the service, enable and start.
gittensor-miner-agent pat set --systemd --stdin --config $config < $S/pat > $S/pat-set.txt 2>&1
echo "rc=$?" >> $S/pat-set.txt
systemctl enable --now $unit > $S/enable.txt 2>&1
wait_active
sleep 5
systemctl status $unit --no-pager -l > $S/status.txt 2>&1
gittensor-miner-agent status --config $config > $S/agent-status.txt 2>&1

# 2b. Two more hotkeys beside it, the README's way: an instance of the template unit each,
# with its own config, hotkey copy and PAT. The first is started once before its PAT is
# stored: it must say which `pat set` it needs.
for name in $instances; do
    install -m 0640 -g gittensor-miner-agent $S/$name.toml /etc/gittensor-miner-agent/$name.toml
    install -m 0600 $S/$name.hotkey /etc/gittensor-miner-agent/$name.hotkey
done
first=${instances%% *}
systemctl start $unit@$first
sleep 4
show $unit@$first > $S/first-run-$first.txt
journalctl -u $unit@$first --no-pager -o cat > $S/first-run-$first-journal.txt
systemctl reset-failed $unit@$first
for name in $instances; do
    gittensor-miner-agent pat set --systemd --instance $name --stdin < $S/pat-$name > $S/pat-set-$name.txt 2>&1
    echo "rc=$?" >> $S/pat-set-$name.txt
    systemctl enable --now $unit@$name > $S/enable-$name.txt 2>&1
done
for name in $instances; do wait_active $unit@$name; done
touch $S/await-instances
wait_for instances-covered
for name in $instances; do
    wait_covered --instance $name
    wait_status_covered $unit@$name
    systemctl status $unit@$name --no-pager -l > $S/status-$name.txt 2>&1
    gittensor-miner-agent status --instance $name > $S/agent-status-$name.txt 2>&1
    echo "rc=$?" >> $S/agent-status-$name.txt
    ls /var/lib/gittensor-miner-agent/$name/state.json > $S/state-$name.txt 2>&1
done
# The PAT's files: encrypted where systemd-creds exists; else root-only plain files and the
# drop-ins that load them (systemd 247). `pat status --systemd` reads either.
{
    stat -c '%A %U %G %n' /etc/gittensor-miner-agent/credentials/*
    cat /etc/systemd/system/gittensor-miner-agent*.service.d/*.conf 2>/dev/null | grep '^LoadCredential'
    gittensor-miner-agent pat status --systemd --config $config
    echo "pat status rc=$?"
} > $S/credentials.txt 2>&1
# Every agent on the machine, one line each.
gittensor-miner-agent status > $S/overview.txt 2>&1
echo "rc=$?" >> $S/overview.txt
gittensor-miner-agent status --json > $S/overview.json 2> /dev/null
# An instance reloads its own config.
systemctl reload $unit@$first > $S/reload-$first.txt 2>&1
echo "rc=$?" >> $S/reload-$first.txt
show $unit@$first >> $S/reload-$first.txt
# An upgrade (the same .deb again) restarts the running instances, as it does the plain unit.
{
    for name in $instances; do echo "before-$name=$(systemctl show -p MainPID --value $unit@$name)"; done
    dpkg -i /pkg.deb > /dev/null 2>&1
    echo "dpkg rc=$?"
    for name in $instances; do wait_active $unit@$name; done
    wait_active
    for name in $instances; do echo "after-$name=$(systemctl show -p MainPID --value $unit@$name)"; done
} > $S/upgrade.txt 2>&1

# 3. A validator loses its store (the host restarts it); every agent repairs it.
touch $S/await-loss
wait_for repaired

# 3b. PAT rotation, the documented way: store the new one for the service; that restarts it.
touch $S/await-rotation
wait_for rotation-ready
gittensor-miner-agent pat set --systemd --stdin --config $config < $S/pat2 > $S/rotate.txt 2>&1
echo "rc=$?" >> $S/rotate.txt
touch $S/rotation-stored
wait_for rotation-seen

# 4. Reload (SIGHUP).
systemctl reload $unit
sleep 2
show > $S/reload.txt

# 4b. A broken config: the reload itself fails and says why; the agent runs on unchanged.
cp $config /root/config.good
echo 'this line is not toml' >> $config
systemctl reload $unit > $S/bad-reload.txt 2>&1
echo "rc=$?" >> $S/bad-reload.txt
systemctl status $unit --no-pager -l > $S/bad-reload-status.txt 2>&1
show >> $S/bad-reload.txt

# 4c. Restarts by hand while fixing it (three with the broken config, six once fixed): the
# start limit is there for crash loops, not for the operator.
for _ in 1 2 3; do systemctl restart $unit 2>&1; echo "broken restart rc=$?"; done > $S/restarts.txt
cp /root/config.good $config
for _ in 1 2 3 4 5 6; do systemctl restart $unit >> $S/restarts.txt 2>&1; echo "restart rc=$?"; done >> $S/restarts.txt
wait_active
show >> $S/restarts.txt

# 5. A frozen agent: the watchdog kills it and systemd restarts it.
old=$(systemctl show -p MainPID --value $unit)
kill -STOP "$old"
for _ in $(seq 1 200); do [ "$(systemctl show -p NRestarts --value $unit)" -ge 1 ] && break; sleep 0.3; done
wait_active
show > $S/watchdog.txt
echo "OldPID=$old" >> $S/watchdog.txt

# 6. Hardening, and the logs.
systemd-analyze security $unit --no-pager > $S/security.txt 2>&1
systemd-analyze security $unit@$first --no-pager > $S/security-$first.txt 2>&1
# What systemd said about the units' lines (FILE:LINE: …), e.g. a key it does not know.
journalctl -b --no-pager -o cat | grep -E 'gittensor-miner-agent[^ :]*\.(service|conf):[0-9]+: ' > $S/unit-warnings.txt
journalctl -u $unit --no-pager -o verbose > $S/journal-verbose.txt
journalctl -u $unit --no-pager > $S/journal.txt
for name in $instances; do journalctl -u $unit@$name --no-pager > $S/journal-$name.txt; done

# 7. A clean stop; `status` must not present the last state as a running agent's, and the
# overview of every agent must say which one is not running.
systemctl stop $unit
show > $S/stop.txt
# The runtime directory (where metrics.textfile goes) outlives the stop (RuntimeDirectoryPreserve=yes).
if [ -d /run/gittensor-miner-agent ]; then echo "runtime kept"; else echo "runtime gone"; fi >> $S/stop.txt
gittensor-miner-agent status --config $config > $S/status-stopped.txt 2>&1
echo "rc=$?" >> $S/status-stopped.txt
gittensor-miner-agent status > $S/overview-one-stopped.txt 2>&1
echo "rc=$?" >> $S/overview-one-stopped.txt
last=${instances##* }
systemctl stop $unit@$last
gittensor-miner-agent status --instance $last > $S/status-stopped-$last.txt 2>&1
echo "rc=$?" >> $S/status-stopped-$last.txt

# 8. Purge removes what the package made, the instances' files included, and nothing else.
dpkg --purge gittensor-miner-agent > $S/purge-log.txt 2>&1
{
    for p in /usr/bin/gittensor-miner-agent /etc/gittensor-miner-agent /var/lib/gittensor-miner-agent \
             /var/lib/private/gittensor-miner-agent /usr/lib/systemd/system/gittensor-miner-agent.service \
             /lib/systemd/system/gittensor-miner-agent.service /usr/lib/systemd/system/gittensor-miner-agent@.service \
             /etc/systemd/system/multi-user.target.wants/gittensor-miner-agent.service /run/gittensor-miner-agent \
             /etc/systemd/system/gittensor-miner-agent.service.d/plain-pat.conf /etc/keep-me; do
        if [ -e "$p" ] || [ -L "$p" ]; then echo "present $p"; else echo "absent $p"; fi
    done
    for name in $instances; do
        p=/etc/systemd/system/multi-user.target.wants/gittensor-miner-agent@$name.service
        if [ -e "$p" ] || [ -L "$p" ]; then echo "present $p"; else echo "absent $p"; fi
        p=/run/gittensor-miner-agent@$name
        if [ -e "$p" ] || [ -L "$p" ]; then echo "present $p"; else echo "absent $p"; fi
        p=/etc/systemd/system/gittensor-miner-agent@$name.service.d
        if [ -e "$p" ] || [ -L "$p" ]; then echo "present $p"; else echo "absent $p"; fi
    done
    if getent passwd gittensor-miner-agent > /dev/null; then echo "user kept"; else echo "user gone"; fi
} > $S/purge.txt

touch $S/done
systemctl poweroff
