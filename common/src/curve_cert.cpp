// Reading and writing ZeroMQ certificate files (contract in qg/common/curve_cert.hpp).
#include "qg/common/curve_cert.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>

#include <zmq.h>

#include "qg/common/errors.hpp"

namespace qg {
namespace {

constexpr std::string_view kZ85Alphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

int z85_value(char c) noexcept {
  const auto at = kZ85Alphabet.find(c);
  return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

// ZPL names: letters, digits and $-_@.&+/ .
bool is_name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("$-_@.&+/").find(c) != std::string_view::npos;
}

bool is_blank(char c) noexcept { return c == ' ' || c == '\t'; }

// Control characters other than tab: never in a certificate.
bool is_control(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return (u < 0x20 && c != '\t') || u == 0x7f;
}

// The parser's position, for errors that name the file and line but never quote the text.
class Reader {
 public:
  explicit Reader(std::string_view source) : source_(source) {}
  [[noreturn]] void fail(const std::string& what) const {
    throw ConfigError("key file " + std::string(source_) + (line_ > 0 ? ":" + std::to_string(line_) : "") + ": " +
                      what);
  }
  void at_line(std::size_t line) { line_ = line; }

 private:
  std::string_view source_;
  std::size_t line_ = 0;
};

// Reads `name = value` (blanks around '='; the value quoted with " or ', or a run of
// non-blank characters; then only blanks or a # comment). False when the line is not one.
bool split_entry(std::string_view rest, std::string_view& name, std::string_view& value) {
  std::size_t i = 0;
  while (i < rest.size() && is_name_char(rest[i])) ++i;
  if (i == 0) return false;
  name = rest.substr(0, i);
  while (i < rest.size() && is_blank(rest[i])) ++i;
  if (i == rest.size() || rest[i] != '=') return false;
  ++i;
  while (i < rest.size() && is_blank(rest[i])) ++i;
  if (i == rest.size()) return false;
  if (rest[i] == '"' || rest[i] == '\'') {
    const char quote = rest[i];
    const auto close = rest.find(quote, i + 1);
    if (close == std::string_view::npos) return false;
    value = rest.substr(i + 1, close - i - 1);
    i = close + 1;
  } else {
    const auto start = i;
    while (i < rest.size() && !is_blank(rest[i]) && rest[i] != '"' && rest[i] != '\'') ++i;
    value = rest.substr(start, i - start);
  }
  while (i < rest.size() && is_blank(rest[i])) ++i;
  return i == rest.size() || rest[i] == '#';
}

// A section line: a name, then only blanks or a # comment.
std::string_view section_name(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && is_name_char(line[i])) ++i;
  const auto name = line.substr(0, i);
  while (i < line.size() && is_blank(line[i])) ++i;
  if (i < line.size() && line[i] != '#') return {};
  return name;
}

std::string public_of(const std::string& secret_key) {
  std::array<char, kCurveKeyChars + 1> derived{};
  if (zmq_curve_public(derived.data(), secret_key.c_str()) != 0) return {};
  return std::string(derived.data(), kCurveKeyChars);
}

void check_metadata_entry(const Reader& reader, std::string_view name, std::string_view value) {
  if (name.size() > kMaxCertNameBytes) {
    reader.fail("metadata name longer than " + std::to_string(kMaxCertNameBytes) + " bytes");
  }
  if (value.size() > kMaxCertValueBytes) {
    reader.fail("metadata value longer than " + std::to_string(kMaxCertValueBytes) + " bytes");
  }
}

CurveCert read_file(const std::filesystem::path& file) {
  std::error_code ec;
  const auto status = std::filesystem::status(file, ec);
  if (ec) throw ConfigError("key file " + file.string() + ": cannot read: " + ec.message());
  if (!std::filesystem::is_regular_file(status)) throw ConfigError("key file " + file.string() + ": not a file");
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError("key file " + file.string() + ": cannot read: " + std::strerror(errno));
  std::string text(kMaxCertFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxCertFileBytes) {
    throw ConfigError("key file " + file.string() + ": larger than " + std::to_string(kMaxCertFileBytes) +
                      " bytes: not a certificate");
  }
  return parse_curve_cert(text, file.string());
}

std::string now_utc() {
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::array<char, 32> text{};
  const auto n = std::strftime(text.data(), text.size(), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return std::string(text.data(), n);
}

void write_file(const std::filesystem::path& path, const std::string& text, mode_t mode, bool force) {
  const int flags = O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | (force ? 0 : O_EXCL);
  const int fd = ::open(path.c_str(), flags, mode);
  if (fd < 0) throw ConfigError("cannot write " + path.string() + ": " + std::strerror(errno));
  // An overwritten file keeps its old mode otherwise.
  bool ok = ::fchmod(fd, mode) == 0;
  std::size_t done = 0;
  while (ok && done < text.size()) {
    const auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<std::size_t>(n);
  }
  const int error = errno;
  ok = (::close(fd) == 0) && ok;
  if (!ok) throw ConfigError("cannot write " + path.string() + ": " + std::strerror(error));
}

}  // namespace

const std::string* CurveCert::metadata_value(std::string_view name) const noexcept {
  for (const auto& [key, value] : metadata) {
    if (key == name) return &value;
  }
  return nullptr;
}

bool is_z85_key(std::string_view text) noexcept {
  if (text.size() != kCurveKeyChars) return false;
  for (std::size_t group = 0; group < text.size(); group += 5) {
    std::uint64_t value = 0;
    for (std::size_t i = group; i < group + 5; ++i) {
      const int digit = z85_value(text[i]);
      if (digit < 0) return false;
      value = value * 85 + static_cast<std::uint64_t>(digit);
    }
    if (value > 0xffffffffULL) return false;  // five characters carry four bytes at most
  }
  return true;
}

CurveCert parse_curve_cert(std::string_view text, std::string_view source) {
  Reader reader(source);
  if (text.size() > kMaxCertFileBytes) {
    reader.fail("larger than " + std::to_string(kMaxCertFileBytes) + " bytes: not a certificate");
  }
  enum class Section { none, metadata, curve };
  Section section = Section::none;
  bool seen_metadata = false;
  bool seen_curve = false;
  CurveCert cert;
  std::size_t line_no = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    auto line = text.substr(start, end - start);
    start = end + 1;
    reader.at_line(++line_no);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // written on Windows
    for (const char c : line) {
      if (is_control(c)) reader.fail("control character (byte " + std::to_string(static_cast<unsigned char>(c)) + ")");
    }
    std::size_t indent = 0;
    while (indent < line.size() && is_blank(line[indent])) ++indent;
    const auto rest = line.substr(indent);
    if (rest.empty() || rest.front() == '#') continue;
    if (indent == 0) {
      const auto name = section_name(rest);
      if (name == "metadata") {
        if (seen_metadata) reader.fail("a second 'metadata' section");
        seen_metadata = true;
        section = Section::metadata;
      } else if (name == "curve") {
        if (seen_curve) reader.fail("a second 'curve' section");
        seen_curve = true;
        section = Section::curve;
      } else {
        reader.fail("expected a section, 'metadata' or 'curve'");
      }
      continue;
    }
    std::string_view name;
    std::string_view value;
    if (!split_entry(rest, name, value)) reader.fail("expected an indented 'name = \"value\"'");
    if (section == Section::none) reader.fail("an entry before the 'metadata' or 'curve' section");
    if (section == Section::metadata) {
      check_metadata_entry(reader, name, value);
      if (cert.metadata_value(name) != nullptr) reader.fail("metadata name given twice");
      if (cert.metadata.size() == kMaxCertMetadata) {
        reader.fail("more than " + std::to_string(kMaxCertMetadata) + " metadata entries");
      }
      cert.metadata.emplace_back(name, value);
      continue;
    }
    std::string* key = nullptr;
    if (name == "public-key") key = &cert.public_key;
    if (name == "secret-key") key = &cert.secret_key;
    if (key == nullptr) reader.fail("unknown entry in 'curve' (it holds public-key and secret-key)");
    if (!key->empty()) reader.fail(std::string(name) + " given twice");
    if (!is_z85_key(value)) reader.fail(std::string(name) + " is not a key: 40 characters of Z85 expected");
    key->assign(value);
  }
  reader.at_line(0);
  if (cert.public_key.empty()) reader.fail("no public-key in a 'curve' section: not a certificate");
  if (!cert.secret_key.empty() && public_of(cert.secret_key) != cert.public_key) {
    reader.fail("secret-key does not belong to public-key");
  }
  return cert;
}

