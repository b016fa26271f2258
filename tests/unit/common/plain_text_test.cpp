// is_plain_text() and decode_utf8_at(): valid UTF-8 with no terminal control, at the edges of
// each range.
#include "qg/common/plain_text.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

namespace {

TEST(PlainText, PrintableAsciiAndValidUtf8ArePlain) {
  EXPECT_TRUE(qg::is_plain_text(""));
  EXPECT_TRUE(qg::is_plain_text("exit code 1: login.spec.ts ~ {}[]"));
  EXPECT_TRUE(qg::is_plain_text("caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x93\xb1 \xc2\xa0"));  // U+00A0 follows the C1 range
}

TEST(PlainText, ControlsDirectionMarksAndInvalidUtf8AreNot) {
  for (const std::string& bad : std::initializer_list<std::string>{std::string("\x00", 1),
                                                                   "\x1b[2J",
                                                                   "\x07",
                                                                   "\n",
                                                                   "\t",
                                                                   "\r",
                                                                   "\x1f",
                                                                   "\x7f",
                                                                   "\xc2\x80",
                                                                   "\xc2\x9b",
                                                                   "\xc2\x9f",
                                                                   "\xe2\x80\x8e",
                                                                   "\xe2\x80\x8f",
                                                                   "\xe2\x80\xaa",
                                                                   "\xe2\x80\xae",
                                                                   "\xe2\x81\xa6",
                                                                   "\xe2\x81\xa9",
                                                                   "\x9b",
                                                                   "\xff",
                                                                   "\xc3",
                                                                   "\xc0\xaf",
                                                                   "\xed\xa0\x80",
                                                                   "\xf4\x90\x80\x80",
                                                                   "\xe2\x80"}) {
    EXPECT_FALSE(qg::is_plain_text("ok" + bad + "ok")) << static_cast<int>(static_cast<unsigned char>(bad[0]));
  }
}

TEST(PlainText, DecodeGivesTheCodePointAndLengthOrNothing) {
  const std::string text = "a\xc3\xa9\xe2\x80\xae\xf0\x9f\x93\xb1\xff";
  EXPECT_EQ(qg::decode_utf8_at(text, 0).code_point, 0x61u);
  EXPECT_EQ(qg::decode_utf8_at(text, 1).code_point, 0xE9u);
  EXPECT_EQ(qg::decode_utf8_at(text, 1).length, 2u);
  EXPECT_EQ(qg::decode_utf8_at(text, 3).code_point, 0x202Eu);
  EXPECT_EQ(qg::decode_utf8_at(text, 6).code_point, 0x1F4F1u);
  EXPECT_EQ(qg::decode_utf8_at(text, 6).length, 4u);
  EXPECT_EQ(qg::decode_utf8_at(text, 10).length, 0u);  // 0xff
  EXPECT_EQ(qg::decode_utf8_at(text, 2).length, 0u);   // a continuation byte
  EXPECT_EQ(qg::decode_utf8_at(text, 11).length, 0u);  // past the end
}

}  // namespace
