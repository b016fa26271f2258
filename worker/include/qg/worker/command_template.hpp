#pragma once
// Command templates for --install-cmd and --run-cmd.
//
// A template is a command line with placeholders {org_id} {app_version_id} {test_path}
// {target} {job_id} {attempt} {device_id}. Only those exact tokens are replaced; any other
// text, including other braces such as "${HOME}", is left untouched ("${test_path}" too: it is
// the shell's variable, not a placeholder). Values come from the broker and, through it, from
// whoever submitted the job, so a value must never be read as shell syntax:
//
// - A template without shell syntax (words, quotes, nothing for a shell to expand) runs without
//   a shell: its words become the argv of the program, and each value is inserted into the one
//   word that holds its placeholder, whatever characters it contains.
// - A template with shell syntax (;, |, &&, redirections, $VAR, globs, ...) runs as
//   `/bin/sh -c` with every value shell-quoted, so it is one literal shell word.
// - CommandTemplate refuses, at start-up, the places where quoting cannot protect a value: a
//   placeholder inside quotes ('...', "...", $'...'), after a backslash, inside `...`, ${...},
//   ((...)), $((...)) or [[...]], in a here-document, in the command string of `sh -c` (bash,
//   dash, zsh, ksh, su, runuser, script, flock; `env -S`), or as an argument of a command that
//   reads its arguments as shell code (eval, let, declare, typeset, local, export, readonly,
//   trap, alias, ssh, watch). Its message shows the safe forms: the placeholder unquoted, or,
//   where a shell is really needed, the value read from the environment:
//     sh -c 'npx appwright test "$QG_JOB_TEST_PATH"'
//   Every value is also in the child's environment (placeholder_env_name()).

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "qg/common/errors.hpp"

namespace qg::worker {

// A template qg-worker will not run: qg-worker exits 2 with what(), which names the option and
// the placeholder and shows the safe forms.
class UnsafeTemplate : public ConfigError {
 public:
  using ConfigError::ConfigError;
};

// The placeholder names a template may use, in documentation order.
const std::vector<std::string>& placeholder_names();

// The environment variable that carries a placeholder's value to the command: "QG_JOB_" and
// the name in upper case ("test_path" -> "QG_JOB_TEST_PATH"), except "job_id" -> "QG_JOB_ID".
std::string placeholder_env_name(std::string_view name);

// `value` as one POSIX shell word: qg::shell_quote (qg/common/shell_quote.hpp), returned
// unchanged when it consists only of characters that are never special ([A-Za-z0-9_./:=@%+,-],
// non-empty), else wrapped in single quotes with each ' written as '\''. Never throws except
// std::bad_alloc.
std::string shell_quote(std::string_view value);

// Replaces every {name} whose name is a key of `values` by shell_quote(value), except right
// after a '$'. Text that is not such a token is copied verbatim.
std::string render_template(std::string_view text, const std::map<std::string, std::string>& values);

// Placeholder-looking tokens ({word}) in `text` that are not in placeholder_names(); empty when
// all are known. Used at start-up to warn about typos such as {testpath}.
std::vector<std::string> unknown_placeholders(std::string_view text);

// One word of a template without shell syntax: literal text and placeholders, in order.
struct TemplatePart {
  bool placeholder = false;
  std::string text;  // the literal text (quotes removed), or the placeholder's name
};
using TemplateWord = std::vector<TemplatePart>;

// A template checked once, at start-up, and turned into an argv for each job.
class CommandTemplate {
 public:
  // No command (an empty --install-cmd).
  CommandTemplate() = default;

  // Checks `text`; `option` ("--run-cmd") names it in messages. Throws UnsafeTemplate for a
  // placeholder in a place listed in the header comment, for an unterminated quote, and for a
  // template with no words at all.
  CommandTemplate(std::string text, std::string_view option);

  bool empty() const { return text_.empty(); }
  const std::string& text() const { return text_; }
  // True when the template runs as /bin/sh -c (it uses shell syntax).
  bool uses_shell() const { return shell_; }

  // The argv to execute with `values` (placeholder name -> value; a missing name counts as
  // empty). Without a shell: one element per word, each value inserted whole into its word.
  // With one: {"/bin/sh", "-c", render_template(text, values)}. Empty for an empty template.
  std::vector<std::string> argv(const std::map<std::string, std::string>& values) const;

 private:
  std::string text_;
  bool shell_ = false;
  std::vector<TemplateWord> words_;  // when !shell_
};

// `argv` as one line for logs: its elements shell-quoted, joined by spaces.
std::string display_command(const std::vector<std::string>& argv);

}  // namespace qg::worker
