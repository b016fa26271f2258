#pragma once
// The failure hierarchy. Expected outcomes (not found, nothing to claim, a stale report) are
// values, never exceptions; these are for what the caller cannot reasonably expect.
//
//   Error                  base of everything qgjob throws
//   +- ConfigError         bad flags, environment or settings; a process exits 3 on it
//   +- StoreUnavailable    the backing store cannot be reached; safe to retry later
//   +- StoreError          the store answered with an error nobody expected (a bug or corruption)

#include <stdexcept>
#include <string>

namespace qg {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ConfigError : public Error {
 public:
  using Error::Error;
};

class StoreUnavailable : public Error {
 public:
  using Error::Error;
};

class StoreError : public Error {
 public:
  using Error::Error;
};

}  // namespace qg