CurveCert read_curve_cert(const std::filesystem::path& file) { return read_file(file); }

CurveCert read_secret_cert(const std::filesystem::path& file) {
  auto cert = read_file(file);
  if (cert.secret_key.empty()) {
    throw ConfigError("key file " + file.string() +
                      ": holds no secret-key (the secret certificate is NAME.key_secret)");
  }
  return cert;
}

CurveCert read_public_cert(const std::filesystem::path& file) {
  auto cert = read_file(file);
  if (!cert.secret_key.empty()) {
    throw ConfigError("key file " + file.string() +
                      ": holds a secret-key; only the public certificate (NAME.key) is handed out");
  }
  return cert;
}

CurveCert new_curve_cert(std::vector<std::pair<std::string, std::string>> metadata) {
  std::array<char, kCurveKeyChars + 1> public_key{};
  std::array<char, kCurveKeyChars + 1> secret_key{};
  if (zmq_curve_keypair(public_key.data(), secret_key.data()) != 0) {
    throw ConfigError(std::string("cannot make a CURVE key pair: ") + zmq_strerror(zmq_errno()));
  }
  for (const auto& [name, value] : metadata) {
    const bool bad_name =
        name.empty() || name.size() > kMaxCertNameBytes ||
        name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789$-_@.&+/") !=
            std::string::npos;
    if (bad_name) throw ConfigError("metadata name '" + name + "' is not a certificate name");
    bool bad_value = value.size() > kMaxCertValueBytes || value.find('"') != std::string::npos;
    for (const char c : value) bad_value = bad_value || is_control(c);
    if (bad_value) throw ConfigError("metadata value of '" + name + "' cannot be written in a certificate");
  }
  if (metadata.size() > kMaxCertMetadata) throw ConfigError("too many metadata entries");
  CurveCert cert;
  cert.public_key.assign(public_key.data(), kCurveKeyChars);
  cert.secret_key.assign(secret_key.data(), kCurveKeyChars);
  cert.metadata = std::move(metadata);
  // What is written must read back as it was.
  const auto reread = parse_curve_cert(format_curve_cert(cert, true), "(new certificate)");
  if (reread.metadata != cert.metadata) throw ConfigError("metadata that a certificate cannot hold");
  return cert;
}

