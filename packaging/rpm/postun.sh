# wac %postun: an upgrade restarts a running wacd on the new binary (the
# ruleset stays in place); an erase only reloads systemd.
if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null 2>&1 || :
	if [ "$1" -ge 1 ]; then
		systemctl try-restart wacd.service >/dev/null 2>&1 || :
	fi
fi
