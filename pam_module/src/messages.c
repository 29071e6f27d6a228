/* The module's people-facing text, Japanese and English side by side. */
#include "messages.h"

#include "mg/i18n.h"

struct pair {
	const char *ja;
	const char *en;
};

static const struct pair msgs[MG_MSG_COUNT] = {
    [MG_MSG_TOTP_PROMPT] = {"ワンタイムパスワード: ", "One-time code: "},
    [MG_MSG_PIN_PROMPT] = {"セキュリティキーの PIN: ", "Security key PIN: "},
    [MG_MSG_INSERT_KEY] = {"セキュリティキーを挿入してください", "Insert your security key"},
    [MG_MSG_TOUCH_KEY] = {"セキュリティキーに触れてください", "Touch your security key"},
    [MG_MSG_WRONG_PIN] = {"PIN が正しくありません", "Wrong PIN"},
    [MG_MSG_PIN_BLOCKED] = {"セキュリティキーの PIN がロックされています。管理者に連絡してください",
                            "The security key's PIN is blocked. Contact your administrator"},
    [MG_MSG_PIN_MISSING] = {"PIN の入力が必要です", "A PIN is required"},
    [MG_MSG_UV_UNAVAILABLE] = {"このセキュリティキーには PIN が設定されていません。"
                               "管理者に連絡してください",
                               "This security key has no PIN. Contact your administrator"},
    [MG_MSG_NOT_REGISTERED] = {"このセキュリティキーは登録されていません",
                               "This security key is not registered"},
    [MG_MSG_NO_TOUCH] = {"セキュリティキーへのタッチが確認できませんでした",
                         "The security key was not touched"},
    [MG_MSG_TIMEOUT] = {"時間切れです", "Timed out"},
    [MG_MSG_KEY_UNTRUSTED] = {"このセキュリティキーは使用できません。管理者に連絡してください",
                              "This security key cannot be accepted. Contact your "
                              "administrator"},
    [MG_MSG_CODE_REUSED] = {"このコードは使用済みです。次のコードを待って入力してください",
                            "This code was already used. Wait for the next code"},
    [MG_MSG_AUTH_FAILED] = {"認証に失敗しました", "Authentication failed"},
    [MG_MSG_LOCKED] = {"認証の失敗が続いたため、一時的にロックされています。"
                       "しばらく待つか、管理者に連絡してください",
                       "Locked after too many failed attempts. Wait, or contact your "
                       "administrator"},
    [MG_MSG_REMOTE_KEY] = {"リモートからのログインではセキュリティキーを使用できません",
                           "Security keys cannot be used for remote logins"},
    [MG_MSG_NO_FACTOR] = {"利用できる認証方法がありません",
                          "No authentication method is available"},
    [MG_MSG_HELPER_UNAVAILABLE] = {"ここでは認証できません (補助プログラムを実行できません)。"
                                   "管理者に連絡してください",
                                   "Cannot authenticate here (the helper cannot run). Contact "
                                   "your administrator"},
    [MG_MSG_MISCONFIGURED] = {"認証の設定に誤りがあります。管理者に連絡してください",
                              "Authentication is misconfigured. Contact your administrator"},
    [MG_MSG_STAFF_DISABLED] = {"このアカウントは管理者により無効にされています。"
                               "管理者に連絡してください",
                               "This account has been disabled by an administrator. Contact "
                               "your administrator"},
};

const char *mg_pam_msg(enum mg_pam_msg id)
{
	if ((unsigned)id >= MG_MSG_COUNT)
		return "?";
	return MG_TR(msgs[id].ja, msgs[id].en);
}
