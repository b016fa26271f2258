// The start-up check of a command template (contract in template_check.hpp). One pass lexes the
// text into words and operators, tracking the shell's quoting and the regions where a quoted
// value would be parsed again (backticks, ${...}, arithmetic, [[...]], here-documents); a second
// pass looks at each simple command for programs that take shell code as an argument.
#include "template_check.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>

namespace qg::worker::detail {
namespace {

// Programs that read the argument of one option as shell code, and that option's letter.
struct CodeOption {
  std::string_view program;
  char letter;
  std::string_view long_name;
};
constexpr CodeOption kCodeOptions[] = {
    {"sh", 'c', "--command"},      {"bash", 'c', "--command"},   {"dash", 'c', "--command"},
    {"zsh", 'c', "--command"},     {"ksh", 'c', "--command"},    {"ash", 'c', "--command"},
    {"mksh", 'c', "--command"},    {"yash", 'c', "--command"},   {"su", 'c', "--command"},
    {"runuser", 'c', "--command"}, {"script", 'c', "--command"}, {"flock", 'c', "--command"},
    {"env", 'S', "--split-string"}};

// Commands that read all their arguments as shell code (or hand them to a shell).
constexpr std::string_view kEvaluators[] = {"eval",     "let",  "declare", "typeset", "local", "export",
                                            "readonly", "trap", "alias",   "ssh",     "watch"};

// First words that only a shell understands (reserved words and builtins without a program).
constexpr std::string_view kShellOnlyWords[] = {
    "if",    "then",    "else",    "elif",  "fi",      "case",    "esac",     "for",     "while",    "until",
    "do",    "done",    "!",       "{",     "}",       "[[",      "function", "select",  "time",     "cd",
    ".",     ":",       "source",  "exec",  "export",  "set",     "unset",    "eval",    "exit",     "return",
    "shift", "trap",    "ulimit",  "umask", "alias",   "unalias", "wait",     "read",    "break",    "continue",
    "local", "declare", "typeset", "let",   "command", "type",    "hash",     "getopts", "readonly", "times"};

template <std::size_t N>
bool among(const std::string_view (&list)[N], std::string_view word) {
  return std::find(std::begin(list), std::end(list), word) != std::end(list);
}

struct Word {
  TemplateWord parts;
  std::string literal;                    // quotes removed, placeholders written as "{name}"
  std::vector<std::string> placeholders;  // in order
  bool quoted = false;                    // some of it was quoted or escaped
};

struct Token {
  bool op = false;  // an operator that ends a simple command (; & | ( ) ` newline)
  Word word;
};

class Lexer {
 public:
  Lexer(std::string_view text, std::string_view option) : text_(text), option_(option) {}

  CheckedTemplate run() {
    std::size_t i = 0;
    while (i < text_.size()) {
      if (auto name = placeholder_at(i)) {
        if (heredoc_) refuse(*name, "in a here-document");
        if (backtick_) refuse(*name, "inside `...`");
        if (arith_ > 0) refuse(*name, "inside an arithmetic expression ((...))");
        if (dbracket_) refuse(*name, "inside [[ ... ]]");
        add_placeholder(*name);
        i += name->size() + 2;
        continue;
      }
      const char c = text_[i];
      if (c == ' ' || c == '\t') {
        end_word();
        ++i;
      } else if (c == '\'') {
        i = single_quoted(i);
      } else if (c == '"') {
        i = double_quoted(i);
      } else if (c == '\\') {
        i = escaped(i);
      } else if (c == '$') {
        i = dollar(i);
      } else if (c == '\n' || std::string_view("|&;<>()`").find(c) != std::string_view::npos) {
        i = op(i);
      } else {
        // Globs, and a leading ~ or # (home directory, comment), mean something to a shell only.
        if (c == '*' || c == '?' || c == '[' || ((c == '~' || c == '#') && !in_word_)) shell_ = true;
        add_char(c);
        ++i;
      }
    }
    if (backtick_) unterminated("`");
    end_word();
    return finish();
  }

 private:
  // The known placeholder name when text_[i..] is "{name}" not preceded by '$'.
  std::optional<std::string> placeholder_at(std::size_t i) const {
    if (text_[i] != '{' || (i > 0 && text_[i - 1] == '$')) return std::nullopt;
    auto close = text_.find('}', i + 1);
    if (close == std::string_view::npos) return std::nullopt;
    std::string name(text_.substr(i + 1, close - i - 1));
    const auto& known = placeholder_names();
    if (std::find(known.begin(), known.end(), name) == known.end()) return std::nullopt;
    return name;
  }

