#pragma once
// Command templates for --install-cmd and --run-cmd.
//
// A template is shell text with placeholders {org_id} {app_version_id} {test_path} {target}
// {job_id} {attempt} {device_id}. Only those exact tokens are replaced; any other text,
// including other braces such as "${HOME}", is left untouched. Every substituted value is
// shell-quoted, so a value can never break out into shell syntax: do not put quotes around
// placeholders in the template yourself. The result is meant for `/bin/sh -c`.

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace qg::worker {

// The placeholder names a template may use, in documentation order.
const std::vector<std::string>& placeholder_names();

// `value` as one POSIX shell word: returned unchanged when it consists only of characters
// that are never special ([A-Za-z0-9_./:=@%+,-], non-empty), else wrapped in single quotes
// with each ' written as '\''. Never throws except std::bad_alloc.
std::string shell_quote(std::string_view value);

// Replaces every {name} whose name is a key of `values` by shell_quote(value). Text that is
// not such a token is copied verbatim.
std::string render_template(std::string_view text, const std::map<std::string, std::string>& values);

// Placeholder-looking tokens ({word}) in `text` that are not in placeholder_names(); empty when
// all are known. Used at start-up to warn about typos such as {testpath}.
std::vector<std::string> unknown_placeholders(std::string_view text);

}  // namespace qg::worker
