#pragma once
// Checking a command template at start-up: private to qg_worker, used by CommandTemplate
// (contract in qg/worker/command_template.hpp).

#include <string_view>
#include <vector>

#include "qg/worker/command_template.hpp"

namespace qg::worker::detail {

struct CheckedTemplate {
  bool shell = false;               // the template uses shell syntax: run it as /bin/sh -c
  std::vector<TemplateWord> words;  // its words, quotes removed; meaningful when !shell
};

// Lexes `text` the way a POSIX shell splits and quotes words, closely enough to know for every
// placeholder whether its shell-quoted value stays one literal word. Throws UnsafeTemplate (its
// message names `option` and shows the safe forms) for a placeholder in a place where it would
// not, for an unterminated quote and for a template without words.
CheckedTemplate check_template(std::string_view text, std::string_view option);

}  // namespace qg::worker::detail
