// libFuzzer target: envelope decoding and opening.
//
// Input byte 0 chooses the mode:
//   even: the rest is an envelope frame, parsed and opened as it is;
//   odd:  a valid envelope is sealed with fixed keys, then the rest of the
//         input is read as (u16 position, u8 xor mask) edits applied to it
//         before opening, so the fuzzer explores the deep paths behind a
//         valid signature without needing a corpus.
// Any Open that succeeds on an edited frame must return the original payload.
#include <cstdint>
#include <cstdlib>

#include "mlahub/core/utf8.h"
#include "mlahub/envelope/envelope.h"
#include "mlahub/envelope/receipt.h"

namespace {

using namespace mlahub;

constexpr UnixMillis kNow = 1795824000000;

struct Fixture {
  FakeClock clock{kNow};
  identity::NodeKeys sender;
  identity::NodeKeys recipient;
  Bytes payload;
  Bytes valid;

  static identity::NodeKeys Keys(const char* id, uint8_t seed_byte) {
    crypto::Secret<32> seed, enc, curve;
    for (size_t i = 0; i < 32; ++i) {
      seed.data()[i] = seed_byte;
      enc.data()[i] = static_cast<uint8_t>(seed_byte + 1);
      curve.data()[i] = static_cast<uint8_t>(seed_byte + 2);
    }
    return identity::NodeKeys{*NodeId::Parse(id), identity::Role::kAuthority, kNow,
                              crypto::SigningKey::FromSeed(seed),
                              crypto::X25519KeyPair::FromSecret(std::move(enc)),
                              crypto::X25519KeyPair::FromSecret(std::move(curve))};
  }

  Fixture() : sender(Keys("IT-MOJ", 1)), recipient(Keys("NG-AGF", 9)) {
    payload = *envelope::BuildPayloadFromJson(wire::MessageKind::Acknowledgement, "{}");
    envelope::SealParams p;
    p.kind = wire::MessageKind::Acknowledgement;
    p.case_ref = "FUZZ/1";
    valid = *envelope::Seal(p, sender, recipient.Public(), payload, clock);
  }
};

Fixture& F() {
  static Fixture* f = new Fixture();
  return *f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Fixture& f = F();
  envelope::OpenOptions opt;
  opt.clock = &f.clock;
  opt.max_size = 1 << 20;
  if ((data[0] & 1) == 0) {
    ByteView frame(data + 1, size - 1);
    auto parsed = envelope::Parse(frame, opt.max_size);
    if (parsed.ok()) {
      (void)envelope::VerifyOrigin(*parsed, f.sender.sign.public_key()).ok();
      // What Parse hands out is UTF-8 (PROTOCOL.md 7, step 2).
      if (!IsValidUtf8(parsed->message_id()) || !IsValidUtf8(parsed->sender()) ||
          !IsValidUtf8(parsed->recipient()))
        std::abort();
    }
    // The same bytes as a signed receipt (the broker and the agents decode
    // receipts from the network too).
    (void)envelope::ReceiptSignature(frame);
    auto receipt = envelope::DecodeReceipt(frame);
    if (receipt.ok() && (!IsValidUtf8(receipt->message_id) || !IsValidUtf8(receipt->sender) ||
                         !IsValidUtf8(receipt->recipient)))
      std::abort();
    (void)envelope::VerifyReceipt(frame, f.recipient.sign.public_key());
    auto r = envelope::Open(frame, f.recipient, f.sender.Public(), opt);
    if (r.ok()) (void)envelope::BodyToJson(r->payload());
    return 0;
  }
  Bytes frame = f.valid;
  bool changed = false;
  for (size_t i = 1; i + 3 <= size; i += 3) {
    size_t pos = (static_cast<size_t>(data[i]) | (static_cast<size_t>(data[i + 1]) << 8)) % frame.size();
    if (data[i + 2] != 0) {
      frame[pos] ^= data[i + 2];
      changed = true;
    }
  }
  auto r = envelope::Open(frame, f.recipient, f.sender.Public(), opt);
  if (r.ok() && changed && frame != f.valid) {
    // An altered frame must never open.
    std::abort();
  }
  return 0;
}
