#pragma once
// The value rules of ids and paths, one function per kind of field. decode<T>() applies them to
// every request (docs/protocol.md, section 10, lists them); they are public so that a receiver
// of a message that is not validated on decode (a worker reading ASSIGN) can hold what it is
// about to use to the same rules, field by field.
//
// Each returns the first rule `value` breaks as an Error naming `field` (INVALID_FIELD, or
// TOO_LARGE for a length over its maximum), or an empty optional when it is fine. No I/O, no
// allocation unless an error is returned, never throws except std::bad_alloc.
//
// Shared by all ids: not starting with '-' (an id may reach a command line as an argument and
// must not read as an option) and not "." or ".." (an id may become a path segment). Names that
// merely begin with dots (".a", "..a") are ordinary path segments and allowed.

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "qg/proto/expected.hpp"

namespace qg::proto {

inline constexpr std::size_t kMaxOrgIdBytes = 64;
inline constexpr std::size_t kMaxAppVersionIdBytes = 128;
inline constexpr std::size_t kMaxIdBytes = 128;  // worker, job and lease ids
inline constexpr std::size_t kMaxTestPathBytes = 1024;
inline constexpr std::size_t kMaxIdempotencyKeyBytes = 256;

// 1-64 bytes of [A-Za-z0-9_-], not starting with '-'. No '.': the org is a segment of the event
// topic "job.<org_id>.<job_id>", and "job.acme." must not match the org "acme.eu".
std::optional<Error> check_org_id(std::string_view value, std::string_view field = "org_id");

// 1-128 bytes of [A-Za-z0-9._-], not starting with '-', not "." or "..".
std::optional<Error> check_app_version_id(std::string_view value, std::string_view field = "app_version_id");

// Worker, job and lease ids: 1-128 bytes of [A-Za-z0-9._:-], not starting with '-', not "." or "..".
std::optional<Error> check_id(std::string_view value, std::string_view field);

// A test file path relative to the test repository: 1-1024 bytes, no control character (bytes
// 0x00-0x1f and 0x7f), not absolute ('/' or '\' first), no ".." segment, not starting with '-'
// (it is handed to the test runner as an argument).
std::optional<Error> check_test_path(std::string_view value, std::string_view field);

// A worker's device id: empty (a generic slot), or free text with no control character, not
// starting with '-', not "." or "..".
std::optional<Error> check_device_id(std::string_view value, std::string_view field = "device_id");

// SUBMIT's idempotency key: empty (none), or up to 256 bytes, not starting with '-', not "." or "..".
std::optional<Error> check_idempotency_key(std::string_view value, std::string_view field = "idempotency_key");

// SUBMIT's requirements (matched against worker labels): at most kMaxRequirements entries; each
// key 1-64 bytes of [A-Za-z0-9._-], not starting with '-'; each value 0-64 bytes, no control
// character. A worker serves them when each key is one of its labels with exactly that value.
inline constexpr std::size_t kMaxRequirements = 8;
inline constexpr std::size_t kMaxRequirementKeyBytes = 64;
inline constexpr std::size_t kMaxRequirementValueBytes = 64;
std::optional<Error> check_requirements(const std::map<std::string, std::string>& requirements,
                                        std::string_view field = "requires");
bool labels_satisfy(const std::map<std::string, std::string>& labels,
                    const std::map<std::string, std::string>& requirements);

// True for the bytes the rules call control characters: 0x00-0x1f and 0x7f.
constexpr bool is_control_byte(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

}  // namespace qg::proto
