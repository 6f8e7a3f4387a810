// libFuzzer target: the broker <-> agent command decoder (transport/).
//
// Input byte 0 chooses the framing of the rest:
//   odd:  the rest is one frame (a command without attachment);
//   even: bytes 1-2 (u16 LE) give the length of frame 0, the remainder is
//         frame 1 (the attachment), so frame counts and attachments are
//         explored too.
// Whatever decodes must encode again and decode to the same value: the
// decoder never hands out a value that the schema forbids.
#include <cstdint>
#include <cstdlib>

#include "mlahub/transport/command.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mlahub;
  using namespace mlahub::transport;
  if (size == 0) return 0;
  Frames frames;
  if (data[0] & 1) {
    frames.emplace_back(data + 1, data + size);
  } else {
    if (size < 3) return 0;
    size_t n = static_cast<size_t>(data[1]) | (static_cast<size_t>(data[2]) << 8);
    size_t rest = size - 3;
    if (n > rest) n = rest;
    frames.emplace_back(data + 3, data + 3 + n);
    frames.emplace_back(data + 3 + n, data + size);
  }
  DecodeLimits limits;
  limits.max_attachment_size = 1 << 16;
  (void)RequestCorrelation(frames, limits);  // for the Error of a refused message
  auto decoded = DecodeCommand(frames, limits);
  if (!decoded.ok()) return 0;
  auto again = EncodeCommand(*decoded);
  if (!again.ok()) std::abort();
  auto round = DecodeCommand(*again, limits);
  if (!round.ok() || !(*round == *decoded)) std::abort();
  return 0;
}
