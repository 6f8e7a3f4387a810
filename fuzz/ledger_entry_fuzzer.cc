// libFuzzer target: arbitrary bytes as a ledger entry (what `mlahub ledger
// show` and auditors decode). The verifier runs first; nothing may crash,
// leak or read out of bounds, and whatever decodes must print as JSON.
#include <cstddef>
#include <cstdint>

#include "mlahub/storage/ledger_entry.h"
#include "mlahub/storage/merkle.h"
#include "mlahub/storage/note.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mlahub::ByteView bytes(data, size);
  auto entry = mlahub::storage::DecodeLedgerEntry(bytes);
  if (entry.ok()) {
    const auto* e = *entry;
    // Touch every field the decoder vouched for.
    size_t n = 0;
    if (e->message_id() != nullptr) n += e->message_id()->size();
    if (e->sender() != nullptr) n += e->sender()->size();
    if (e->recipient() != nullptr) n += e->recipient()->size();
    if (e->envelope_hash() != nullptr) n += e->envelope_hash()->size();
    if (e->origin_signature() != nullptr) n += e->origin_signature()->size();
    if (e->receipt_signature() != nullptr) n += e->receipt_signature()->size();
    auto json = mlahub::storage::LedgerEntryToJson(bytes);
    if (!json.ok()) __builtin_trap();  // decodable entries must print
    (void)n;
  }
  // The same bytes as checkpoint text and as a signed note must never crash.
  std::string_view text(reinterpret_cast<const char*>(data), size);
  mlahub::storage::ParseCheckpointText(text).status().IgnoreError();
  mlahub::crypto::SignPublicKey pk{};
  mlahub::storage::OpenNote(text, "fuzz.example/log", pk).status().IgnoreError();
  mlahub::storage::ParseVerifierKey(text).status().IgnoreError();
  (void)mlahub::storage::HashLeaf(bytes);
  return 0;
}