std::string format_curve_cert(const CurveCert& cert, bool secret) {
  std::string text = "#   ****  Generated on " + now_utc() + " by qgjob  ****\n";
  if (secret) {
    text +=
        "#   ZeroMQ CURVE **Secret** Certificate\n"
        "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n";
  } else {
    text +=
        "#   ZeroMQ CURVE Public Certificate\n"
        "#   Give this file to the peers that must recognise this key; check that it\n"
        "#   arrived unchanged.\n";
  }
  text += "\nmetadata\n";
  for (const auto& [name, value] : cert.metadata) text += "    " + name + " = \"" + value + "\"\n";
  text += "curve\n    public-key = \"" + cert.public_key + "\"\n";
  if (secret) text += "    secret-key = \"" + cert.secret_key + "\"\n";
  return text;
}

CertFiles cert_files(const std::string& name) { return {name + ".key", name + ".key_secret"}; }

CertFiles write_curve_cert(const std::string& name, const CurveCert& cert, bool force) {
  if (name.empty()) throw ConfigError("a certificate needs a name");
  auto files = cert_files(name);
  if (!force) {
    for (const auto& file : {files.public_file, files.secret_file}) {
      std::error_code ec;
      if (std::filesystem::exists(std::filesystem::symlink_status(file, ec))) {
        throw ConfigError(file.string() + " exists; pass --force to overwrite it");
      }
    }
  }
  const auto folder = files.public_file.parent_path();
  if (!folder.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(folder, ec);
    if (ec) throw ConfigError("cannot create " + folder.string() + ": " + ec.message());
  }
  write_file(files.secret_file, format_curve_cert(cert, true), 0600, force);
  write_file(files.public_file, format_curve_cert(cert, false), 0644, force);
  return files;
}

}  // namespace qg
