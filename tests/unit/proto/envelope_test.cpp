// parse_envelope(), peek_rid() and the hex helpers.

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "proto_test_util.hpp"

namespace qg::proto {
namespace {

using test::sample;

Error envelope_error(const std::vector<std::string>& frames, std::string_view protocol = kClientProtocol,
                     const Limits& limits = {}) {
  const Expected<Envelope> out = parse_envelope(frames, protocol, limits);
  if (out.ok()) {
    ADD_FAILURE() << "accepted " << frames.size() << " frames";
    return {};
  }
  return out.error();
}

TEST(ProtoEnvelope, ParseEnvelopeReturnsTheThreeParts) {
  const auto frames = frames_of(kClientProtocol, sample<SubmitRequest>());
  const Expected<Envelope> out = parse_envelope(frames, kClientProtocol);
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(out->protocol, "QGC1");
  EXPECT_EQ(out->command, "SUBMIT");
  EXPECT_EQ(out->body, encode(sample<SubmitRequest>()));
}

TEST(ProtoEnvelope, TakeEnvelopeReturnsTheSamePartsAsParseEnvelope) {
  std::vector<std::string> frames = frames_of(kWorkerProtocol, sample<Pull>());
  frames.insert(frames.begin(), "");
  const Expected<Envelope> parsed = parse_envelope(frames, kWorkerProtocol);
  const Expected<Envelope> taken = take_envelope(frames, kWorkerProtocol);
  ASSERT_TRUE(parsed.ok() && taken.ok());
  EXPECT_EQ(taken->protocol, parsed->protocol);
  EXPECT_EQ(taken->command, parsed->command);
  EXPECT_EQ(taken->body, parsed->body);
}

TEST(ProtoEnvelope, TakeEnvelopeRejectsAsParseEnvelopeDoesAndLeavesTheFrames) {
  std::vector<std::string> frames = {"QGC2", "HEALTH", "\x80"};
  const Expected<Envelope> taken = take_envelope(frames, kClientProtocol);
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.error(), envelope_error(frames));
  EXPECT_EQ(frames, (std::vector<std::string>{"QGC2", "HEALTH", "\x80"}));
}

TEST(ProtoEnvelope, ParseEnvelopeSkipsOneLeadingEmptyDelimiter) {
  std::vector<std::string> frames = frames_of(kWorkerProtocol, sample<Pull>());
  frames.insert(frames.begin(), "");
  const Expected<Envelope> out = parse_envelope(frames, kWorkerProtocol);
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(out->command, "PULL");
}

TEST(ProtoEnvelope, ParseEnvelopeDoesNotSkipTwoEmptyFrames) {
  std::vector<std::string> frames = frames_of(kWorkerProtocol, sample<Pull>());
  frames.insert(frames.begin(), 2, "");
  EXPECT_EQ(envelope_error(frames, kWorkerProtocol).code, errc::bad_protocol);
}

TEST(ProtoEnvelope, ParseEnvelopeRejectsWrongFrameCounts) {
  EXPECT_EQ(envelope_error({}).code, errc::bad_frames);
  EXPECT_EQ(envelope_error({""}).code, errc::bad_frames);
  EXPECT_EQ(envelope_error({"QGC1"}).code, errc::bad_frames);
  EXPECT_EQ(envelope_error({"QGC1", "HEALTH"}).code, errc::bad_frames);
  EXPECT_EQ(envelope_error({"QGC1", "HEALTH", "\x80", "extra"}).code, errc::bad_frames);
}

TEST(ProtoEnvelope, ParseEnvelopeRejectsMoreThanMaxFrames) {
  std::vector<std::string> frames(8, "x");
  frames[0] = "QGC1";
  EXPECT_EQ(envelope_error(frames).code, errc::bad_frames);  // at the limit: only the count is wrong
  frames.emplace_back("x");
  EXPECT_EQ(envelope_error(frames).code, errc::too_large);
}

TEST(ProtoEnvelope, ParseEnvelopeRejectsAnEmptyCommand) {
  const Error e = envelope_error({"QGC1", "", "\x80"});
  EXPECT_EQ(e.code, errc::bad_frames);
  EXPECT_EQ(e.field, "command");
}

TEST(ProtoEnvelope, ParseEnvelopeLeavesCommandValidityToTheCaller) {
  const Expected<Envelope> out = parse_envelope(std::vector<std::string>{"QGC1", "NOPE", "\x80"}, kClientProtocol);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->command, "NOPE");
}

TEST(ProtoEnvelope, ParseEnvelopeRejectsAWrongProtocolHeader) {
  EXPECT_EQ(envelope_error({"QGC2", "HEALTH", "\x80"}).code, errc::bad_protocol);
  EXPECT_EQ(envelope_error({"QGW1", "HEALTH", "\x80"}).code, errc::bad_protocol);
  EXPECT_EQ(envelope_error({"qgc1", "HEALTH", "\x80"}).code, errc::bad_protocol);
  EXPECT_EQ(envelope_error({"MDPC01", "HEALTH", "\x80"}).code, errc::bad_protocol);
  EXPECT_EQ(envelope_error({"HEALTH", "\x80"}).code, errc::bad_protocol);  // header forgotten
  EXPECT_EQ(envelope_error({"QGC1", "PULL", "\x80"}, kWorkerProtocol).field, "protocol");
}

