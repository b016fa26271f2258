// Hardened body decoding. The bytes are unpacked once, with every msgpack limit set from
// Limits, into a msgpack::object tree that borrows the body's bytes; that tree is then
// walked by hand against schema.hpp (never through msgpack's adaptors, which throw and know
// nothing of our field names), and finally each request's value rules are checked.
// Nothing here throws out of decode(); every failure is an Error.

#include <exception>
#include <limits>
#include <map>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <msgpack.hpp>

#include "body_scan.hpp"
#include "qg/proto/codec.hpp"
#include "schema.hpp"
#include "validate.hpp"

namespace qg::proto {
namespace {

using detail::Need;

// Zero-copy: strings, bins and exts in the tree point into the body, which outlives it.
bool reference_body(msgpack::type::object_type /*type*/, std::size_t /*size*/, void* /*user*/) { return true; }

// The zone an unpacked tree lives in. Each thread keeps one between decodes and clears it
// when the tree is done with: its first chunk is reused, so a body that fits in it (every
// ordinary request) is unpacked without a heap allocation, and the further chunks a big body
// needed are freed at once. A lease taken while the thread's zone is leased already (not
// expected: decoding does not nest) gets a zone of its own.
class ZoneLease {
 public:
  ZoneLease() {
    if (in_use_) {
      own_.emplace();
      zone_ = &*own_;
    } else {
      in_use_ = true;
      zone_ = &shared();
    }
  }
  ~ZoneLease() {
    if (own_) return;
    zone_->clear();
    in_use_ = false;
  }
  ZoneLease(const ZoneLease&) = delete;
  ZoneLease& operator=(const ZoneLease&) = delete;
  msgpack::zone& zone() { return *zone_; }

 private:
  static msgpack::zone& shared() {
    thread_local msgpack::zone zone;
    return zone;
  }
  static thread_local bool in_use_;
  std::optional<msgpack::zone> own_;
  msgpack::zone* zone_ = nullptr;
};
thread_local bool ZoneLease::in_use_ = false;

// The body as one unpacked object (living in the caller's zone), or the reason it is not one.
struct Unpacked {
  msgpack::object root;
  std::optional<Error> error;
};

Unpacked unpack_body(msgpack::zone& zone, std::string_view body, const Limits& limits) {
  Unpacked result;
  if (body.empty()) {
    result.error = Error{std::string(errc::bad_body), "empty body; expected a msgpack map", ""};
    return result;
  }
  if (body.size() > limits.max_frame_bytes) {
    result.error = Error{std::string(errc::too_large),
                         "body of " + std::to_string(body.size()) + " bytes is over max_frame_bytes (" +
                             std::to_string(limits.max_frame_bytes) + ")",
                         ""};
    return result;
  }
  const msgpack::unpack_limit unpack_limits(limits.max_array_items, limits.max_map_items, limits.max_string_bytes,
                                            limits.max_string_bytes, limits.max_string_bytes, limits.max_depth);
  const auto bad = [&](std::string_view code, std::string message) {
    result.error = Error{std::string(code), std::move(message), ""};
  };
  try {
    std::size_t offset = 0;
    result.root = msgpack::unpack(zone, body.data(), body.size(), offset, reference_body, nullptr, unpack_limits);
    if (offset != body.size()) {
      bad(errc::bad_body, std::to_string(body.size() - offset) + " trailing bytes after the body's msgpack map");
    } else if (result.root.type != msgpack::type::MAP) {
      bad(errc::bad_body, "body is not a msgpack map");
    }
  } catch (const msgpack::depth_size_overflow&) {
    bad(errc::bad_body, "body nests deeper than max_depth (" + std::to_string(limits.max_depth) + ")");
  } catch (const msgpack::array_size_overflow&) {
    bad(errc::too_large, "an array is over max_array_items (" + std::to_string(limits.max_array_items) + ")");
  } catch (const msgpack::map_size_overflow&) {
    bad(errc::too_large, "a map is over max_map_items (" + std::to_string(limits.max_map_items) + ")");
  } catch (const msgpack::size_overflow&) {  // str, bin or ext
    bad(errc::too_large, "a string is over max_string_bytes (" + std::to_string(limits.max_string_bytes) + ")");
  } catch (const msgpack::insufficient_bytes&) {
    bad(errc::bad_body, "body is truncated msgpack");
  } catch (const msgpack::unpack_error&) {  // parse_error and anything else msgpack rejects
    bad(errc::bad_body, "body is not valid msgpack");
  } catch (const std::bad_alloc&) {
    bad(errc::too_large, "body needs more memory than allowed");
  } catch (const std::exception&) {  // includes msgpack::type_error (a std::bad_cast)
    bad(errc::bad_body, "body is not valid msgpack");
  } catch (...) {
    bad(errc::bad_body, "body is not valid msgpack");
  }
  return result;
}

// Walk state: the limits, the dotted path of the field being read ("jobs[3].attempt") and
// the first error met. Once an error is set every further read is skipped.
class Walk {
 public:
  explicit Walk(const Limits& limits) : limits_(limits) {}

