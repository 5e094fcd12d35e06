# Build helpers shared by every admit target.
#
#   admit_library(NAME name SRCS ... [DEPS ...] [PUBLIC_DEPS ...])
#     A static library `name` with the alias `admit::name`. Headers are included
#     from the repository root ("common/pg/pool.h").
#   admit_executable(NAME name SRCS ... [DEPS ...])
#     A binary (a service's thin main, a tool).
#   admit_test(NAME name SRCS ... [DEPS ...] [LABELS unit|integration ...]
#              [RUN_SERIAL] [TIMEOUT seconds])
#     A GoogleTest binary registered with CTest under its labels. `unit` tests
#     need no server; `integration` tests need the servers the test harness
#     starts (tests/run.sh) and read their addresses from ADMIT_TEST_*.
#
# admit's own code compiles with -Wall -Wextra -Werror; generated code does not.

set(ADMIT_WARNINGS -Wall -Wextra -Werror -Wno-missing-field-initializers)
# GCC 12 at -O2 reports false -Wrestrict overlaps inside libstdc++'s
# std::string (GCC bug 105651), e.g. from GoogleTest's protobuf printer; it
# cannot be fixed in our code, so it does not fail the build.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  list(APPEND ADMIT_WARNINGS -Wno-restrict)
endif()

function(_admit_common_target_setup target)
  target_compile_options(${target} PRIVATE ${ADMIT_WARNINGS})
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
endfunction()

function(admit_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS;PUBLIC_DEPS" ${ARGN})
  add_library(${ARG_NAME} STATIC ${ARG_SRCS})
  add_library(admit::${ARG_NAME} ALIAS ${ARG_NAME})
  _admit_common_target_setup(${ARG_NAME})
  target_link_libraries(${ARG_NAME} PUBLIC ${ARG_PUBLIC_DEPS} ${ARG_DEPS})
endfunction()

function(admit_executable)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  _admit_common_target_setup(${ARG_NAME})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS})
endfunction()

function(admit_test)
  cmake_parse_arguments(ARG "RUN_SERIAL" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  _admit_common_target_setup(${ARG_NAME})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock
                        GTest::gtest_main)
  add_test(NAME ${ARG_NAME} COMMAND ${ARG_NAME})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${ARG_NAME} PROPERTIES LABELS "${ARG_LABELS}"
                       TIMEOUT ${ARG_TIMEOUT})
  if(ARG_RUN_SERIAL)
    set_tests_properties(${ARG_NAME} PROPERTIES RUN_SERIAL TRUE)
  endif()
endfunction()
