/*
 * Every message the module shows to people, as a Japanese/English pair (MG_TR): Japanese
 * by default, English when LC_ALL/LC_MESSAGES/LANG starts with "en". See docs/PAM.md for
 * why this is not gettext.
 */
#ifndef MG_PAM_MESSAGES_H
#define MG_PAM_MESSAGES_H

enum mg_pam_msg {
	MG_MSG_TOTP_PROMPT,
	MG_MSG_PIN_PROMPT,
	MG_MSG_INSERT_KEY,
	MG_MSG_TOUCH_KEY,
	MG_MSG_WRONG_PIN,
	MG_MSG_PIN_BLOCKED,
	MG_MSG_PIN_MISSING,
	MG_MSG_UV_UNAVAILABLE,
	MG_MSG_NOT_REGISTERED,
	MG_MSG_NO_TOUCH,
	MG_MSG_TIMEOUT,
	MG_MSG_KEY_UNTRUSTED,
	MG_MSG_CODE_REUSED,
	MG_MSG_AUTH_FAILED,
	MG_MSG_LOCKED,
	MG_MSG_REMOTE_KEY,
	MG_MSG_NO_FACTOR,
	MG_MSG_HELPER_UNAVAILABLE,
	MG_MSG_MISCONFIGURED,
	MG_MSG_STAFF_DISABLED,
	MG_MSG_COUNT
};

/* The message in the current language (never NULL). */
const char *mg_pam_msg(enum mg_pam_msg id);

#endif
