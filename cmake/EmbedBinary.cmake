# cmake -DIN=file -DOUT=file.cc -P EmbedBinary.cmake
# Writes a C++ source defining mlahub::schemas::kBinarySchema{,Size}.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR size "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "((0x..,){32})" "\\1\n" body "${body}")
file(WRITE ${OUT} "// Generated from mlahub.bfbs by cmake/EmbedBinary.cmake. Do not edit.\n#include <cstddef>\n#include <cstdint>\nnamespace mlahub::schemas {\nalignas(16) extern const uint8_t kBinarySchema[] = {\n${body}\n};\nextern const size_t kBinarySchemaSize = ${size};\n}  // namespace mlahub::schemas\n")
