// The folders of admitted keys: which identity a key file gives, where each role may be, and
// how a bad file is treated at start (refused) and on a reload (left out, logged).
#include "auth/key_table.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "curve_keys.hpp"
#include "qg/common/errors.hpp"
#include "qg/common/logging.hpp"

namespace {

using qg::broker::identity_of_key;
using qg::broker::KeyPlane;
using qg::broker::KeyTable;
using qg::broker::PeerRole;
using qg::broker::testing::KeyFolders;

std::string raw(const std::string& z85) {
  std::string bytes(32, '\0');
  zmq_z85_decode(reinterpret_cast<std::uint8_t*>(bytes.data()), z85.c_str());
  return bytes;
}

TEST(KeyTable, MetadataNamesTheIdentityAndTheFolderBoundsTheRole) {
  auto org = qg::new_curve_cert({{"role", "org"}, {"org", "acme"}});
  auto id = identity_of_key(org, KeyPlane::clients, "anything", "f");
  EXPECT_EQ(id.role(), PeerRole::org);
  EXPECT_EQ(id.id(), "acme");
  EXPECT_THROW(identity_of_key(org, KeyPlane::workers, "anything", "f"), qg::ConfigError);
  auto admin = qg::new_curve_cert({{"role", "admin"}});
  EXPECT_EQ(identity_of_key(admin, KeyPlane::clients, "x", "f").role(), PeerRole::admin);
  auto worker = qg::new_curve_cert({{"role", "worker"}, {"worker-id", "pixel-7"}});
  EXPECT_EQ(identity_of_key(worker, KeyPlane::workers, "x", "f").user_id(), "worker:pixel-7");
  EXPECT_THROW(identity_of_key(worker, KeyPlane::clients, "x", "f"), qg::ConfigError);
  auto scheduler = qg::new_curve_cert({{"role", "scheduler"}});
  EXPECT_EQ(identity_of_key(scheduler, KeyPlane::workers, "x", "f").role(), PeerRole::scheduler);
  for (const auto& bad :
       std::vector<std::vector<std::pair<std::string, std::string>>>{{{"role", "root"}},
                                                                     {{"role", "org"}},
                                                                     {{"role", "org"}, {"org", "a.b"}},
                                                                     {{"role", "worker"}},
                                                                     {{"role", "worker"}, {"worker-id", "-rf"}}}) {
    auto cert = qg::new_curve_cert(bad);
    EXPECT_THROW(identity_of_key(cert, KeyPlane::clients, "x", "f"), qg::ConfigError);
    EXPECT_THROW(identity_of_key(cert, KeyPlane::workers, "x", "f"), qg::ConfigError);
  }
}

TEST(KeyTable, AKeyWithoutRoleIsNamedByItsFileAsTheFoldersKindOfKey) {
  auto plain = qg::new_curve_cert({});
  EXPECT_EQ(identity_of_key(plain, KeyPlane::clients, "acme", "f").user_id(), "org:acme");
  EXPECT_EQ(identity_of_key(plain, KeyPlane::workers, "pixel-7", "f").user_id(), "worker:pixel-7");
  EXPECT_THROW(identity_of_key(plain, KeyPlane::clients, "acme.eu", "f"), qg::ConfigError);
}

TEST(KeyTable, LoadsBothFoldersAndFindsKeysByTheirBytes) {
  KeyFolders keys;
  auto org = keys.make(keys.clients(), "ci-acme", {{"role", "org"}, {"org", "acme"}});
  auto worker = keys.make(keys.workers(), "w1", {{"role", "worker"}, {"worker-id", "w1"}});
  {
    std::ofstream(keys.clients() / "README.txt") << "not a key";  // skipped: not NAME.key
  }
  auto table = KeyTable::load({keys.clients(), keys.workers()}, *qg::null_logger(), true);
  EXPECT_EQ(table.size(KeyPlane::clients), 1u);
  ASSERT_NE(table.find(KeyPlane::clients, raw(org.public_key)), nullptr);
  EXPECT_EQ(table.find(KeyPlane::clients, raw(org.public_key))->user_id(), "org:acme");
  EXPECT_EQ(table.find(KeyPlane::workers, raw(org.public_key)), nullptr);
  EXPECT_EQ(table.find(KeyPlane::workers, raw(worker.public_key))->user_id(), "worker:w1");
  EXPECT_EQ(table.find(KeyPlane::clients, std::string(32, 'x')), nullptr);
}

TEST(KeyTable, ABadFileStopsTheStartButIsOnlyLeftOutOfAReload) {
  KeyFolders keys;
  auto good = keys.make(keys.clients(), "good", {{"role", "admin"}});
  { std::ofstream(keys.clients() / "broken.key") << "curve\n    public-key = \"short\"\n"; }
  const qg::broker::KeyDirs dirs{keys.clients(), keys.workers()};
  try {
    (void)KeyTable::load(dirs, *qg::null_logger(), true);
    FAIL() << "a broken key file was accepted";
  } catch (const qg::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("broken.key"), std::string::npos) << e.what();
  }
  auto table = KeyTable::load(dirs, *qg::null_logger(), false);
  EXPECT_EQ(table.size(KeyPlane::clients), 1u);
  EXPECT_NE(table.find(KeyPlane::clients, raw(good.public_key)), nullptr);
}

TEST(KeyTable, ASecretCertificateOrADuplicateKeyInAFolderIsRefused) {
  KeyFolders keys;
  auto cert = qg::new_curve_cert({{"role", "admin"}});
  qg::write_curve_cert((keys.clients() / "leaked").string(), cert, false);
  std::filesystem::rename(keys.clients() / "leaked.key_secret", keys.clients() / "leaked2.key");
  EXPECT_THROW((void)KeyTable::load({keys.clients(), keys.workers()}, *qg::null_logger(), true), qg::ConfigError);
  std::filesystem::remove(keys.clients() / "leaked2.key");
  std::filesystem::copy_file(keys.clients() / "leaked.key", keys.clients() / "copy.key");
  EXPECT_THROW((void)KeyTable::load({keys.clients(), keys.workers()}, *qg::null_logger(), true), qg::ConfigError);
}

TEST(KeyTable, AMissingFolderStopsTheStart) {
  KeyFolders keys;
  EXPECT_THROW((void)KeyTable::load({keys.root() / "nope", keys.workers()}, *qg::null_logger(), true), qg::ConfigError);
  auto table = KeyTable::load({keys.root() / "nope", keys.workers()}, *qg::null_logger(), false);
  EXPECT_EQ(table.size(KeyPlane::clients), 0u);
}

}  // namespace
