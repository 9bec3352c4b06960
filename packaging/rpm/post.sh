# wac %post: registers wacd.service the Fedora/RHEL way: presets decide
# whether a first install enables it; nothing is started on install.
if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null 2>&1 || :
fi
if [ "$1" -eq 1 ] && command -v systemctl >/dev/null 2>&1; then
	systemctl --no-reload preset wacd.service >/dev/null 2>&1 || :
fi