  [[nodiscard]] bool failed() const noexcept { return error_.has_value(); }
  [[nodiscard]] const Error& error() const { return *error_; }
  [[nodiscard]] const Limits& limits() const noexcept { return limits_; }

  void fail(std::string_view code, std::string message) {
    if (!error_) error_ = Error{std::string(code), std::move(message), path_};
  }

  // Scope guard: extends the path by ".key" or "[i]" and restores it on exit.
  class Scope {
   public:
    Scope(Walk& walk, std::string_view key) : walk_(walk), mark_(walk.path_.size()) {
      if (!walk_.path_.empty()) walk_.path_ += '.';
      walk_.path_ += key;
    }
    Scope(Walk& walk, std::size_t index) : walk_(walk), mark_(walk.path_.size()) {
      walk_.path_ += '[';
      walk_.path_ += std::to_string(index);
      walk_.path_ += ']';
    }
    ~Scope() { walk_.path_.resize(mark_); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Walk& walk_;
    std::size_t mark_;
  };

 private:
  const Limits& limits_;
  std::string path_;
  std::optional<Error> error_;
};

std::string_view as_view(const msgpack::object_str& s) { return {s.ptr, s.size}; }

const char* type_name(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::NIL:
      return "nil";
    case msgpack::type::BOOLEAN:
      return "a boolean";
    case msgpack::type::POSITIVE_INTEGER:
    case msgpack::type::NEGATIVE_INTEGER:
      return "an integer";
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return "a float";
    case msgpack::type::STR:
      return "a string";
    case msgpack::type::BIN:
      return "bin";
    case msgpack::type::ARRAY:
      return "an array";
    case msgpack::type::MAP:
      return "a map";
    case msgpack::type::EXT:
      return "ext";
  }
  return "an unknown type";
}

void wrong_type(Walk& w, const msgpack::object& o, std::string_view expected) {
  w.fail(errc::invalid_field, "expected " + std::string(expected) + ", got " + type_name(o));
}

void read(Walk& w, const msgpack::object& o, std::string& out) {
  if (o.type != msgpack::type::STR) return wrong_type(w, o, "a string");
  if (o.via.str.size > w.limits().max_string_bytes) {
    return w.fail(errc::too_large,
                  "string over max_string_bytes (" + std::to_string(w.limits().max_string_bytes) + ")");
  }
  out.assign(o.via.str.ptr, o.via.str.size);
}

void read(Walk& w, const msgpack::object& o, bool& out) {
  if (o.type != msgpack::type::BOOLEAN) return wrong_type(w, o, "a boolean");
  out = o.via.boolean;
}

template <class I>
requires std::is_integral_v<I> &&(!std::is_same_v<I, bool>)void read(Walk& w, const msgpack::object& o, I& out) {
  const auto out_of_range = [&] {
    w.fail(errc::invalid_field, "integer out of range " + std::to_string(std::numeric_limits<I>::min()) + ".." +
                                    std::to_string(std::numeric_limits<I>::max()));
  };
  if (o.type == msgpack::type::POSITIVE_INTEGER) {
    if (o.via.u64 > static_cast<std::uint64_t>(std::numeric_limits<I>::max())) return out_of_range();
    out = static_cast<I>(o.via.u64);
  } else if (o.type == msgpack::type::NEGATIVE_INTEGER) {
    if constexpr (std::is_unsigned_v<I>) {
      return out_of_range();
    } else {
      if (o.via.i64 < static_cast<std::int64_t>(std::numeric_limits<I>::min())) return out_of_range();
      out = static_cast<I>(o.via.i64);
    }
  } else {
    wrong_type(w, o, "an integer");
  }
}

void read(Walk& w, const msgpack::object& o, double& out) {
  switch (o.type) {
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      out = o.via.f64;
      return;
    case msgpack::type::POSITIVE_INTEGER:
      out = static_cast<double>(o.via.u64);
      return;
    case msgpack::type::NEGATIVE_INTEGER:
      out = static_cast<double>(o.via.i64);
      return;
    default:
      wrong_type(w, o, "a number");
  }
}

template <class E, class Parse>
void read_enum(Walk& w, const msgpack::object& o, E& out, Parse parse, std::string_view allowed) {
  if (o.type != msgpack::type::STR) return wrong_type(w, o, "a string");
  const auto parsed = parse(as_view(o.via.str));
  if (!parsed) return w.fail(errc::invalid_field, "expected one of " + std::string(allowed));
  out = *parsed;
}
void read(Walk& w, const msgpack::object& o, Priority& out) {
  read_enum(w, o, out, parse_priority, "low, medium, high");
}
void read(Walk& w, const msgpack::object& o, Target& out) {
  read_enum(w, o, out, parse_target, "emulator, device, browserstack");
}
void read(Walk& w, const msgpack::object& o, JobStatus& out) {
  read_enum(w, o, out, parse_status,
            "queued, assigned, installing, running, passed, failed, timed_out, error, cancelled, dead");
}

template <detail::Described T>
void read(Walk& w, const msgpack::object& o, T& out);

template <class T>
void read(Walk& w, const msgpack::object& o, std::optional<T>& out) {
  T value{};
  read(w, o, value);
  if (!w.failed()) out = std::move(value);
}

template <class T>
void read(Walk& w, const msgpack::object& o, std::vector<T>& out) {
  if (o.type != msgpack::type::ARRAY) return wrong_type(w, o, "an array");
  out.clear();
  out.reserve(o.via.array.size);  // bounded by max_array_items, checked while unpacking
  for (std::uint32_t i = 0; i < o.via.array.size && !w.failed(); ++i) {
    const Walk::Scope scope(w, i);
    T item{};
    read(w, o.via.array.ptr[i], item);
    out.push_back(std::move(item));
  }
}

template <class V>
void read(Walk& w, const msgpack::object& o, std::map<std::string, V>& out) {
  if (o.type != msgpack::type::MAP) return wrong_type(w, o, "a map");
  out.clear();
  for (std::uint32_t i = 0; i < o.via.map.size && !w.failed(); ++i) {
    const msgpack::object_kv& kv = o.via.map.ptr[i];
    if (kv.key.type != msgpack::type::STR) return w.fail(errc::invalid_field, "map key is not a string");
    std::string key(as_view(kv.key.via.str));
    V value{};
    read(w, kv.val, value);
    if (w.failed()) return;
    if (!out.emplace(std::move(key), std::move(value)).second) {
      return w.fail(errc::invalid_field, "duplicate map key");
    }
  }
}

// Reads the fields of one record out of a msgpack map whose keys are all strings.
class FieldReader {
 public:
  FieldReader(Walk& walk, const msgpack::object_map& map) : walk_(walk), map_(map) {}

