// Escaping wire text for a terminal (contract in qg/cli/terminal_text.hpp).
#include "qg/cli/terminal_text.hpp"

#include <cstdint>
#include <cstdio>

#include "qg/common/plain_text.hpp"
#include "qg/common/shell_quote.hpp"

namespace qg::cli {

namespace {

std::string escaped(std::string_view text, bool keep_lines) {
  std::string out;
  out.reserve(text.size());
  char buf[16];
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if ((c < 0x20 || c == 0x7f) && !(keep_lines && (c == '\n' || c == '\t'))) {
        std::snprintf(buf, sizeof buf, "\\x%02x", c);
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    const auto d = decode_utf8_at(text, i);
    if (d.length == 0) {
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
      ++i;
    } else if (is_terminal_control(d.code_point)) {  // a C1 control or a direction mark
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(d.code_point));
      out += buf;
      i += d.length;
    } else {
      out.append(text.substr(i, d.length));
      i += d.length;
    }
  }
  return out;
}

}  // namespace

std::string printable(std::string_view text) { return escaped(text, false); }

std::string printable_lines(std::string_view text) { return escaped(text, true); }

std::string shell_word(std::string_view text) { return qg::shell_quote(text); }

}  // namespace qg::cli
