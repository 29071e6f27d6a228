#!/bin/sh
# Differential test of the rule parser and printer against Debian's usbguard-rule-parser
# (tests/data/rules/usbguard-diff.rules says what each section expects).
#   test_usbguard_rules.sh PROBE CORPUS        (exit 77 without usbguard-rule-parser)
set -eu
probe=$1
corpus=$2
command -v usbguard-rule-parser >/dev/null 2>&1 || {
	echo "SKIP: usbguard-rule-parser not installed (Debian package usbguard)"
	exit 77
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
section=""
fails=0
total=0
while IFS= read -r line || [ -n "$line" ]; do
	case $line in
	"## "*) section=${line#\#\# }; continue ;;
	"" | "#"*) continue ;;
	esac
	total=$((total + 1))
	printf '%s\n' "$line" >"$work/rule"
	mg=$("$probe" "$work/rule")
	if ug=$(usbguard-rule-parser -f "$work/rule" 2>/dev/null); then
		ug="OK $(printf '%s\n' "$ug" | sed -n 's/^OUTPUT: //p')"
	else
		ug="ERR"
	fi
	case $mg in OK*) mgok=1 ;; *) mgok=0 ;; esac
	case $ug in OK*) ugok=1 ;; *) ugok=0 ;; esac
	bad=""
	case $section in
	accept) [ "$mg" = "$ug" ] || bad="both should accept and print the same" ;;
	reject) [ $mgok = 0 ] && [ $ugok = 0 ] || bad="both should refuse it" ;;
	stricter) [ $mgok = 0 ] && [ $ugok = 1 ] || bad="usbguard should accept it, mynaguard refuse it" ;;
	looser) [ $mgok = 1 ] && [ $ugok = 0 ] || bad="usbguard should refuse it, mynaguard accept it" ;;
	differs) [ $mgok = 1 ] && [ $ugok = 1 ] && [ "$mg" != "$ug" ] || bad="both should accept it and print it differently" ;;
	*) bad="rule outside a section" ;;
	esac
	if [ -n "$bad" ]; then
		fails=$((fails + 1))
		printf 'FAIL [%s] %s\n  %s\n  mynaguard: %s\n  usbguard:  %s\n' "$section" "$line" "$bad" "$mg" "$ug"
	fi
done <"$corpus"
echo "$total rules, $fails failed"
[ "$fails" -eq 0 ] && [ "$total" -gt 50 ]