  template <class F>
  void operator()(std::string_view key, F& field, Need need = Need::optional) {
    if (walk_.failed()) return;
    const msgpack::object* value = nullptr;
    for (std::uint32_t i = 0; i < map_.size; ++i) {
      const msgpack::object_kv& kv = map_.ptr[i];
      if (as_view(kv.key.via.str) != key) continue;
      if (value != nullptr) {
        const Walk::Scope scope(walk_, key);
        return walk_.fail(errc::invalid_field, "duplicate key");
      }
      value = &kv.val;
    }
    const Walk::Scope scope(walk_, key);
    if (value == nullptr || value->type == msgpack::type::NIL) {  // nil counts as absent
      if (need == Need::required) walk_.fail(errc::missing_field, "required field is missing");
      return;
    }
    read(walk_, *value, field);
  }

 private:
  Walk& walk_;
  const msgpack::object_map& map_;
};

bool keys_are_strings(const msgpack::object_map& map) {
  for (std::uint32_t i = 0; i < map.size; ++i) {
    if (map.ptr[i].key.type != msgpack::type::STR) return false;
  }
  return true;
}

template <detail::Described T>
void read(Walk& w, const msgpack::object& o, T& out) {
  if (o.type != msgpack::type::MAP) return wrong_type(w, o, "a map");
  if (!keys_are_strings(o.via.map)) return w.fail(errc::invalid_field, "map key is not a string");
  FieldReader reader(w, o.via.map);
  detail::describe(reader, out);
}

template <class T>
Expected<T> decode_body(std::string_view body, const Limits& limits) {
  try {
    ZoneLease lease;
    Unpacked unpacked = unpack_body(lease.zone(), body, limits);
    if (unpacked.error) {
      // msgpack refuses an over-limit value without saying where: find the field.
      if (unpacked.error->code == errc::too_large && unpacked.error->field.empty() &&
          body.size() <= limits.max_frame_bytes) {
        unpacked.error->field = detail::scan_body(body, limits).field;
      }
      return *unpacked.error;
    }
    const msgpack::object& root = unpacked.root;
    if (!keys_are_strings(root.via.map)) return Error{std::string(errc::bad_body), "a body key is not a string", ""};
    Walk walk(limits);
    T message{};
    FieldReader reader(walk, root.via.map);
    detail::describe(reader, message);
    if (walk.failed()) return walk.error();
    if (auto invalid = detail::validate(message, limits)) return *invalid;
    return message;
  } catch (const std::bad_alloc&) {
    return Error{std::string(errc::too_large), "body needs more memory than allowed", ""};
  } catch (...) {
    return Error{std::string(errc::internal), "unexpected failure while decoding", ""};
  }
}

}  // namespace

template <class T>
Expected<T> decode(std::string_view body, const Limits& limits) {
  return decode_body<T>(body, limits);
}

#define QG_INSTANTIATE_DECODE(Type) template Expected<Type> decode<Type>(std::string_view, const Limits&);
QG_PROTO_MESSAGE_TYPES(QG_INSTANTIATE_DECODE)
#undef QG_INSTANTIATE_DECODE

std::string peek_rid(std::string_view body, const Limits& limits) noexcept {
  try {
    ZoneLease lease;
    Unpacked unpacked = unpack_body(lease.zone(), body, limits);
    // A body msgpack refuses only for being over a limit still names its rid, before or after
    // the part over the limit: read it without unpacking. A body broken otherwise has none.
    if (unpacked.error) {
      const bool over_limit = unpacked.error->code == errc::too_large && body.size() <= limits.max_frame_bytes;
      return over_limit ? detail::scan_body(body, limits).rid : std::string();
    }
    const msgpack::object_map& map = unpacked.root.via.map;
    for (std::uint32_t i = 0; i < map.size; ++i) {
      const msgpack::object_kv& kv = map.ptr[i];
      if (kv.key.type != msgpack::type::STR || as_view(kv.key.via.str) != "rid") continue;
      if (kv.val.type != msgpack::type::STR || kv.val.via.str.size > detail::kMaxRidBytes) return {};
      return std::string(as_view(kv.val.via.str));
    }
    return {};
  } catch (...) {
    return {};
  }
}

}  // namespace qg::proto
