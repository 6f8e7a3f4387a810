// libFuzzer target: the evidence decoders (evidence/): chunk frames from the
// broker, and manifest entries (EvidenceFile) read back from a sealed body.
//
// Input byte 0 chooses the decoder: odd: DecodeChunk (EvidenceChunk frame,
// "MLEC"); even: DecodeSpec (a root EvidenceFile). Whatever decodes must
// encode again and decode to the same value, and a decoded frame's hash
// chain link must be computable; the decoders never hand out a value the
// checks forbid.
#include <cstdint>
#include <cstdlib>

#include "mlahub/evidence/chunk.h"
#include "mlahub/evidence/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mlahub;
  using namespace mlahub::evidence;
  if (size == 0) return 0;
  ByteView in(data + 1, size - 1);
  if (data[0] & 1) {
    auto frame = DecodeChunk(in);
    if (!frame.ok()) return 0;
    if (!IsValidTransferId(frame->transfer_id) || frame->chunk_index >= frame->chunk_count ||
        frame->ciphertext.size() < kChunkOverhead ||
        HashCiphertext(frame->ciphertext) != frame->ciphertext_hash)
      std::abort();
    (void)ChainLink(frame->chunk_index, frame->ciphertext_hash, frame->next_link);
    auto round = DecodeChunk(EncodeChunk(*frame));
    if (!round.ok() || !(*round == *frame)) std::abort();
  } else {
    auto spec = DecodeSpec(in);
    if (!spec.ok()) return 0;
    if (!ValidateSpec(*spec).ok()) std::abort();
    auto round = DecodeSpec(EncodeSpec(*spec));
    if (!round.ok() || !round->SameAs(*spec)) std::abort();
  }
  return 0;
}
