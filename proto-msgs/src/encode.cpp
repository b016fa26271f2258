// Body encoders: each message becomes one msgpack map whose string keys are the C++ field
// names, written in declaration order (schema.hpp). Integers take their shortest msgpack
// form, enums their lower-case names, empty std::optional fields are left out.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <msgpack.hpp>

#include "qg/proto/codec.hpp"
#include "schema.hpp"

namespace qg::proto {
namespace {

// Appends straight into the std::string we return; msgpack's packer wants only write().
struct StringSink {
  std::string out;
  void write(const char* data, std::size_t size) { out.append(data, size); }
};
using Packer = msgpack::packer<StringSink>;

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};

void put(Packer& pk, std::string_view s) {
  pk.pack_str(static_cast<std::uint32_t>(s.size()));
  pk.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
}
void put(Packer& pk, const std::string& s) { put(pk, std::string_view(s)); }
void put(Packer& pk, bool b) { b ? pk.pack_true() : pk.pack_false(); }
void put(Packer& pk, std::uint32_t n) { pk.pack_uint64(n); }
void put(Packer& pk, std::uint64_t n) { pk.pack_uint64(n); }
void put(Packer& pk, std::int32_t n) { pk.pack_int64(n); }
void put(Packer& pk, std::int64_t n) { pk.pack_int64(n); }
void put(Packer& pk, double d) { pk.pack_double(d); }
void put(Packer& pk, Priority p) { put(pk, to_string(p)); }
void put(Packer& pk, Target t) { put(pk, to_string(t)); }
void put(Packer& pk, JobStatus s) { put(pk, to_string(s)); }

template <detail::Described T>
void put(Packer& pk, const T& record);

template <class T>
void put(Packer& pk, const std::vector<T>& items) {
  pk.pack_array(static_cast<std::uint32_t>(items.size()));
  for (const auto& item : items) put(pk, item);
}

template <class V>
void put(Packer& pk, const std::map<std::string, V>& entries) {
  pk.pack_map(static_cast<std::uint32_t>(entries.size()));
  for (const auto& [key, value] : entries) {
    put(pk, key);
    put(pk, value);
  }
}

// First pass: how many keys the map will have (empty optionals are left out).
struct KeyCounter {
  std::uint32_t keys = 0;
  template <class F>
  void operator()(std::string_view /*key*/, const F& field, detail::Need /*need*/ = detail::Need::optional) {
    if constexpr (IsOptional<F>::value) {
      if (!field) return;
    }
    ++keys;
  }
};

// Second pass: the keys and values.
struct FieldWriter {
  Packer& pk;
  template <class F>
  void operator()(std::string_view key, const F& field, detail::Need /*need*/ = detail::Need::optional) {
    if constexpr (IsOptional<F>::value) {
      if (!field) return;
      put(pk, key);
      put(pk, *field);
    } else {
      put(pk, key);
      put(pk, field);
    }
  }
};

template <detail::Described T>
void put(Packer& pk, const T& record) {
  KeyCounter counter;
  detail::describe(counter, record);
  pk.pack_map(counter.keys);
  FieldWriter writer{pk};
  detail::describe(writer, record);
}

template <class T>
std::string encode_body(const T& message) {
  StringSink sink;
  Packer pk(sink);
  put(pk, message);
  return std::move(sink.out);
}

}  // namespace

#define QG_DEFINE_ENCODE(Type) \
  std::string encode(const Type& message) { return encode_body(message); }
QG_PROTO_MESSAGE_TYPES(QG_DEFINE_ENCODE)
#undef QG_DEFINE_ENCODE

}  // namespace qg::proto
