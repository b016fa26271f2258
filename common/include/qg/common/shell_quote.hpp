#pragma once
// Quoting one value as one POSIX shell word: used where a value must reach `sh -c` text
// verbatim (the worker's command templates) and where qgjob prints a command for the user to
// run (next-page hints). No I/O.

#include <string>
#include <string_view>

namespace qg {

// `value` as one POSIX shell word: returned unchanged when it is non-empty and consists only of
// characters that are never special ([A-Za-z0-9_./:=@%+,-]), else wrapped in single quotes
// with each ' written as '\''. Never throws except std::bad_alloc.
std::string shell_quote(std::string_view value);

}  // namespace qg
