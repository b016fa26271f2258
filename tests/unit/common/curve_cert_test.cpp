// Certificate files: what qgjob writes reads back, pyzmq's and CZMQ's shapes are accepted,
// and hostile files (truncated, wrong lengths, bad Z85, huge, control characters, random
// damage) are refused with a ConfigError that names the line and never quotes a key.
#include "qg/common/curve_cert.hpp"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "qg/common/errors.hpp"

namespace {

using qg::ConfigError;
using qg::CurveCert;

// The error parse_curve_cert throws for `text`; empty when it parses.
std::string parse_error(const std::string& text) {
  try {
    (void)qg::parse_curve_cert(text, "t.key");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return {};
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "qg-cert-XXXXXX").string();
    path = ::mkdtemp(templ.data());
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

TEST(CurveCert, WhatIsWrittenReadsBackWithKeysAndMetadata) {
  auto cert = qg::new_curve_cert({{"role", "org"}, {"org", "acme"}});
  EXPECT_TRUE(qg::is_z85_key(cert.public_key));
  EXPECT_TRUE(qg::is_z85_key(cert.secret_key));
  auto secret = qg::parse_curve_cert(qg::format_curve_cert(cert, true), "s");
  EXPECT_EQ(secret.public_key, cert.public_key);
  EXPECT_EQ(secret.secret_key, cert.secret_key);
  ASSERT_NE(secret.metadata_value("org"), nullptr);
  EXPECT_EQ(*secret.metadata_value("org"), "acme");
  EXPECT_EQ(secret.metadata_value("worker-id"), nullptr);
  auto public_text = qg::format_curve_cert(cert, false);
  EXPECT_EQ(public_text.find(cert.secret_key), std::string::npos);
  auto pub = qg::parse_curve_cert(public_text, "p");
  EXPECT_TRUE(pub.secret_key.empty());
  EXPECT_EQ(pub.metadata, cert.metadata);
}

TEST(CurveCert, PyzmqShapedFilesWithUnquotedValuesAndBannerParse) {
  auto cert = qg::new_curve_cert({});
  const std::string text =
      "#   ****  Generated on 2024-05-01 12:00:00.123456 by pyzmq  ****\n"
      "#   ZeroMQ CURVE **Secret** Certificate\n\n"
      "metadata\n    role = worker\n    worker-id = pixel-7\n"
      "curve\n    public-key = \"" +
      cert.public_key + "\"\n    secret-key = '" + cert.secret_key + "'   # trailing comment\r\n";
  auto parsed = qg::parse_curve_cert(text, "py");
  EXPECT_EQ(parsed.secret_key, cert.secret_key);
  EXPECT_EQ(*parsed.metadata_value("role"), "worker");
  EXPECT_EQ(*parsed.metadata_value("worker-id"), "pixel-7");
  // No metadata section at all, tab indentation: still a certificate.
  EXPECT_EQ(parse_error("curve\n\tpublic-key = \"" + cert.public_key + "\"\n"), "");
}

TEST(CurveCert, HostileFilesAreRefusedNamingTheLine) {
  auto cert = qg::new_curve_cert({});
  const std::string pk = cert.public_key;
  const std::string good = "metadata\ncurve\n    public-key = \"" + pk + "\"\n";
  ASSERT_EQ(parse_error(good), "");
  struct Case {
    std::string text;
    std::string expect;
  };
  const Case cases[] = {
      {"", "no public-key"},
      {"metadata\n", "no public-key"},
      {good.substr(0, good.size() - 10), "t.key:3:"},                          // truncated inside the key
      {"curve\n    public-key = \"" + pk.substr(0, 39) + "\"\n", "t.key:2:"},  // 39 characters
      {"curve\n    public-key = \"" + pk + "0\"\n", "t.key:2:"},               // 41
      {"curve\n    public-key = \"" + pk.substr(0, 35) + "~~~~~\"\n", "Z85"},
      {"curve\n    public-key = \"" + pk.substr(0, 35) + "%%%%%\"\n", "Z85"},  // over 2^32
      {"curve\n    public-key = \"" + pk + "\n", "t.key:2:"},                  // no closing quote
      {"curve\n    public-key = \"" + pk + "\" junk\n", "t.key:2:"},
      {"curve\n    public-key = \"" + pk + "\"\n    public-key = \"" + pk + "\"\n", "twice"},
      {"curve\n    private-key = \"" + pk + "\"\n", "unknown entry"},
      {"    public-key = \"" + pk + "\"\ncurve\n", "before"},
      {"certificate\n", "section"},
      {"metadata\nmetadata\n", "second"},
      {"curve\n    public-key = \"" + pk + "\"\x1b[2J\n", "control"},
      {std::string("metadata\n    role = \"o\0g\"\n", 26) + good.substr(9), "control"},
      {"metadata\n    role = \"a\"\n    role = \"b\"\n" + good.substr(9), "twice"},
      {"metadata\n    r\xc3\xb4le = \"a\"\n", "t.key:2:"},
      {"metadata\n    role = \"" + std::string(300, 'x') + "\"\n", "longer"},
      {"metadata\n    " + std::string(100, 'n') + " = x\n", "longer"},
      {"metadata\n    role\n", "t.key:2:"},
      {"metadata\n    = x\n", "t.key:2:"},
      {std::string(20000, '#'), "larger"},
  };
  for (const auto& c : cases) {
    const auto error = parse_error(c.text);
    EXPECT_NE(error.find(c.expect), std::string::npos) << "text: " << c.text.substr(0, 80) << "\nerror: " << error;
    EXPECT_NE(error.find("t.key"), std::string::npos) << error;
  }
  std::string many = "metadata\n";
  for (int i = 0; i < 40; ++i) many += "    k" + std::to_string(i) + " = v\n";
  EXPECT_NE(parse_error(many + good.substr(9)).find("more than"), std::string::npos);
}

TEST(CurveCert, ASecretKeyThatIsNotThePublicKeysIsRefusedWithoutQuotingEither) {
  auto a = qg::new_curve_cert({});
  auto b = qg::new_curve_cert({});
  const std::string text =
      "curve\n    public-key = \"" + a.public_key + "\"\n    secret-key = \"" + b.secret_key + "\"\n";
  const auto error = parse_error(text);
  EXPECT_NE(error.find("does not belong"), std::string::npos) << error;
  EXPECT_EQ(error.find(b.secret_key), std::string::npos);
  EXPECT_EQ(error.find(a.public_key), std::string::npos);
}

TEST(CurveCert, RandomDamageNeverCrashesAndNeverPutsTheSecretInAnError) {
  auto cert = qg::new_curve_cert({{"role", "org"}, {"org", "acme"}});
  const auto text = qg::format_curve_cert(cert, true);
  std::mt19937 random(12345);
  int refused = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string damaged = text;
    const int edits = 1 + static_cast<int>(random() % 4);
    for (int e = 0; e < edits; ++e) {
      const auto at = random() % damaged.size();
      switch (random() % 4) {
        case 0:
          damaged[at] = static_cast<char>(random() % 256);
          break;
        case 1:
          damaged.erase(at, 1 + random() % 8);
          break;
        case 2:
          damaged.insert(at, 1, static_cast<char>(random() % 256));
          break;
        default:
          damaged.resize(at);
          break;
      }
      if (damaged.empty()) damaged = "x";
    }
    try {
      auto parsed = qg::parse_curve_cert(damaged, "fuzz");
      // Whatever parses is a consistent certificate.
      EXPECT_TRUE(qg::is_z85_key(parsed.public_key));
      if (!parsed.secret_key.empty()) {
        EXPECT_TRUE(qg::is_z85_key(parsed.secret_key));
      }
    } catch (const ConfigError& e) {
      ++refused;
      const std::string what = e.what();
      ASSERT_EQ(what.find(cert.secret_key.substr(0, 10)), std::string::npos) << what;
      ASSERT_EQ(what.find(cert.secret_key.substr(30)), std::string::npos) << what;
    }
  }
  EXPECT_GT(refused, 1000);
}

TEST(CurveCert, FilesAreWrittenWithTheSecretPrivateAndNotOverwrittenWithoutForce) {
  TempDir dir;
  const auto name = (dir.path / "keys" / "acme").string();
  auto cert = qg::new_curve_cert({{"role", "org"}, {"org", "acme"}});
  auto files = qg::write_curve_cert(name, cert, false);
  EXPECT_EQ(files.public_file.string(), name + ".key");
  struct stat st {};
  ASSERT_EQ(::stat(files.secret_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(files.public_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  EXPECT_EQ(qg::read_secret_cert(files.secret_file).secret_key, cert.secret_key);
  EXPECT_EQ(qg::read_public_cert(files.public_file).public_key, cert.public_key);
  EXPECT_THROW(qg::read_public_cert(files.secret_file), ConfigError);
  EXPECT_THROW(qg::read_secret_cert(files.public_file), ConfigError);

  auto other = qg::new_curve_cert({});
  EXPECT_THROW(qg::write_curve_cert(name, other, false), ConfigError);
  EXPECT_EQ(qg::read_secret_cert(files.secret_file).secret_key, cert.secret_key);  // untouched
  ::chmod(files.secret_file.c_str(), 0644);
  qg::write_curve_cert(name, other, true);
  EXPECT_EQ(qg::read_secret_cert(files.secret_file).secret_key, other.secret_key);
  ASSERT_EQ(::stat(files.secret_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(CurveCert, UnreadableHugeAndNonFileInputsAreConfigErrors) {
  TempDir dir;
  EXPECT_THROW(qg::read_curve_cert(dir.path / "missing.key"), ConfigError);
  EXPECT_THROW(qg::read_curve_cert(dir.path), ConfigError);
  const auto huge = dir.path / "huge.key";
  {
    std::ofstream out(huge);
    out << std::string(1 << 20, '#');
  }
  try {
    (void)qg::read_curve_cert(huge);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("larger than"), std::string::npos);
  }
}

TEST(CurveCert, MetadataACertificateCannotHoldIsRefusedAtCreation) {
  EXPECT_THROW(qg::new_curve_cert({{"org", "a\"b"}}), ConfigError);
  EXPECT_THROW(qg::new_curve_cert({{"bad name", "x"}}), ConfigError);
  EXPECT_THROW(qg::new_curve_cert({{"org", "a\nb"}}), ConfigError);
  EXPECT_THROW(qg::new_curve_cert({{"a", "x"}, {"a", "y"}}), ConfigError);
}

}  // namespace
