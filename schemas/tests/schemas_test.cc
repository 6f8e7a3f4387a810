#include <gtest/gtest.h>

#include "mlahub/core/status.h"
#include "mlahub/schemas/common_generated.h"
#include "mlahub/schemas/envelope_generated.h"
#include "mlahub/schemas/json_codec.h"

namespace mlahub::schemas {
namespace {

using wire::MessageKind;

TEST(SchemasTest, KindValuesEqualBodyUnionValues) {
  // Every MessageKind except Unspecified has a Body member with the same name
  // and value, and the other way round.
  int matched = 0;
  for (MessageKind k : wire::EnumValuesMessageKind()) {
    if (k == MessageKind::Unspecified) continue;
    auto body = static_cast<wire::Body>(static_cast<uint8_t>(k));
    EXPECT_STREQ(wire::EnumNameMessageKind(k), wire::EnumNameBody(body));
    ++matched;
  }
  int bodies = 0;
  for (wire::Body b : wire::EnumValuesBody())
    if (b != wire::Body::NONE) ++bodies;
  EXPECT_EQ(matched, bodies);
}

TEST(SchemasTest, ErrorCodesMatchCoreCodes) {
  for (wire::ErrorCode e : wire::EnumValuesErrorCode()) {
    auto code = static_cast<Code>(static_cast<uint16_t>(e));
    std::string core_name(CodeName(code));
    std::string wire_name = wire::EnumNameErrorCode(e);
    // core uses snake_case of the same name
    std::string snake;
    for (char c : wire_name) {
      if (std::isupper(static_cast<unsigned char>(c)) && !snake.empty()) snake += '_';
      snake += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    EXPECT_EQ(core_name, snake) << wire_name;
  }
}

TEST(SchemasTest, EveryBodyTemplateParsesBack) {
  auto& codec = JsonCodec::Instance();
  for (wire::Body b : wire::EnumValuesBody()) {
    if (b == wire::Body::NONE) continue;
    std::string name = wire::EnumNameBody(b);
    auto tmpl = JsonTemplate(name);
    ASSERT_TRUE(tmpl.ok()) << tmpl.status().ToString();
    auto bin = codec.ToBinary(name, *tmpl);
    ASSERT_TRUE(bin.ok()) << name << ": " << bin.status().ToString() << "\n" << *tmpl;
    auto json = codec.ToJson(name, *bin);
    ASSERT_TRUE(json.ok()) << json.status().ToString();
  }
}

TEST(SchemasTest, MalformedJsonIsNamed) {
  auto r = JsonCodec::Instance().ToBinary("MlaRequest", "{\"no_such_field\": 1}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kMalformed);
  auto r2 = JsonCodec::Instance().ToBinary("NoSuchTable", "{}");
  EXPECT_EQ(r2.status().code(), Code::kInvalidArgument);
}

TEST(SchemasTest, ToJsonRejectsGarbage) {
  Bytes junk(64, 0xff);
  auto r = JsonCodec::Instance().ToJson("Payload", junk);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kMalformed);
}

}  // namespace
}  // namespace mlahub::schemas