TEST(ProtoEnvelope, ParseEnvelopeAcceptsAFrameAtMaxFrameBytesAndRejectsOnePast) {
  Limits small;
  small.max_frame_bytes = 32;
  EXPECT_TRUE(
      parse_envelope(std::vector<std::string>{"QGC1", "HEALTH", std::string(32, 'b')}, kClientProtocol, small).ok());
  const Error e = envelope_error({"QGC1", "HEALTH", std::string(33, 'b')}, kClientProtocol, small);
  EXPECT_EQ(e.code, errc::too_large);
  EXPECT_EQ(e.field, "body");
  EXPECT_EQ(envelope_error({"QGC1", std::string(33, 'C'), "b"}, kClientProtocol, small).field, "command");
}

TEST(ProtoEnvelope, ParseEnvelopeRejectsATotalOverMaxMessageBytes) {
  Limits small;
  small.max_frame_bytes = 100;
  small.max_message_bytes = 64;
  // 4 + 6 + 54 = 64: at the limit.
  EXPECT_TRUE(
      parse_envelope(std::vector<std::string>{"QGC1", "HEALTH", std::string(54, 'b')}, kClientProtocol, small).ok());
  EXPECT_EQ(envelope_error({"QGC1", "HEALTH", std::string(55, 'b')}, kClientProtocol, small).code, errc::too_large);
}

TEST(ProtoEnvelope, ParseEnvelopeChecksSizesWithTheDefaultLimits) {
  const std::string big((4u << 20) + 1, 'b');
  EXPECT_EQ(envelope_error({"QGC1", "SUBMIT", big}).code, errc::too_large);
  const std::string three_mib(3u << 20, 'b');
  EXPECT_TRUE(parse_envelope(std::vector<std::string>{"QGC1", "SUBMIT", three_mib}, kClientProtocol).ok());
  EXPECT_EQ(envelope_error({"QGC1", three_mib, three_mib, three_mib}).code, errc::too_large);  // 9 MiB in all
}

TEST(ProtoEnvelope, ParseEnvelopeQuotesABinaryProtocolHeaderSafely) {
  const Error e = envelope_error({std::string("\x00\x01\xffQ", 4), "X", "\x80"});
  EXPECT_EQ(e.code, errc::bad_protocol);
  for (const char c : e.message) EXPECT_TRUE(c >= 0x20 && c < 0x7f);
}

// ---- peek_rid ---------------------------------------------------------------------------

TEST(ProtoPeekRid, PeekRidReadsTheRidOfAValidBody) {
  EXPECT_EQ(peek_rid(encode(sample<SubmitRequest>())), "r-submit-1");
}

TEST(ProtoPeekRid, PeekRidReadsTheRidOfAnOtherwiseInvalidBody) {
  const std::string body = test::without_key(encode(sample<SubmitRequest>()), "org_id");
  ASSERT_FALSE(decode<SubmitRequest>(body).ok());
  EXPECT_EQ(peek_rid(body), "r-submit-1");
  EXPECT_EQ(peek_rid(from_hex("82 a3 72 69 64 a2 72 31 a4 74 65 73 74 07")), "r1");
}

TEST(ProtoPeekRid, PeekRidIsEmptyWhenThereIsNone) {
  EXPECT_EQ(peek_rid(""), "");
  EXPECT_EQ(peek_rid(from_hex("80")), "");
  EXPECT_EQ(peek_rid(from_hex("c1")), "");
  EXPECT_EQ(peek_rid(from_hex("dd ff ff ff ff")), "");
  EXPECT_EQ(peek_rid(from_hex("81 a3 72 69 64 07")), "");                 // not a string
  EXPECT_EQ(peek_rid(from_hex("81 a3 72 69 64 a2 72")), "");              // truncated
  EXPECT_EQ(peek_rid(from_hex("81 a3 72 69 64 a2 72 31 c0")), "");        // trailing byte
  EXPECT_EQ(peek_rid(test::packed_str("rid")), "");                       // not a map
  EXPECT_EQ(peek_rid(encode(HealthRequest{std::string(129, 'r')})), "");  // over 128 bytes
  EXPECT_EQ(peek_rid(encode(HealthRequest{std::string(128, 'r')})), std::string(128, 'r'));
}

// ---- hex --------------------------------------------------------------------------------

TEST(ProtoHex, ToHexWritesLowerCaseBytesSeparatedBySpaces) {
  EXPECT_EQ(to_hex(""), "");
  EXPECT_EQ(to_hex("\x8a"), "8a");
  EXPECT_EQ(to_hex(std::string("\x8a\xa3rid\x00\xff", 7)), "8a a3 72 69 64 00 ff");
}

TEST(ProtoHex, FromHexIgnoresWhitespaceAndCase) {
  EXPECT_EQ(from_hex("8a A3 72"), "\x8a\xa3r");
  EXPECT_EQ(from_hex("8aa372"), "\x8a\xa3r");
  EXPECT_EQ(from_hex(" 8a\n\ta3\r\n 7 2 "), "\x8a\xa3r");
}

TEST(ProtoHex, FromHexReturnsEmptyOnInvalidInput) {
  EXPECT_EQ(from_hex("8g"), "");
  EXPECT_EQ(from_hex("8a a"), "");
  EXPECT_EQ(from_hex("0x8a"), "");
  EXPECT_EQ(from_hex("8a,a3"), "");
}

TEST(ProtoHex, HexRoundTripsEveryByte) {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  EXPECT_EQ(from_hex(to_hex(all)), all);
}

}  // namespace
}  // namespace qg::proto
