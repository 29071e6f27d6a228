/*
 * Language of messages people read: Japanese by default, English when the locale asks for
 * it (LC_ALL, else LC_MESSAGES, else LANG starting with "en"). Messages are written as
 * pairs at the place they are used: MG_TR("デバイスがありません", "no devices").
 */
#ifndef MG_I18N_H
#define MG_I18N_H

#include <stdbool.h>

/* True when messages should be English; decided once from the environment. */
bool mg_i18n_english(void);
/* For tests: force a language (true: English), or re-read the environment (reset). */
void mg_i18n_force(bool english);
void mg_i18n_reset(void);

#define MG_TR(ja, en) (mg_i18n_english() ? (en) : (ja))

#endif
