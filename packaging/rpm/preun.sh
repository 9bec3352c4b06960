# wac %preun: on erase (not upgrade) stops wacd and removes its nftables
# table and policy-routing rules and routes (wac-cleanup).  Stopping wacd
# alone leaves them in place (fail static).
if [ "$1" -eq 0 ]; then
	if [ -d /run/systemd/system ]; then
		systemctl --no-reload disable --now wacd.service >/dev/null 2>&1 || :
	elif command -v systemctl >/dev/null 2>&1; then
		systemctl --no-reload disable wacd.service >/dev/null 2>&1 || :
	fi
	/usr/libexec/wac/wac-cleanup ||
		echo "wac: some kernel state of wac is left; see the messages above" >&2
fi
