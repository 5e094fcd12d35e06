// A database of its own for a test whose background workers would otherwise
// touch other tests' rows: e.g. an outbox drainer sends (and scrubs) every
// pending outbox row it can see, so a test running drainers must not share
// the harness database with tests that check outbox rows.
#ifndef ADMIT_TESTS_SUPPORT_SCRATCH_DATABASE_H_
#define ADMIT_TESTS_SUPPORT_SCRATCH_DATABASE_H_

#include <string>

namespace admit::testing {

// CREATE DATABASE t_<random> on the server of ADMIT_TEST_PG_URL at
// construction (failing the test if that fails), DROP DATABASE ... WITH
// (FORCE) on destruction.
class ScratchDatabase {
 public:
  ScratchDatabase();
  ~ScratchDatabase();
  ScratchDatabase(const ScratchDatabase&) = delete;
  ScratchDatabase& operator=(const ScratchDatabase&) = delete;

  // postgresql://...:PORT/t_<random>; "" if creation failed.
  const std::string& url() const { return url_; }

 private:
  std::string admin_url_;
  std::string name_;
  std::string url_;
};

}  // namespace admit::testing

#endif  // ADMIT_TESTS_SUPPORT_SCRATCH_DATABASE_H_
