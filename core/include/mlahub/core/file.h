// Small, durable file helpers.
//
// WriteFileAtomic writes to a temporary file in the same directory, fsyncs it,
// renames it over the target and fsyncs the directory: after it returns OK the
// new content survives a crash; before, the old content is intact.
#pragma once

#include <string>

#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"

namespace mlahub {

Status WriteFileAtomic(const std::string& path, ByteView data, unsigned mode);
// Fails with kOversize if the file is larger than max_bytes.
Result<Bytes> ReadFile(const std::string& path, size_t max_bytes = 64u << 20);
// Creates the directory (and parents) with the given mode if missing.
Status MakeDirs(const std::string& path, unsigned mode = 0700);
bool FileExists(const std::string& path);

}  // namespace mlahub
