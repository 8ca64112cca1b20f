// mask.h — hides secrets in text that is about to be printed (usage errors, --help, log lines,
// error messages). The one masking function: every place that prints a URL or an argument goes
// through it, so a mistyped `--postgres-url postgresql://user:password@host/db` never shows the
// password on a terminal or in a log.
//
// What is masked, anywhere in the text:
//   - the password of a URL's userinfo:  scheme://user:secret@host  -> scheme://user:***@host
//   - the value of a secret-named parameter in a query string or a libpq keyword string:
//       password, passwd, pwd, token, access_token, refresh_token, apikey, api_key, secret,
//       client_secret, X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token (any case)
//     e.g. "?token=abc&x=1" -> "?token=***&x=1", "host=db password=pw" -> "host=db password=***"
// Everything else is left byte for byte. Text without "://" or '=' is returned unchanged cheaply.
//
// Thread-safety: pure function.
#pragma once

#include <string>
#include <string_view>

namespace callrec::core {

std::string MaskSecrets(std::string_view text);

}  // namespace callrec::core