  [[noreturn]] void refuse(const std::string& name, std::string_view where) const {
    const std::string example = name == "test_path" ? "npx appwright test" : "your-command";
    throw UnsafeTemplate(std::string(option_) + " puts {" + name + "} " + std::string(where) +
                         ", where a submitted value would be read as shell code:\n  " + std::string(text_) +
                         "\nSafe forms: the placeholder unquoted, as (part of) one word, which qg-worker passes as "
                         "one argument:\n  " +
                         example + " {" + name +
                         "}\nor, where a shell is needed, the value read from the environment in double quotes:\n  sh "
                         "-c '" +
                         example + " \"$" + placeholder_env_name(name) + "\"'");
  }

  [[noreturn]] void unterminated(std::string_view what) const {
    throw UnsafeTemplate(std::string(option_) + " has an unterminated " + std::string(what) + ": " +
                         std::string(text_));
  }

  void add_char(char c) {
    in_word_ = true;
    if (word_.parts.empty() || word_.parts.back().placeholder) word_.parts.push_back({false, {}});
    word_.parts.back().text += c;
    word_.literal += c;
  }

  void add_placeholder(const std::string& name) {
    in_word_ = true;
    word_.parts.push_back({true, name});
    word_.literal += "{" + name + "}";
    word_.placeholders.push_back(name);
  }

  void end_word() {
    if (!in_word_) return;
    if (!word_.quoted && word_.literal == "[[") dbracket_ = true;
    if (!word_.quoted && word_.literal == "]]") dbracket_ = false;
    tokens_.push_back({false, std::move(word_)});
    word_ = {};
    in_word_ = false;
  }

  void push_op() {
    end_word();
    tokens_.push_back({true, {}});
  }

  // '...': everything literal up to the next '.
  std::size_t single_quoted(std::size_t i) {
    word_.quoted = in_word_ = true;
    std::size_t j = i + 1;
    for (; j < text_.size() && text_[j] != '\''; ++j) {
      if (auto name = placeholder_at(j)) refuse(*name, "inside quotes");
      add_char(text_[j]);
    }
    if (j >= text_.size()) unterminated("' quote");
    return j + 1;
  }

  // "...": literal except $, ` and \ before $ ` " \ newline, which need a shell.
  std::size_t double_quoted(std::size_t i) {
    word_.quoted = in_word_ = true;
    std::size_t j = i + 1;
    while (j < text_.size() && text_[j] != '"') {
      if (auto name = placeholder_at(j)) refuse(*name, "inside quotes");
      const char c = text_[j];
      if (c == '\\' && j + 1 < text_.size() &&
          std::string_view("$`\"\\\n").find(text_[j + 1]) != std::string_view::npos) {
        shell_ = true;
        if (text_[j + 1] != '\n') add_char(text_[j + 1]);
        j += 2;
        continue;
      }
      if (c == '$' || c == '`') shell_ = true;
      add_char(c);
      ++j;
    }
    if (j >= text_.size()) unterminated("\" quote");
    return j + 1;
  }

  // \x outside quotes: x literal; the quote that shell_quote() puts first must not be escaped.
  std::size_t escaped(std::size_t i) {
    shell_ = true;
    word_.quoted = true;
    if (i + 1 >= text_.size()) {
      add_char('\\');
      return i + 1;
    }
    if (auto name = placeholder_at(i + 1)) refuse(*name, "right after a backslash");
    if (text_[i + 1] != '\n') add_char(text_[i + 1]);
    return i + 2;
  }

  // $'...', ${...}, $((...)), $(...) and $name: all need a shell.
  std::size_t dollar(std::size_t i) {
    shell_ = true;
    const char next = i + 1 < text_.size() ? text_[i + 1] : '\0';
    if (next == '\'') {
      word_.quoted = true;
      std::size_t j = i + 2;
      while (j < text_.size() && text_[j] != '\'') {
        if (auto name = placeholder_at(j)) refuse(*name, "inside quotes");
        j += text_[j] == '\\' ? 2 : 1;
      }
      if (j >= text_.size()) unterminated("$' quote");
      for (std::size_t k = i; k <= j; ++k) add_char(text_[k]);
      return j + 1;
    }
    if (next == '{') {
      int depth = 1;
      std::size_t j = i + 2;
      for (; j < text_.size() && depth > 0; ++j) {
        if (auto name = placeholder_at(j)) refuse(*name, "inside ${...}");
        if (text_[j] == '{') ++depth;
        if (text_[j] == '}') --depth;
      }
      if (depth > 0) unterminated("${");
      for (std::size_t k = i; k < j; ++k) add_char(text_[k]);
      return j;
    }
    if (next == '(' && i + 2 < text_.size() && text_[i + 2] == '(') {
      arith_ += 2;
      add_char('$');
      add_char('(');
      add_char('(');
      return i + 3;
    }
    add_char('$');
    return i + 1;
  }

