#include "tests/support/scratch_database.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pqxx/nontransaction"
#include "pqxx/pqxx"
#include "tests/support/test_support.h"

namespace admit::testing {
namespace {

// The URL with its database (the path after the last '/') replaced.
std::string WithDatabase(const std::string& url, const std::string& name) {
  const size_t scheme = url.find("://");
  const size_t slash =
      url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (slash == std::string::npos) return absl::StrCat(url, "/", name);
  const size_t query = url.find('?', slash);
  return absl::StrCat(url.substr(0, slash + 1), name,
                      query == std::string::npos ? "" : url.substr(query));
}

}  // namespace

ScratchDatabase::ScratchDatabase()
    : admin_url_(RequireEnv("ADMIT_TEST_PG_URL")) {
  if (admin_url_.empty()) return;
  std::random_device random;
  name_ = absl::StrCat("t_", random(), "_", random());
  try {
    pqxx::connection conn(admin_url_);
    pqxx::nontransaction tx(conn);
    tx.exec0(absl::StrCat("CREATE DATABASE ", tx.quote_name(name_)));
    url_ = WithDatabase(admin_url_, name_);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "cannot create a scratch database: " << e.what();
    name_.clear();
  }
}

ScratchDatabase::~ScratchDatabase() {
  if (name_.empty()) return;
  try {
    pqxx::connection conn(admin_url_);
    pqxx::nontransaction tx(conn);
    tx.exec0(absl::StrCat("DROP DATABASE IF EXISTS ", tx.quote_name(name_),
                          " WITH (FORCE)"));
  } catch (const std::exception& e) {
    ADD_FAILURE() << "cannot drop scratch database " << name_ << ": "
                  << e.what();
  }
}

}  // namespace admit::testing
