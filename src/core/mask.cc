#include "core/mask.h"

#include <array>
#include <cctype>

namespace callrec::core {
namespace {

constexpr std::string_view kMask = "***";

constexpr std::array<std::string_view, 13> kSecretNames = {
    "password",      "passwd",       "pwd",           "token",           "access_token",
    "refresh_token", "apikey",       "api_key",       "secret",          "client_secret",
    "x-amz-signature", "x-amz-credential", "x-amz-security-token"};

// Where a URL's authority or a parameter value ends.
bool EndsValue(char c) {
  return c == '&' || c == '"' || c == '\'' || c == '<' || c == '>' || c == ',' || c == ';' ||
         std::isspace(uint8_t(c)) != 0;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(uint8_t(a[i])) != std::tolower(uint8_t(b[i]))) return false;
  return true;
}

bool IsSecretName(std::string_view name) {
  for (std::string_view s : kSecretNames)
    if (EqualsIgnoreCase(name, s)) return true;
  return false;
}

// "scheme://user:secret@host..." at `scheme_end` ("://"): masks the password in `out`.
void MaskUserinfo(std::string& out, size_t scheme_end) {
  size_t start = scheme_end + 3;
  size_t end = start;
  while (end < out.size() && out[end] != '/' && out[end] != '?' && out[end] != '#' && !EndsValue(out[end])) ++end;
  size_t at = out.rfind('@', end == 0 ? 0 : end - 1);
  if (at == std::string::npos || at < start) return;
  size_t colon = out.find(':', start);
  if (colon == std::string::npos || colon + 1 >= at) return;
  out.replace(colon + 1, at - colon - 1, kMask);
}

// "name=value" where name is secret: masks value. `eq` is the '=' position.
size_t MaskParameter(std::string& out, size_t eq) {
  size_t name_start = eq;
  while (name_start > 0) {
    char c = out[name_start - 1];
    if (!(std::isalnum(uint8_t(c)) || c == '_' || c == '-')) break;
    --name_start;
  }
  if (!IsSecretName(std::string_view(out).substr(name_start, eq - name_start))) return eq + 1;
  size_t end = eq + 1;
  while (end < out.size() && !EndsValue(out[end])) ++end;
  if (end == eq + 1) return end;
  out.replace(eq + 1, end - eq - 1, kMask);
  return eq + 1 + kMask.size();
}

}  // namespace

std::string MaskSecrets(std::string_view text) {
  std::string out(text);
  if (text.find("://") == std::string_view::npos && text.find('=') == std::string_view::npos) return out;
  for (size_t p = out.find("://"); p != std::string::npos; p = out.find("://", p + 3)) MaskUserinfo(out, p);
  for (size_t p = out.find('='); p != std::string::npos; p = out.find('=', p)) p = MaskParameter(out, p);
  return out;
}

}  // namespace callrec::core