  // Operators and redirections; all need a shell.
  std::size_t op(std::size_t i) {
    shell_ = true;
    const char c = text_[i];
    if (c == '<') {
      end_word();
      if (text_.substr(i, 3) == "<<<") return i + 3;  // a here-string is one ordinary word
      if (text_.substr(i, 2) == "<<") {
        heredoc_ = true;
        return i + 2;
      }
      return i + 1;
    }
    if (c == '>') {
      end_word();
      return i + 1;
    }
    if (c == '`') backtick_ = !backtick_;
    if (c == '(') {
      if (arith_ > 0) {
        ++arith_;
      } else if (i + 1 < text_.size() && text_[i + 1] == '(') {
        arith_ = 2;
        push_op();
        return i + 2;
      }
    }
    if (c == ')' && arith_ > 0) --arith_;
    push_op();
    return i + 1;
  }

  // The second pass: programs given shell code, and whether the template needs a shell at all.
  CheckedTemplate finish() {
    std::vector<const Word*> command;
    bool any_word = false;
    for (const auto& token : tokens_) {
      if (token.op) {
        check_command(command);
        command.clear();
      } else {
        command.push_back(&token.word);
        any_word = true;
      }
    }
    check_command(command);
    if (!any_word) throw UnsafeTemplate(std::string(option_) + " has no command: '" + std::string(text_) + "'");

    CheckedTemplate out;
    out.shell = shell_;
    const Word& first = std::find_if(tokens_.begin(), tokens_.end(), [](const Token& t) { return !t.op; })->word;
    if (!first.quoted && among(kShellOnlyWords, first.literal)) out.shell = true;
    auto eq = first.literal.find('=');
    if (!first.quoted && eq != std::string::npos && eq > 0 &&
        std::all_of(first.literal.begin(), first.literal.begin() + static_cast<std::ptrdiff_t>(eq),
                    [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; })) {
      out.shell = true;  // NAME=value before the program: an assignment
    }
    if (!out.shell) {
      for (const auto& token : tokens_) out.words.push_back(token.word.parts);
    }
    return out;
  }

  void check_command(const std::vector<const Word*>& words) const {
    for (std::size_t k = 0; k < words.size(); ++k) {
      const Word& w = *words[k];
      if (!w.placeholders.empty() || w.quoted) continue;  // program names are plain words
      auto slash = w.literal.rfind('/');
      std::string_view base = std::string_view(w.literal).substr(slash == std::string::npos ? 0 : slash + 1);
      if (among(kEvaluators, base)) {
        for (std::size_t m = k + 1; m < words.size(); ++m) {
          if (!words[m]->placeholders.empty()) {
            refuse(words[m]->placeholders.front(), "in an argument of `" + std::string(base) + "`");
          }
        }
      }
      for (const auto& code : kCodeOptions) {
        if (code.program == base) check_code_option(words, k, code);
      }
    }
  }

  // After words[k] (a program of kCodeOptions): the argument of its code option, given as the
  // next word that is not an option or attached to the option itself, must hold no placeholder.
  void check_code_option(const std::vector<const Word*>& words, std::size_t k, const CodeOption& code) const {
    const std::string where = "in the command string of `" + std::string(code.program) + " -" + code.letter + "`";
    bool expect = false;
    for (std::size_t m = k + 1; m < words.size(); ++m) {
      const Word& a = *words[m];
      const bool option = a.literal.size() > 1 && a.literal[0] == '-';
      if (expect && !option) {
        if (!a.placeholders.empty()) refuse(a.placeholders.front(), where);
        return;
      }
      if (!option) continue;
      bool takes_code = false;
      if (a.literal.rfind("--", 0) == 0) {
        takes_code = a.literal.substr(0, a.literal.find('=')) == code.long_name;
      } else {
        takes_code = a.literal.substr(0, a.literal.find('{')).find(code.letter) != std::string::npos;
      }
      if (takes_code && !a.placeholders.empty()) refuse(a.placeholders.front(), where);
      expect = expect || takes_code;
    }
  }

  std::string_view text_;
  std::string_view option_;
  std::vector<Token> tokens_;
  Word word_;
  bool in_word_ = false;
  bool shell_ = false;
  bool heredoc_ = false;   // after <<: the rest may be a here-document's body
  bool backtick_ = false;  // inside `...`
  int arith_ = 0;          // open parentheses of ((...)) or $((...))
  bool dbracket_ = false;  // inside [[ ... ]]
};

}  // namespace

CheckedTemplate check_template(std::string_view text, std::string_view option) { return Lexer(text, option).run(); }

}  // namespace qg::worker::detail
