#pragma once
// Text that came off the wire (ids, test paths, errors, log tails, event messages), made safe to
// print on a terminal. Anything a terminal could take as a command is shown escaped, never
// written raw: a job's test path or log tail must not be able to move the cursor, rewrite the
// screen, set the window title or hide a line (ESC, CR, backspace, C1 controls such as U+009B,
// an 8-bit CSI).
//
// Escapes: a control byte (0x00-0x1f, 0x7f) as \xNN (lower-case hex); a C1 control written as
// valid UTF-8 (U+0080-U+009F) and the invisible direction overrides (U+200E, U+200F,
// U+202A-U+202E, U+2066-U+2069) as \uNNNN; every byte that is not part of a valid UTF-8
// sequence as \xNN. All other text, valid UTF-8 included, comes out as it is; a backslash is not
// doubled, so ordinary paths print unchanged. --json output does not use this: the JSON
// library escapes control characters itself.
//
// Every human-readable line qgjob prints with wire text in it goes through one of these two.

#include <string>
#include <string_view>

namespace qg::cli {

// `text` for one line or one table cell: newlines and tabs are escaped too.
std::string printable(std::string_view text);

// `text` as a block of lines (a log tail, a multi-line error): '\n' and '\t' are kept, every
// other escape is as in printable().
std::string printable_lines(std::string_view text);

// `text` as one word a POSIX shell reads back unchanged, for commands qgjob prints for the user
// to run (the next-page hint of list and queue: a cursor such as `5|1` would otherwise be read
// as a pipe). A word of only letters, digits and `-_./:=@%+,` comes out as it is; any other,
// the empty one included, in single quotes, each `'` in it written `'\''`. Wire text printed
// this way still goes through printable() afterwards.
std::string shell_word(std::string_view text);

}  // namespace qg::cli
