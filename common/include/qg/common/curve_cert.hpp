#pragma once
// ZeroMQ CURVE certificates in the text format of CZMQ's zcert and pyzmq's zmq.auth, so keys
// can be made and inspected with the standard tools: a public file NAME.key and a secret file
// NAME.key_secret, each a small ZPL document with two sections,
//
//   metadata
//       role = "org"
//       org = "acme"
//   curve
//       public-key = "<40 Z85 characters>"
//       secret-key = "<40 Z85 characters>"      (the secret file only)
//
// and '#' comment lines. The parser is strict, for files that may come from anyone: size
// capped, control characters refused, only those two sections, keys of exactly 40 valid Z85
// characters, a secret key that matches its public key, metadata bounded in count and size.
// Every failure is a ConfigError naming the file and line; no error ever quotes the file's
// content, so a secret key never reaches a message or a log.
//
// common knows no domain: what the metadata means (roles, org ids) is the reader's business.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qg {

inline constexpr std::size_t kCurveKeyChars = 40;            // Z85 text of a 32-byte key
inline constexpr std::size_t kMaxCertFileBytes = 16 * 1024;  // real certificates are under 1 KiB
inline constexpr std::size_t kMaxCertMetadata = 32;          // metadata entries
inline constexpr std::size_t kMaxCertNameBytes = 64;         // a metadata name
inline constexpr std::size_t kMaxCertValueBytes = 255;       // a metadata value

struct CurveCert {
  std::string public_key;                                     // Z85, kCurveKeyChars
  std::string secret_key;                                     // Z85, kCurveKeyChars; empty in a public certificate
  std::vector<std::pair<std::string, std::string>> metadata;  // in file order, names unique

  // The value of metadata entry `name`; nullptr when there is none.
  const std::string* metadata_value(std::string_view name) const noexcept;
};

// True when `text` is 40 characters of the Z85 alphabet that decode to 32 bytes.
bool is_z85_key(std::string_view text) noexcept;

// Parses certificate text; `source` names it in errors ("key file <source>:<line>: ..."). A
// secret-key, when present, must match the public-key. Throws ConfigError.
CurveCert parse_curve_cert(std::string_view text, std::string_view source);

// Reads and parses a certificate file (at most kMaxCertFileBytes, a regular file). Throws
// ConfigError when it cannot be read or does not parse.
CurveCert read_curve_cert(const std::filesystem::path& file);
// read_curve_cert(), and the certificate must hold a secret key (NAME.key_secret).
CurveCert read_secret_cert(const std::filesystem::path& file);
// read_curve_cert(), and the certificate must not hold a secret key (a NAME.key that is given
// to others, or deployed in a directory of admitted keys).
CurveCert read_public_cert(const std::filesystem::path& file);

// A new key pair (zmq_curve_keypair) with `metadata`. Throws ConfigError when libzmq has no
// CURVE, or a metadata name or value could not be written and read back (bad characters,
// over the limits, a '"' in a value, duplicate names).
CurveCert new_curve_cert(std::vector<std::pair<std::string, std::string>> metadata);

// The certificate's text: with `secret`, the secret file (both keys), else the public file.
// Both carry the metadata (as CZMQ writes them; pyzmq puts metadata in the secret file only).
std::string format_curve_cert(const CurveCert& cert, bool secret);

// The two files of certificate NAME: NAME.key and NAME.key_secret.
struct CertFiles {
  std::filesystem::path public_file;
  std::filesystem::path secret_file;
};
CertFiles cert_files(const std::string& name);

// Writes NAME.key (mode 0644) and NAME.key_secret (mode 0600), creating NAME's folder if it
// is missing. Refuses (ConfigError, nothing written) when either file exists, unless `force`.
// Throws ConfigError when a file cannot be written.
CertFiles write_curve_cert(const std::string& name, const CurveCert& cert, bool force);

}  // namespace qg
