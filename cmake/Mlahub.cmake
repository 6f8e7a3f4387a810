# Helpers shared by the module CMakeLists.

# mlahub_library(NAME <name> SOURCES ... DEPS ...)
# Creates mlahub_<name> with alias mlahub::<name>; public headers in include/.
function(mlahub_library)
  cmake_parse_arguments(A "" "NAME" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(mlahub_${A_NAME} STATIC ${A_SOURCES})
  add_library(mlahub::${A_NAME} ALIAS mlahub_${A_NAME})
  target_include_directories(mlahub_${A_NAME} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
                                              PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(mlahub_${A_NAME} PUBLIC ${A_DEPS} PRIVATE ${A_PRIVATE_DEPS})
endfunction()

# mlahub_test(NAME <name> SOURCES ... DEPS ...)
function(mlahub_test)
  if(NOT MLAHUB_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(A "" "NAME" "SOURCES;DEPS" ${ARGN})
  add_executable(${A_NAME} ${A_SOURCES})
  set_target_properties(${A_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  target_compile_definitions(${A_NAME} PRIVATE MLAHUB_BIN_DIR="${CMAKE_BINARY_DIR}/bin"
                                               MLAHUB_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  gtest_discover_tests(${A_NAME} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 300)
endfunction()

# mlahub_fuzzer(NAME <name> SOURCES ... DEPS ...)
function(mlahub_fuzzer)
  if(NOT MLAHUB_FUZZ)
    return()
  endif()
  cmake_parse_arguments(A "" "NAME" "SOURCES;DEPS" ${ARGN})
  add_executable(${A_NAME} ${A_SOURCES})
  set_target_properties(${A_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
  target_link_options(${A_NAME} PRIVATE -fsanitize=fuzzer)
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS})
  # `cmake --build --preset fuzz --target fuzzers` builds only these (CI).
  if(NOT TARGET fuzzers)
    add_custom_target(fuzzers)
  endif()
  add_dependencies(fuzzers ${A_NAME})
endfunction()
