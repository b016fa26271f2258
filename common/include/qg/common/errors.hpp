#pragma once
// The failure hierarchy. Expected outcomes (not found, nothing to claim, a stale report) are
// values, never exceptions; these are for what the caller cannot reasonably expect.
//
//   Error                  base of everything qgjob throws
//   +- ConfigError         bad flags, environment or settings; a process exits 3 on it
//   +- StoreUnavailable    the backing store cannot be reached; safe to retry later
//   +- StoreError          the store answered with an error nobody expected (a bug or corruption)
//      +- StoreFull        the store is out of memory (Redis at maxmemory) and wrote nothing

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

// Redis refused a write for want of memory (an OOM reply at maxmemory with a noeviction
// policy). The command did not run; it may succeed once memory is freed. The message says
// what an operator can do.
class StoreFull : public StoreError {
 public:
  using StoreError::StoreError;
};

}  // namespace qg
